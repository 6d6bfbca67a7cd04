import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, Workload } from '#core/config/model.ts';
import { ambient, authz, gateway, ns, objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import { buildModel } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';

const options = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };

function build(docs: unknown[]): MeshModel {
  return buildModel(objectsFrom(docs), options);
}

function workloads(model: MeshModel): Map<string, Workload> {
  const out = new Map<string, Workload>();
  for (const r of model.resources.values()) if (r.kind === 'workload') out.set(`${r.value.namespace}/${r.value.name}`, r.value);
  return out;
}

function services(model: MeshModel): Map<string, Service> {
  const out = new Map<string, Service>();
  for (const r of model.resources.values()) if (r.kind === 'service') out.set(`${r.value.namespace}/${r.value.name}`, r.value);
  return out;
}

test('enrollment: ambient namespace, opt-out, running with an IP', () => {
  const cases: { name: string; nsLabels: Record<string, string>; pod: Parameters<typeof pod>[2]; protocol?: 'HBONE' | 'NONE' }[] = [
    { name: 'ambient namespace', nsLabels: ambient, pod: {}, protocol: 'HBONE' },
    { name: 'plain namespace', nsLabels: {}, pod: {}, protocol: 'NONE' },
    { name: 'pod opts out', nsLabels: ambient, pod: { labels: { 'istio.io/dataplane-mode': 'none' } }, protocol: 'NONE' },
    { name: 'pending pod is no workload', nsLabels: ambient, pod: { phase: 'Pending' } },
    { name: 'pod without IP is no workload', nsLabels: ambient, pod: { ip: '' } },
    { name: 'namespace labelled something else', nsLabels: { 'istio.io/dataplane-mode': 'sidecar' }, pod: {}, protocol: 'NONE' },
  ];
  for (const c of cases) {
    const w = workloads(build([ns('a', c.nsLabels), pod('a', 'p', c.pod)])).get('a/p');
    assert.equal(w?.tunnelProtocol, c.protocol, c.name);
  }
});

test('workload fields', () => {
  const w = workloads(build([ns('a', ambient), pod('a', 'web-7d4b9c8f6d-x2k9p', { sa: 'web', ip: '10.1.0.5', hostIP: '172.18.0.2', node: 'n1', labels: { app: 'web', version: 'v2', 'pod-template-hash': '7d4b9c8f6d' } })])).get('a/web-7d4b9c8f6d-x2k9p');
  assert.deepEqual(w, {
    uid: 'uid-a-web-7d4b9c8f6d-x2k9p',
    name: 'web-7d4b9c8f6d-x2k9p',
    namespace: 'a',
    addresses: ['10.1.0.5'],
    node: 'n1',
    nodeAddress: '172.18.0.2',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: 'web',
    canonicalName: 'web',
    canonicalRevision: 'v2',
    workloadType: 'pod',
    workloadName: 'web',
    services: {},
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
  });
});

test('workload: default service account, unready status', () => {
  const w = workloads(build([ns('a', ambient), pod('a', 'p', { ready: false })])).get('a/p');
  assert.equal(w?.serviceAccount, 'default');
  assert.equal(w.status, 'UNHEALTHY');
});

test('canonical name and revision precedence', () => {
  const cases: { name: string; labels: Record<string, string>; canonical: string; revision: string; workload: string }[] = [
    { name: 'reviews-v1-5f8d7c9b4-x7k2p', labels: { 'service.istio.io/canonical-name': 'c', 'app.kubernetes.io/name': 'k', app: 'a', 'service.istio.io/canonical-revision': 'r1', 'app.kubernetes.io/version': 'r2', version: 'r3' }, canonical: 'c', revision: 'r1', workload: 'reviews-v1' },
    { name: 'p', labels: { 'app.kubernetes.io/name': 'k', app: 'a', 'app.kubernetes.io/version': 'r2', version: 'r3' }, canonical: 'k', revision: 'r2', workload: 'p' },
    { name: 'p', labels: { app: 'a', version: 'r3' }, canonical: 'a', revision: 'r3', workload: 'p' },
    { name: 'ratings-6c9f8d7b5c-zx4wq', labels: {}, canonical: 'ratings', revision: 'latest', workload: 'ratings' },
    { name: 'fluentd-7vxlq', labels: {}, canonical: 'fluentd', revision: 'latest', workload: 'fluentd' },
    { name: 'db-0', labels: { 'statefulset.kubernetes.io/pod-name': 'db-0' }, canonical: 'db', revision: 'latest', workload: 'db' },
    { name: 'standalone', labels: {}, canonical: 'standalone', revision: 'latest', workload: 'standalone' },
  ];
  for (const c of cases) {
    const w = workloads(build([pod('a', c.name, { labels: c.labels })])).get(`a/${c.name}`);
    assert.equal(w?.canonicalName, c.canonical, c.name);
    assert.equal(w.canonicalRevision, c.revision, c.name);
    assert.equal(w.workloadName, c.workload, c.name);
  }
});

