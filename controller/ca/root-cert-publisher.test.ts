// The root certificate's ConfigMaps: which namespaces get one (a table), then the publisher on
// the in-repo API server (no Kubernetes API server can be installed here; the double speaks the
// real list/watch protocol) — applied once per namespace under the controller's field manager,
// retried after a refusal, put back when deleted or edited, and applied again when the bundle
// changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '#core/log.ts';
import type { ClusterObjects, Namespace } from '#controller/source/types.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, RootCertPublisher, rootBundle, rootCertNamespaces } from './root-cert-publisher.ts';

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

const dataIn = (ns: string): string | undefined => (h.server.get('ConfigMap', ns, ROOT_CERT_CONFIGMAP)?.['data'] as Record<string, string> | undefined)?.[ROOT_CERT_KEY];

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const applies = (): number => h.server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/configmaps/${ROOT_CERT_CONFIGMAP}`)).length;

test('each namespace gets the ConfigMap once, by server-side apply; a refused one is retried', async () => {
  const publisher = new RootCertPublisher({
    kubeConfig: h.kubeConfig, logger: silentLogger, rootNamespace: 'istio-system', rootsPem: () => [ROOT], retry: { initialMs: 20, maxMs: 50 },
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

test('a ConfigMap deleted or edited by someone is put back in enrolled namespaces; a namespace out of the mesh keeps its copy unrepaired', async () => {
  const ROOT2 = '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n';
  let roots = [ROOT];
  const publisher = new RootCertPublisher({
    kubeConfig: h.kubeConfig, logger: silentLogger, rootNamespace: 'repair-system', rootsPem: () => roots, retry: { initialMs: 20, maxMs: 200 },
  });
  try {
    await publisher.sync(namespaces({ 'repair-a': { 'istio.io/dataplane-mode': 'ambient' }, 'repair-b': { 'istio.io/dataplane-mode': 'ambient' }, 'repair-c': {} }));
    assert.deepEqual(publisher.published(), ['repair-a', 'repair-b', 'repair-system']);
    assert.equal(dataIn('repair-c'), undefined, 'not enrolled: not written');

    h.server.delete('ConfigMap', 'repair-a', ROOT_CERT_CONFIGMAP);
    await until('repair-a restored', () => dataIn('repair-a') === ROOT);
    const edited = h.server.get('ConfigMap', 'repair-system', ROOT_CERT_CONFIGMAP);
    assert.ok(edited);
    h.server.update({ ...edited, data: { [ROOT_CERT_KEY]: 'tampered' } });
    await until('repair-system restored', () => dataIn('repair-system') === ROOT);
    await until('both counted', () => publisher.restored === 2);
    // Someone else's edit to another key of it, or to an unrelated ConfigMap, changes nothing.
    h.server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: 'repair-a' }, data: { [ROOT_CERT_KEY]: 'x' } });

    // repair-b leaves the mesh: its copy stays, and is not put back once deleted.
    await publisher.sync(namespaces({ 'repair-a': { 'istio.io/dataplane-mode': 'ambient' }, 'repair-b': {} }));
    assert.equal(dataIn('repair-b'), ROOT);
    h.server.delete('ConfigMap', 'repair-b', ROOT_CERT_CONFIGMAP);

    // A new bundle (old and new root during a rotation) is applied everywhere it belongs.
    roots = [ROOT2, ROOT];
    await publisher.refresh();
    assert.deepEqual([dataIn('repair-a'), dataIn('repair-system')], [rootBundle(roots), rootBundle(roots)]);
    // The watch has seen every change by now: the new bundle's own events restore nothing.
    h.server.delete('ConfigMap', 'repair-a', ROOT_CERT_CONFIGMAP);
    await until('repair-a restored again', () => publisher.restored === 3);
    assert.equal(dataIn('repair-a'), rootBundle(roots));
    assert.equal(dataIn('repair-b'), undefined, 'out of the mesh: not restored');
  } finally {
    await publisher.stop();
  }
});

test('someone who keeps overwriting the ConfigMap is answered with a doubling delay, not a tight loop', async () => {
  const publisher = new RootCertPublisher({
    kubeConfig: h.kubeConfig, logger: silentLogger, rootNamespace: 'fight-system', rootsPem: () => [ROOT], retry: { initialMs: 50, maxMs: 400 },
  });
  try {
    await publisher.sync(namespaces({}));
    const start = Date.now();
    // The other writer puts its own data back as soon as the publisher has restored it, five times.
    for (let i = 0; i < 5; i++) {
      const cm = h.server.get('ConfigMap', 'fight-system', ROOT_CERT_CONFIGMAP);
      assert.ok(cm);
      h.server.update({ ...cm, data: { [ROOT_CERT_KEY]: `theirs-${i}` } });
      await until(`restore ${i + 1}`, () => publisher.restored === i + 1);
    }
    // Delays 0, 50, 100, 200: the fifth restore comes no sooner than 350 ms after the first edit.
    assert.ok(Date.now() - start >= 350, `five restores took ${Date.now() - start} ms`);
    assert.equal(dataIn('fight-system'), ROOT);
  } finally {
    await publisher.stop();
  }
});
