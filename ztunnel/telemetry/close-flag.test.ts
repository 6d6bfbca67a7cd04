import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeFlag, sideOf, type BrokenSide, type CloseFlag } from '#ztunnel/telemetry/close-flag.ts';

test('close flags: clean, downstream gone, upstream reset', () => {
  const rows: [BrokenSide, CloseFlag][] = [[undefined, '-'], ['downstream', 'DC'], ['upstream', 'UR']];
  for (const [broken, want] of rows) assert.equal(closeFlag(broken), want, String(broken));
});

test('splice sides: a is the downstream, b the upstream', () => {
  assert.equal(sideOf(undefined), undefined);
  assert.equal(sideOf('a'), 'downstream');
  assert.equal(sideOf('b'), 'upstream');
});
