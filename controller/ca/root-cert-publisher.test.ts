// The root certificate's ConfigMaps: which namespaces get one (a table), then the publisher on
// the in-repo API server — applied once per namespace under the controller's field manager,
// retried after a refusal, and written only while this replica leads.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '#core/log.ts';
import type { ClusterObjects, Namespace } from '#controller/source/types.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, RootCertPublisher, rootCertNamespaces } from './root-cert-publisher.ts';

const ROOT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function namespaces(entries: Record<string, Record<string, string>>): ClusterObjects['namespaces'] {
  return new Map(Object.entries(entries).map(([name, labels]): [string, Namespace] => [name, {
    apiVersion: 'v1', kind: 'Namespace', metadata: { name, namespace: '', labels, annotations: {} },
  }]));
}

test('the root goes to the controller\'s namespace and every ambient namespace', () => {
  const cases: [string, Record<string, Record<string, string>>, string[]][] = [
    ['nothing enrolled', { default: {} }, ['istio-system']],
    ['ambient namespaces', { shop: { 'istio.io/dataplane-mode': 'ambient' }, db: { 'istio.io/dataplane-mode': 'ambient' } }, ['db', 'istio-system', 'shop']],
    ['opted out or unknown values', { a: { 'istio.io/dataplane-mode': 'none' }, b: { 'istio.io/dataplane-mode': 'Ambient' } }, ['istio-system']],
    ['the root namespace enrolled too', { 'istio-system': { 'istio.io/dataplane-mode': 'ambient' } }, ['istio-system']],
  ];
  for (const [name, given, want] of cases) assert.deepEqual(rootCertNamespaces(namespaces(given), 'istio-system'), want, name);
});

let h: ApiServerHarness;
before(async () => {
  h = await startApiServerHarness();
});
after(async () => {
  await h.close();
});

const applies = (): number => h.server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/configmaps/${ROOT_CERT_CONFIGMAP}`)).length;

test('each namespace gets the ConfigMap once, by server-side apply; a refused one is retried', async () => {
  const publisher = new RootCertPublisher({
    kubeConfig: h.kubeConfig, logger: silentLogger, rootNamespace: 'istio-system', rootsPem: [ROOT], retry: { initialMs: 20, maxMs: 50 },
  });
  const start = applies();
  let refuse = true;
  h.server.failRequests((r) => (refuse && r.path.includes('/namespaces/shop/configmaps') ? 500 : undefined));
  await publisher.sync(namespaces({ shop: { 'istio.io/dataplane-mode': 'ambient' } }));
  assert.deepEqual(publisher.published(), ['istio-system']);
  refuse = false;
  const deadline = Date.now() + 5000;
  while (!publisher.published().includes('shop')) {
    if (Date.now() > deadline) throw new Error('the refused namespace was not retried');
    await new Promise((r) => setTimeout(r, 10));
  }
  h.server.failRequests(undefined);
  for (const ns of ['istio-system', 'shop']) {
    const cm = h.server.get('ConfigMap', ns, ROOT_CERT_CONFIGMAP);
    assert.equal((cm?.['data'] as Record<string, string> | undefined)?.[ROOT_CERT_KEY], ROOT, ns);
    const managers = ((cm?.['metadata'] as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? []);
    assert.deepEqual(managers.map((m) => `${m.manager}/${m.operation}`), ['weft-controller/Apply'], ns);
  }
  const after = applies();
  // Nothing new: nothing applied again.
  await publisher.sync(namespaces({ shop: { 'istio.io/dataplane-mode': 'ambient' } }));
  assert.equal(applies(), after);
  assert.ok(after - start >= 3, 'istio-system, the refused shop, shop again');
  await publisher.stop();
});
