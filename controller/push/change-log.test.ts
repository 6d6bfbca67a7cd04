import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeLog } from './change-log.ts';

test('since: the union of keys changed after a generation', () => {
  const log = new ChangeLog(3);
  assert.equal(log.since(0), undefined, 'nothing recorded yet');
  log.record(1, { changed: ['a', 'b'], removed: [] });
  log.record(2, { changed: ['b'], removed: ['c'] });
  log.record(3, { changed: [], removed: [] });
  assert.deepEqual([...(log.since(3) ?? ['?'])], []);
  assert.deepEqual([...(log.since(2) ?? ['?'])], []);
  assert.deepEqual([...(log.since(1) ?? ['?'])].sort(), ['b', 'c']);
  assert.deepEqual([...(log.since(0) ?? ['?'])].sort(), ['a', 'b', 'c']);
  assert.equal(log.latest(), 3);
  assert.equal(log.since(4), undefined, 'a generation not reached yet');
});

test('since: undefined once the log no longer reaches back that far', () => {
  const log = new ChangeLog(2);
  for (let g = 1; g <= 5; g++) log.record(g, { changed: [`k${g}`], removed: [] });
  assert.deepEqual([...(log.since(3) ?? ['?'])].sort(), ['k4', 'k5']);
  assert.equal(log.since(2), undefined);
  assert.equal(log.since(0), undefined);
});

test('since: one set per generation, shared by every caller until the next record', () => {
  const log = new ChangeLog();
  log.record(1, { changed: ['a'], removed: [] });
  log.record(2, { changed: ['b'], removed: [] });
  const first = log.since(1);
  assert.equal(log.since(1), first);
  log.record(3, { changed: ['c'], removed: [] });
  assert.notEqual(log.since(1), first);
  assert.deepEqual([...(log.since(1) ?? [])].sort(), ['b', 'c']);
});
