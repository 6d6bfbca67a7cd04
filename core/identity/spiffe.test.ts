import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { formatSpiffeId, isSpiffeId, parseSpiffeId, spiffeIdFor } from '#core/identity/spiffe.ts';

const good: Array<[string, string, string, string]> = [
  ['spiffe://cluster.local/ns/default/sa/default', 'cluster.local', 'default', 'default'],
  ['spiffe://example.org/ns/a/sa/b', 'example.org', 'a', 'b'],
  ['spiffe://td_1-x.y/ns/kube-system/sa/coredns', 'td_1-x.y', 'kube-system', 'coredns'],
  ['spiffe://cluster.local/ns/n0/sa/sa.with.dots', 'cluster.local', 'n0', 'sa.with.dots'],
  [`spiffe://cluster.local/ns/${'a'.repeat(63)}/sa/x`, 'cluster.local', 'a'.repeat(63), 'x'],
];

test('valid ids parse and format back unchanged', () => {
  for (const [uri, trustDomain, namespace, serviceAccount] of good) {
    const id = parseSpiffeId(uri);
    assert.deepEqual(id, { trustDomain, namespace, serviceAccount }, uri);
    assert.equal(formatSpiffeId(id), uri);
    assert.equal(isSpiffeId(uri), true);
  }
});

const bad: Array<[string, RegExp]> = [
  ['', /scheme/],
  ['http://cluster.local/ns/a/sa/b', /scheme/],
  ['SPIFFE://cluster.local/ns/a/sa/b', /scheme/],
  ['spiffe:///ns/a/sa/b', /trust domain is empty/],
  ['spiffe://Cluster.local/ns/a/sa/b', /trust domain may hold/],
  ['spiffe://clu ster/ns/a/sa/b', /trust domain may hold/],
  ['spiffe://user@cluster.local/ns/a/sa/b', /userinfo/],
  ['spiffe://cluster.local:443/ns/a/sa/b', /port/],
  ['spiffe://cluster.local/ns/a/sa/b?x=1', /query/],
  ['spiffe://cluster.local/ns/a/sa/b#frag', /fragment/],
  ['spiffe://cluster.local', /path .* missing/],
  ['spiffe://cluster.local/', /path must be exactly/],
  ['spiffe://cluster.local/ns/a', /path must be exactly/],
  ['spiffe://cluster.local/ns/a/sa/b/extra', /path must be exactly/],
  ['spiffe://cluster.local/ns/a/sa/b/', /path must be exactly/],
  ['spiffe://cluster.local/sa/b/ns/a', /path must be exactly/],
  ['spiffe://cluster.local/ns//sa/b', /namespace must be/],
  ['spiffe://cluster.local/ns/A/sa/b', /namespace must be/],
  ['spiffe://cluster.local/ns/-a/sa/b', /namespace must be/],
  ['spiffe://cluster.local/ns/a.b/sa/c', /namespace must be/],
  [`spiffe://cluster.local/ns/${'a'.repeat(64)}/sa/b`, /namespace must be/],
  ['spiffe://cluster.local/ns/a/sa/', /service account must be/],
  ['spiffe://cluster.local/ns/a/sa/B', /service account must be/],
  ['spiffe://cluster.local/ns/a/sa/b%20c', /service account must be/],
  ['spiffe://cluster.local/ns/a/sa/b..c', /service account must be/],
  [`spiffe://${'a'.repeat(256)}/ns/a/sa/b`, /trust domain longer/],
  [`spiffe://cluster.local/ns/a/sa/${'b'.repeat(2100)}`, /longer than 2048/],
];

test('invalid ids are refused with WEFT_ERR_BAD_IDENTITY and a reason', () => {
  for (const [uri, reason] of bad) {
    assert.throws(() => parseSpiffeId(uri), (err: unknown) => {
      assert.ok(isWeftError(err, 'WEFT_ERR_BAD_IDENTITY'), uri);
      assert.match(err.message, reason, uri);
      return true;
    });
    assert.equal(isSpiffeId(uri), false, uri);
  }
});

test('isSpiffeId rejects non-strings and spiffeIdFor validates', () => {
  assert.equal(isSpiffeId(42), false);
  assert.equal(isSpiffeId(undefined), false);
  assert.equal(spiffeIdFor('default', 'bookinfo-productpage'), 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
  assert.equal(spiffeIdFor('a', 'b', 'example.org'), 'spiffe://example.org/ns/a/sa/b');
  assert.throws(() => spiffeIdFor('Bad', 'b'), /namespace/);
});
