import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '#core/config/model.ts';
import { sampleService, sampleWorkload, serviceResource, workloadResource } from '#core/config/testing.ts';
import { diffGenerations, sameResource } from '#controller/model/generation.ts';

const a = workloadResource(sampleWorkload({ uid: 'a' }));
const aCopy = workloadResource(sampleWorkload({ uid: 'a' }));
const a2 = workloadResource(sampleWorkload({ uid: 'a', addresses: ['10.0.0.2'] }));
const b = workloadResource(sampleWorkload({ uid: 'b' }));
const s = serviceResource(sampleService());
const sKey = 'service/default/svc.default.svc.cluster.local';

function gen(...rs: Resource[]): Map<string, Resource> {
  return new Map(rs.map((r) => [`${r.kind}/${r.key}`, r]));
}

test('diffGenerations', () => {
  const cases: { name: string; prev: Map<string, Resource> | undefined; next: Map<string, Resource>; changed: string[]; removed: string[] }[] = [
    { name: 'first generation: everything is new', prev: undefined, next: gen(a, s), changed: ['workload/a', sKey], removed: [] },
    { name: 'same objects', prev: gen(a, s), next: gen(a, s), changed: [], removed: [] },
    { name: 'rebuilt with equal content', prev: gen(a, s), next: gen(aCopy, s), changed: [], removed: [] },
    { name: 'one changed', prev: gen(a, s), next: gen(a2, s), changed: ['workload/a'], removed: [] },
    { name: 'added and removed', prev: gen(a, s), next: gen(a, b), changed: ['workload/b'], removed: [sKey] },
    { name: 'everything gone', prev: gen(a, s), next: gen(), changed: [], removed: ['workload/a', sKey] },
  ];
  for (const c of cases) {
    const d = diffGenerations(c.prev, c.next);
    assert.deepEqual(d.changed, c.changed, c.name);
    assert.deepEqual(d.removed, c.removed, c.name);
    assert.deepEqual([...d.resources.keys()], [...c.next.keys()], c.name);
  }
});

test('diffGenerations interns unchanged resources: they keep the earlier object', () => {
  const d = diffGenerations(gen(a, s), gen(aCopy, serviceResource(sampleService({ addresses: ['10.96.0.99'] }))));
  assert.equal(d.resources.get('workload/a'), a);
  assert.notEqual(d.resources.get(sKey), s);
  assert.equal(diffGenerations(undefined, gen(aCopy)).resources.get('workload/a'), aCopy);
});

test('sameResource compares kind, key and value', () => {
  assert.equal(sameResource(a, aCopy), true);
  assert.equal(sameResource(a, a2), false);
  assert.equal(sameResource(a, b), false);
  assert.equal(sameResource(a, { ...a, key: 'other' }), false);
});
