// The CA root in a Secret of the in-repo API server: replicas opening at once end up with one
// root, a restart finds it again, and a damaged Secret stops the start with a hint.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { CA_SECRET_NAME, SecretCaStore } from '#controller/ca/secret-store.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';

let h: ApiServerHarness | undefined;
after(async () => {
  await h?.close();
});

test('replicas opening the CA together share one root, and a restart loads it', async () => {
  h = await startApiServerHarness();
  const store = (): SecretCaStore => new SecretCaStore({ kubeConfig: h!.kubeConfig, namespace: 'istio-system' });
  const [a, b, c] = await Promise.all([store(), store(), store()].map((s) => CertificateAuthority.open({ store: s })));
  assert.ok(a !== undefined && b !== undefined && c !== undefined);
  assert.equal(a.rootsPem[0], b.rootsPem[0]);
  assert.equal(a.rootsPem[0], c.rootsPem[0]);
  const secret = h.server.get('Secret', 'istio-system', CA_SECRET_NAME);
  assert.equal(secret?.['type'], 'weft.io/ca-root');
  const restarted = await CertificateAuthority.open({ store: store() });
  assert.equal(restarted.rootsPem[0], a.rootsPem[0]);

  h.server.update({ ...secret, data: { 'ca-cert.pem': (secret?.['data'] as Record<string, string>)['ca-cert.pem'] } });
  await assert.rejects(store().load(), /lacks ca-key\.pem.*hint: restore it/);
});
