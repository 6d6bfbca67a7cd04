import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ambient, authz, ns, objectsFrom, peerAuth, pod, service } from '#controller/testdata/objects.ts';
import { buildModel } from '#controller/model/build.ts';
import { viewFor } from '#controller/model/view.ts';

const model = buildModel(objectsFrom([
  ns('a', ambient),
  ns('b', ambient),
  pod('a', 'web', { node: 'n1', labels: { app: 'web' }, ip: '10.0.0.1' }),
  pod('b', 'db', { node: 'n2', labels: { app: 'db' }, ip: '10.0.0.2' }),
  service('a', 'web', { selector: { app: 'web' } }),
  authz('a', 'web-allow', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }),
  authz('b', 'db-allow', { selector: { matchLabels: { app: 'db' } }, rules: [{}] }),
  authz('a', 'ns-a', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['1.2.3.4'] } }] }] }),
  authz('b', 'ns-b', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['1.2.3.4'] } }] }] }),
  authz('istio-system', 'global', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['5.6.7.8'] } }] }] }),
  peerAuth('b', 'strict', { mtls: { mode: 'STRICT' } }),
]), { trustDomain: 'cluster.local', clusterId: 'c', rootNamespace: 'istio-system' });

const auths = (view: Map<string, unknown>): string[] => [...view.keys()].filter((k) => k.startsWith('authorization/')).sort();

test('a ztunnel gets every workload and service but only the policies for its pods', () => {
  const n1 = viewFor(model, { kind: 'ztunnel', node: 'n1' });
  assert.ok(n1.has('workload/uid-a-web') && n1.has('workload/uid-b-db') && n1.has('service/a/web.a.svc.cluster.local'));
  assert.deepEqual(auths(n1), ['authorization/a/ns-a', 'authorization/a/web-allow', 'authorization/istio-system/global']);
  const n2 = viewFor(model, { kind: 'ztunnel', node: 'n2' });
  assert.deepEqual(auths(n2), ['authorization/b/converted_peer_authentication_strict', 'authorization/b/db-allow', 'authorization/b/ns-b', 'authorization/istio-system/global']);
  const empty = viewFor(model, { kind: 'ztunnel', node: 'n3' });
  assert.deepEqual(auths(empty), ['authorization/istio-system/global']);
  assert.equal(empty.size, 4);
});

test('a waypoint gets workloads and services, no L4 policy', () => {
  const wp = viewFor(model, { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/a/sa/waypoint' });
  assert.deepEqual([...wp.keys()].sort(), ['service/a/web.a.svc.cluster.local', 'workload/uid-a-web', 'workload/uid-b-db']);
});
