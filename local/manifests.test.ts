import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LocalNode } from './node.ts';
import { LocalPod } from './pod.ts';
import { LocalService } from './service.ts';
import { ManifestWriter, removeClusterManifests } from './manifest-writer.ts';
import { CLUSTER_ANNOTATION, NETNS_ANNOTATION, endpointSliceManifest, manifestFileName, nodeManifest, podManifest, serviceManifest } from './manifests.ts';

const track = (): void => undefined;
const pod = (name: string, ip: string): LocalPod => new LocalPod({
  namespace: 'shop', name, node: 'node2', nodeIp: '192.168.200.12', ip, labels: { app: 'cart' }, serviceAccount: 'cart',
  link: 'x-p1', hostLink: 'x-v1', netns: `x-shop.${name}`, track,
});
const svc = new LocalService({
  namespace: 'shop', name: 'cart', vip: '10.96.0.10', selector: { app: 'cart' }, labels: {},
  ports: [{ port: 80, targetPort: 8080, name: 'http', appProtocol: 'http' }],
});

test('file names', () => {
  assert.equal(manifestFileName('Pod', 'shop', 'cart-1'), 'pod-shop-cart-1.yaml');
  assert.equal(manifestFileName('EndpointSlice', 'shop', 'cart'), 'endpointslice-shop-cart.yaml');
  assert.equal(manifestFileName('Node', undefined, 'node1'), 'node-node1.yaml');
});

test('pod manifest carries what the controller reads', () => {
  const p = pod('cart-1', '10.224.2.2');
  const m = podManifest('c', p) as { metadata: Record<string, unknown>; spec: Record<string, unknown>; status: Record<string, unknown> };
  assert.equal(m.metadata['uid'], p.uid);
  assert.deepEqual(m.metadata['labels'], { app: 'cart' });
  assert.deepEqual(m.metadata['annotations'], { [CLUSTER_ANNOTATION]: 'c', [NETNS_ANNOTATION]: '/var/run/netns/x-shop.cart-1' });
  assert.equal(m.spec['nodeName'], 'node2');
  assert.equal(m.spec['serviceAccountName'], 'cart');
  assert.equal(m.status['podIP'], '10.224.2.2');
  assert.equal(m.status['hostIP'], '192.168.200.12');
  assert.equal(m.status['phase'], 'Running');
  assert.deepEqual((m.status['conditions'] as { type: string; status: string }[]).find((c) => c.type === 'Ready'), { type: 'Ready', status: 'True' });
  p._setReady(false);
  const unready = podManifest('c', p) as { status: { conditions: { type: string; status: string }[] } };
  assert.equal(unready.status.conditions.find((c) => c.type === 'Ready')?.status, 'False');
});

test('service and endpoint slice', () => {
  const s = serviceManifest('c', svc) as { spec: Record<string, unknown> };
  assert.equal(s.spec['clusterIP'], '10.96.0.10');
  assert.deepEqual(s.spec['ports'], [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, appProtocol: 'http' }]);
  const a = pod('cart-1', '10.224.2.10');
  const b = pod('cart-2', '10.224.2.9');
  const es = endpointSliceManifest('c', svc, [a, b]) as {
    apiVersion: string; metadata: { labels: Record<string, string> };
    endpoints: { addresses: string[]; nodeName: string; targetRef: { uid: string }; conditions: { ready: boolean } }[];
    ports: unknown[];
  };
  assert.equal(es.apiVersion, 'discovery.k8s.io/v1');
  assert.equal(es.metadata.labels['kubernetes.io/service-name'], 'cart');
  assert.deepEqual(es.endpoints.map((e) => e.addresses[0]), ['10.224.2.9', '10.224.2.10']);
  assert.equal(es.endpoints[0]?.targetRef.uid, b.uid);
  assert.equal(es.endpoints[0]?.nodeName, 'node2');
  assert.equal(es.endpoints[0]?.conditions.ready, true);
  assert.deepEqual(es.ports, [{ name: 'http', protocol: 'TCP', port: 8080, appProtocol: 'http' }]);
});

test('node manifest', () => {
  const n = new LocalNode({
    name: 'node1', index: 1, ip: '192.168.200.11', podCidr: { base: '10.224.1.0', prefixLength: 24 }, podGateway: '10.224.1.1',
    link: 'x-n1', netns: 'x-node1', track,
  });
  const m = nodeManifest('c', n, new Date(0)) as { metadata: { name: string }; status: { addresses: unknown[] } };
  assert.equal(m.metadata.name, 'node1');
  assert.deepEqual(m.status.addresses[0], { type: 'InternalIP', address: '192.168.200.11' });
});

test('writer: atomic writes, no rewrite of unchanged content, removal; sweep by annotation', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-manifests-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const w = new ManifestWriter(dir);
  const p = pod('cart-1', '10.224.2.2');
  await Promise.all([w.write('pod-shop-cart-1.yaml', podManifest('c', p)), w.write('service-shop-cart.yaml', serviceManifest('c', svc))]);
  const doc = parse(await readFile(join(dir, 'pod-shop-cart-1.yaml'), 'utf8')) as { status: { podIP: string } };
  assert.equal(doc.status.podIP, '10.224.2.2');
  assert.deepEqual((await readdir(dir)).sort(), ['pod-shop-cart-1.yaml', 'service-shop-cart.yaml']);
  await w.remove('pod-shop-cart-1.yaml');
  assert.deepEqual(await readdir(dir), ['service-shop-cart.yaml']);
  await writeFile(join(dir, 'mine.yaml'), 'kind: ConfigMap\n');
  await removeClusterManifests(dir, 'other');
  assert.equal((await readdir(dir)).length, 2);
  await removeClusterManifests(dir, 'c');
  assert.deepEqual(await readdir(dir), ['mine.yaml']);
});
