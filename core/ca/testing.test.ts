import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { testPki } from '#core/ca/testing.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/web';

test('testPki issues valid, expired, not-yet-valid and foreign certificates', async () => {
  const pki = await testPki();
  const root = new X509Certificate(pki.rootsPem[0] ?? '');

  const ok = await pki.issue(ID, { ttlSeconds: 60 });
  const leaf = new X509Certificate(ok.certPem);
  assert.ok(leaf.verify(root.publicKey));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(ok.keyPem)));
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(ok.notAfter.getTime(), leaf.validToDate.getTime());
  assert.equal(ok.identity, ID);

  const expired = await pki.issue(ID, { notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) });
  assert.ok(new X509Certificate(expired.certPem).validToDate.getTime() < Date.now());
  const early = await pki.issue(ID, { notBefore: new Date(Date.now() + 3600_000) });
  assert.ok(new X509Certificate(early.certPem).validFromDate.getTime() > Date.now());

  const foreign = await pki.issueForeign(ID);
  assert.equal(new X509Certificate(foreign.certPem).verify(root.publicKey), false);
  assert.notDeepEqual(foreign.rootsPem, pki.rootsPem);
  assert.equal(pki.ca.trustDomain, 'cluster.local');
});

test('testPki honours the trust domain', async () => {
  const pki = await testPki({ trustDomain: 'example.org' });
  const cert = await pki.issue('spiffe://example.org/ns/a/sa/b');
  assert.equal(new X509Certificate(cert.certPem).subjectAltName, 'URI:spiffe://example.org/ns/a/sa/b');
  await assert.rejects(pki.issue('not-an-id'), /bad SPIFFE id/);
});
