// The builder reuses what it made from unchanged objects; these tests hold it to producing
// exactly what a fresh build produces, after random changes to random clusters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { RandomCluster } from '#controller/model/random-cluster.ts';
import { ambient, ns, objectsFrom, pod, service } from '#controller/testdata/objects.ts';

const options = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };

/** Everything a model says, in order (resource order and JSON key order included). */
function plain(m: MeshModel): unknown {
  return {
    resources: JSON.stringify([...m.resources]),
    conditions: JSON.stringify(m.conditions),
    identitiesByNode: [...m.identitiesByNode].map(([node, ids]) => [node, [...ids]]),
    waypointIdentities: [...m.waypointIdentities],
  };
}

test('an incremental build equals a fresh build after random changes (seeded)', () => {
  let reused = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const cluster = new RandomCluster(seed);
    const incremental = new ModelBuilder();
    let previous: MeshModel | undefined;
    for (let step = 0; step < 20; step++) {
      const objects = cluster.objects();
      const got = incremental.build(objects, options);
      const want = new ModelBuilder().build(objects, options);
      assert.deepEqual(plain(got), plain(want), `seed ${seed}, step ${step}`);
      for (const [k, r] of got.resources) if (previous?.resources.get(k) === r) reused++;
      previous = got;
      cluster.change();
    }
  }
  // The property means little if nothing was ever reused.
  assert.ok(reused > 1000, `reused ${reused} resources`);
});

test('a rebuild keeps unchanged resources as the same objects and remakes changed ones', () => {
  const docs = [
    ns('a', ambient),
    pod('a', 'web-1', { labels: { app: 'web' }, ip: '10.0.0.1' }),
    pod('a', 'web-2', { labels: { app: 'web' }, ip: '10.0.0.2' }),
    service('a', 'web', { selector: { app: 'web' } }),
  ];
  const builder = new ModelBuilder();
  const first = objectsFrom(docs);
  const m1 = builder.build(first, options);
  // web-2 moves to a new IP; every other object keeps its identity.
  const changed = objectsFrom([pod('a', 'web-2', { labels: { app: 'web' }, ip: '10.0.0.9' })]).pods.get('a/web-2');
  assert.ok(changed !== undefined);
  const second = { ...first, pods: new Map([...first.pods, ['a/web-2', changed]]) };
  const m2 = builder.build(second, options);
  assert.equal(m2.resources.get('workload/uid-a-web-1'), m1.resources.get('workload/uid-a-web-1'));
  assert.equal(m2.resources.get('service/a/web.a.svc.cluster.local'), m1.resources.get('service/a/web.a.svc.cluster.local'));
  assert.notEqual(m2.resources.get('workload/uid-a-web-2'), m1.resources.get('workload/uid-a-web-2'));
  const w2 = m2.resources.get('workload/uid-a-web-2');
  assert.deepEqual(w2?.kind === 'workload' ? w2.value.addresses : undefined, ['10.0.0.9']);

  // A service's selector change reaches the pods it selects even though the pods did not change.
  const svc = objectsFrom([service('a', 'web', { selector: { app: 'other' } })]).services.get('a/web');
  assert.ok(svc !== undefined);
  const m3 = builder.build({ ...second, services: new Map([['a/web', svc]]) }, options);
  const w1 = m3.resources.get('workload/uid-a-web-1');
  assert.deepEqual(w1?.kind === 'workload' ? w1.value.services : undefined, {});
});

test('options are inputs too: a different trust domain is not served from the memo', () => {
  const objects = objectsFrom([ns('a', ambient), pod('a', 'p', { sa: 'web', node: 'n1' })]);
  const builder = new ModelBuilder();
  builder.build(objects, options);
  const other = builder.build(objects, { ...options, trustDomain: 'example.org', clusterId: 'c2' });
  const w = other.resources.get('workload/uid-a-p');
  assert.equal(w?.kind === 'workload' ? w.value.trustDomain : undefined, 'example.org');
  assert.deepEqual([...(other.identitiesByNode.get('n1') ?? [])], ['spiffe://example.org/ns/a/sa/web']);
});

test('a source that updates its maps in place is still seen changing', () => {
  const objects = objectsFrom([ns('a', ambient), pod('a', 'web-1', { labels: { app: 'web' } }), service('a', 'web', { selector: { app: 'web' } })]);
  const services = new Map(objects.services);
  const live = { ...objects, services };
  const builder = new ModelBuilder();
  const before = builder.build(live, options).resources.get('workload/uid-a-web-1');
  assert.deepEqual(before?.kind === 'workload' ? Object.keys(before.value.services) : undefined, ['a/web.a.svc.cluster.local']);
  services.delete('a/web');
  const after = builder.build(live, options).resources.get('workload/uid-a-web-1');
  assert.deepEqual(after?.kind === 'workload' ? after.value.services : undefined, {});
});
