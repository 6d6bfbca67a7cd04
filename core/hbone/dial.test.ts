import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkServerSpiffeId } from '#core/hbone/dial.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { isWeftError } from '#core/errors.ts';

test('checkServerSpiffeId accepts exactly the expected single URI SAN', () => {
  const want = 'spiffe://cluster.local/ns/a/sa/b';
  const cases: [string | undefined, boolean][] = [
    [`URI:${want}`, true],
    [`DNS:a.example, URI:${want}`, true],
    ['URI:spiffe://cluster.local/ns/a/sa/c', false],
    [`URI:${want}, URI:spiffe://cluster.local/ns/a/sa/c`, false],
    ['DNS:a.example', false],
    [undefined, false],
  ];
  for (const [san, ok] of cases) {
    const err = checkServerSpiffeId(san, want);
    assert.equal(err === undefined, ok, String(san));
    if (err !== undefined) assert.ok(isWeftError(err, HboneErrorCode.peerIdentity));
  }
});
