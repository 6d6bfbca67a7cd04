import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SelectorPolicyIndex } from '#controller/model/policy-index.ts';

test('SelectorPolicyIndex.selecting: own namespace and root namespace policies whose labels match', () => {
  const index = new SelectorPolicyIndex('istio-system');
  index.add('a/web', 'a', { app: 'web' });
  index.add('a/all', 'a', {});
  index.add('a/web-v2', 'a', { app: 'web', version: 'v2' });
  index.add('b/web', 'b', { app: 'web' });
  index.add('istio-system/web', 'istio-system', { app: 'web' });
  const cases: { name: string; namespace: string; labels: Record<string, string>; want: string[] }[] = [
    { name: 'own namespace, then mesh-wide', namespace: 'a', labels: { app: 'web' }, want: ['a/web', 'a/all', 'istio-system/web'] },
    { name: 'all pairs needed', namespace: 'a', labels: { app: 'web', version: 'v2' }, want: ['a/web', 'a/all', 'a/web-v2', 'istio-system/web'] },
    { name: 'empty selector selects every workload of its namespace', namespace: 'a', labels: {}, want: ['a/all'] },
    { name: 'other namespaces never', namespace: 'c', labels: { app: 'web' }, want: ['istio-system/web'] },
    { name: 'the root namespace itself, listed once', namespace: 'istio-system', labels: { app: 'web' }, want: ['istio-system/web'] },
  ];
  for (const c of cases) assert.deepEqual(index.selecting(c.namespace, c.labels), c.want, c.name);
});
