import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '#core/config/model.ts';
import { authorizationResource, sampleAuthorization, sampleService, sampleWorkload, serviceResource, workloadResource } from '#core/config/testing.ts';
import { ViewIndex, inSharedView } from '#controller/model/view-index.ts';

const policy = (name: string, scope: 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR', namespace: string): Resource =>
  authorizationResource(sampleAuthorization({ name, namespace, scope }));
const resources: Resource[] = [
  workloadResource(sampleWorkload({ uid: 'w1', namespace: 'a', node: 'n1', authorizationPolicies: ['a/sel'] })),
  workloadResource(sampleWorkload({ uid: 'w2', namespace: 'b', node: 'n2' })),
  workloadResource(sampleWorkload({ uid: 'w3', namespace: 'b', node: 'n3' })),
  serviceResource(sampleService()),
  policy('global', 'GLOBAL', 'istio-system'),
  policy('ns-a', 'NAMESPACE', 'a'),
  policy('ns-b', 'NAMESPACE', 'b'),
  policy('sel', 'WORKLOAD_SELECTOR', 'a'),
  // Selects nothing: no workload lists it.
  policy('unused', 'WORKLOAD_SELECTOR', 'b'),
];
const index = new ViewIndex(new Map(resources.map((r) => [`${r.kind}/${r.key}`, r])));

test('overlay: the policies that can apply to the pods on a node', () => {
  const cases: { node: string; want: string[] }[] = [
    { node: 'n1', want: ['authorization/istio-system/global', 'authorization/a/ns-a', 'authorization/a/sel'] },
    { node: 'n2', want: ['authorization/istio-system/global', 'authorization/b/ns-b'] },
    { node: 'n3', want: ['authorization/istio-system/global', 'authorization/b/ns-b'] },
    { node: 'no-pods', want: ['authorization/istio-system/global'] },
  ];
  for (const c of cases) {
    const o = index.overlay({ kind: 'ztunnel', node: c.node });
    assert.deepEqual([...o.resources.keys()], c.want, c.node);
    assert.equal(o.signature, c.want.join('\n'), c.node);
  }
});

test('nodes with the same policies share one overlay object; repeated calls are cached', () => {
  assert.equal(index.overlay({ kind: 'ztunnel', node: 'n2' }), index.overlay({ kind: 'ztunnel', node: 'n3' }));
  assert.equal(index.overlay({ kind: 'ztunnel', node: 'n1' }), index.overlay({ kind: 'ztunnel', node: 'n1' }));
});

test('a waypoint has no overlay; the shared part is every workload and service', () => {
  const o = index.overlay({ kind: 'waypoint', identity: 'spiffe://cluster.local/ns/a/sa/wp' });
  assert.equal(o.resources.size, 0);
  assert.equal(o.signature, '');
  assert.equal(index.sharedSize, 4);
  assert.deepEqual([...index.resources.values()].filter(inSharedView).map((r) => r.key), ['w1', 'w2', 'w3', 'default/svc.default.svc.cluster.local']);
});