test('services: hostname, VIPs, TCP ports, selector matching and port maps', () => {
  const model = build([
    ns('a', ambient),
    pod('a', 'web-1', { labels: { app: 'web', tier: 'front' }, ip: '10.1.0.1' }),
    pod('a', 'db-1', { labels: { app: 'db' }, ip: '10.1.0.2' }),
    pod('b', 'web-2', { labels: { app: 'web' }, ip: '10.1.0.3' }),
    service('a', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'admin', port: 9000 }] }),
    service('a', 'front', { selector: { app: 'web', tier: 'front' }, ip: 'None' }),
    service('a', 'manual', {}),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'dual', namespace: 'a' }, spec: { clusterIPs: ['10.96.0.20', 'fd00::20'], selector: { app: 'db' }, ports: [{ port: 5432 }] } },
  ]);
  const svcs = services(model);
  assert.deepEqual(svcs.get('a/web'), {
    name: 'web', namespace: 'a', hostname: 'web.a.svc.cluster.local', addresses: ['10.96.0.10'],
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'http' }, { servicePort: 9000, targetPort: 9000 }], subjectAltNames: [],
  });
  assert.deepEqual(svcs.get('a/front')?.addresses, []);
  assert.deepEqual(svcs.get('a/dual')?.addresses, ['10.96.0.20', 'fd00::20']);
  const w = workloads(model);
  assert.deepEqual(w.get('a/web-1')?.services, {
    'a/web.a.svc.cluster.local': { '80': 8080, '9000': 9000 },
    'a/front.a.svc.cluster.local': { '80': 8080 },
  });
  assert.deepEqual(w.get('a/db-1')?.services, { 'a/dual.a.svc.cluster.local': { '5432': 5432 } });
  assert.deepEqual(w.get('b/web-2')?.services, {}, 'selectors never cross namespaces');
});

test('services: named target ports resolve from EndpointSlices, per pod', () => {
  const slice = (name: string, ip: string, portNum: number): unknown => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: 'a', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', endpoints: [{ addresses: [ip], conditions: { ready: true } }], ports: [{ name: 'http', port: portNum, protocol: 'TCP' }],
  });
  const model = build([
    pod('a', 'web-1', { labels: { app: 'web' }, ip: '10.1.0.1' }),
    pod('a', 'web-2', { labels: { app: 'web' }, ip: '10.1.0.2' }),
    pod('a', 'web-3', { labels: { app: 'web' }, ip: '10.1.0.3' }),
    service('a', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http-web' }] }),
    slice('web-a', '10.1.0.1', 8080),
    slice('web-b', '10.1.0.2', 9090),
  ]);
  const w = workloads(model);
  assert.deepEqual(w.get('a/web-1')?.services, { 'a/web.a.svc.cluster.local': { '80': 8080 } });
  assert.deepEqual(w.get('a/web-2')?.services, { 'a/web.a.svc.cluster.local': { '80': 9090 } });
  // Not listed in any slice yet: the first slice's number is the best guess.
  assert.equal(w.get('a/web-3')?.services['a/web.a.svc.cluster.local']?.['80'] !== undefined, true);
  assert.equal(services(model).get('a/web')?.ports[0]?.targetPort !== undefined, true);
  const none = build([pod('a', 'web-1', { labels: { app: 'web' } }), service('a', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http-web' }] })]);
  assert.deepEqual(workloads(none).get('a/web-1')?.services, { 'a/web.a.svc.cluster.local': {} });
  assert.equal(services(none).get('a/web')?.ports[0]?.targetPort, 0);
});

test('selector policies are listed on the workloads they select (root namespace: all namespaces)', () => {
  const model = build([
    ns('a', ambient),
    pod('a', 'web', { labels: { app: 'web' } }),
    pod('a', 'db', { labels: { app: 'db' } }),
    authz('a', 'web-only', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }),
    authz('a', 'ns-wide', { rules: [{}] }),
    authz('b', 'other-ns', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }),
    authz('istio-system', 'mesh-web', { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['1.1.1.1'] } }] }] }),
    authz('a', 'audit', { selector: { matchLabels: { app: 'web' } }, action: 'AUDIT', rules: [{}] }),
  ]);
  const w = workloads(model);
  assert.deepEqual(w.get('a/web')?.authorizationPolicies, ['a/web-only', 'istio-system/mesh-web']);
  assert.deepEqual(w.get('a/db')?.authorizationPolicies, []);
  assert.ok(model.resources.has('authorization/a/ns-wide'));
  assert.ok(!model.resources.has('authorization/a/audit'));
  assert.ok(model.conditions.some((c) => c.name === 'audit' && c.status === 'False'));
});

test('identitiesByNode: enrolled, live pods only; waypoint identities', () => {
  const model = build([
    ns('a', ambient),
    ns('plain'),
    pod('a', 'p1', { sa: 'web', node: 'n1' }),
    pod('a', 'p2', { sa: 'db', node: 'n1', phase: 'Pending', ip: '' }),
    pod('a', 'p3', { sa: 'gone', node: 'n1', phase: 'Succeeded' }),
    pod('a', 'p4', { sa: 'out', node: 'n1', labels: { 'istio.io/dataplane-mode': 'none' } }),
    pod('a', 'p5', { node: 'n2' }),
    pod('plain', 'p6', { node: 'n2' }),
    gateway('a', 'waypoint', { address: '10.96.1.1' }),
  ]);
  assert.deepEqual([...(model.identitiesByNode.get('n1') ?? [])].sort(), ['spiffe://cluster.local/ns/a/sa/db', 'spiffe://cluster.local/ns/a/sa/web']);
  assert.deepEqual([...(model.identitiesByNode.get('n2') ?? [])], ['spiffe://cluster.local/ns/a/sa/default']);
  assert.deepEqual([...model.waypointIdentities], ['spiffe://cluster.local/ns/a/sa/waypoint']);
});

test('buildModel is pure: same input, same output', () => {
  const docs = [ns('a', ambient), pod('a', 'p', { labels: { app: 'x' } }), service('a', 's', { selector: { app: 'x' } })];
  const objects = objectsFrom(docs);
  assert.deepEqual(buildModel(objects, options), buildModel(objects, options));
});
