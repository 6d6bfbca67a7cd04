import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '#core/config/model.ts';
import { sampleService, sampleWorkload, serviceResource, workloadResource } from '#core/config/testing.ts';
import { diffViews, internResources, jsonEqual } from './diff.ts';
import type { View } from './diff.ts';

const a = workloadResource(sampleWorkload({ uid: 'a' }));
const a2 = workloadResource(sampleWorkload({ uid: 'a', addresses: ['10.0.0.2'] }));
const aCopy = workloadResource(sampleWorkload({ uid: 'a' }));
const b = workloadResource(sampleWorkload({ uid: 'b' }));
const s = serviceResource(sampleService());

function view(...rs: Resource[]): View {
  return new Map(rs.map((r) => [`${r.kind}/${r.key}`, r]));
}

test('diffViews', () => {
  const cases: { name: string; old: View | undefined; next: View; updated: Resource[]; removed: string[] }[] = [
    { name: 'no previous view: everything is new', old: undefined, next: view(a, s), updated: [a, s], removed: [] },
    { name: 'identical views', old: view(a, s), next: view(a, s), updated: [], removed: [] },
    { name: 'equal content, different objects', old: view(a, s), next: view(aCopy, s), updated: [], removed: [] },
    { name: 'one changed', old: view(a, s), next: view(a2, s), updated: [a2], removed: [] },
    { name: 'one added', old: view(a), next: view(a, b), updated: [b], removed: [] },
    { name: 'one removed', old: view(a, b), next: view(a), updated: [], removed: ['workload/b'] },
    { name: 'all removed', old: view(a, s), next: view(), updated: [], removed: ['workload/a', 'service/default/svc.default.svc.cluster.local'] },
    { name: 'changed, added and removed at once', old: view(a, s), next: view(a2, b), updated: [a2, b], removed: ['service/default/svc.default.svc.cluster.local'] },
    { name: 'empty to empty', old: view(), next: view(), updated: [], removed: [] },
  ];
  for (const c of cases) {
    const d = diffViews(c.old, c.next);
    assert.deepEqual(d.updated, c.updated, c.name);
    assert.deepEqual(d.removed.map((r) => `${r.kind}/${r.key}`), c.removed, c.name);
  }
});

test('jsonEqual', () => {
  const cases: [unknown, unknown, boolean][] = [
    [1, 1, true], ['a', 'b', false], [null, null, true], [null, {}, false], [[], {}, false], [{}, [], false],
    [[1, [2]], [1, [2]], true], [[1, 2], [2, 1], false], [{ x: 1, y: 2 }, { y: 2, x: 1 }, true],
    [{ x: 1 }, { x: 1, y: undefined }, false], [{ x: undefined }, { y: undefined }, false], [{ x: { y: [1] } }, { x: { y: [1] } }, true],
  ];
  for (const [x, y, want] of cases) assert.equal(jsonEqual(x, y), want, `${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
});

test('internResources keeps earlier objects for unchanged resources', () => {
  const out = internResources(view(a, s), view(aCopy, serviceResource(sampleService({ addresses: ['10.96.0.11'] }))));
  assert.equal(out.get('workload/a'), a);
  assert.notEqual(out.get('service/default/svc.default.svc.cluster.local'), s);
  assert.equal(internResources(undefined, view(aCopy)).get('workload/a'), aCopy);
});
