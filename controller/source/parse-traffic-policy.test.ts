// Reading Envoy Gateway's BackendTrafficPolicy as both sources do: `targetRef` and `targetRefs`
// read together, the rate limit kept for the model, the spec fields weft does not implement
// named as such, and where the kind lives in a manifest folder and in the Kubernetes API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '#controller/source/parse.ts';
import { KUBE_RESOURCES } from '#controller/source/kube/resources.ts';
import type { ClusterObject } from '#controller/source/types.ts';
import { objectsFrom } from '#controller/testdata/objects.ts';

function parsed(doc: unknown): ClusterObject {
  const r = parseObject(doc);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.object;
}

const meta = { name: 'limit', namespace: 'shop' };
const apiVersion = 'gateway.envoyproxy.io/v1alpha1';
const rateLimit = { type: 'Local', local: { rules: [{ limit: { requests: 10, unit: 'Minute' } }] } };

test('BackendTrafficPolicy: both target forms, the rate limit kept as written', () => {
  const o = parsed({
    apiVersion, kind: 'BackendTrafficPolicy', metadata: meta,
    spec: { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'a' }, targetRefs: [{ group: '', kind: 'Service', name: 'b' }], rateLimit },
  });
  assert.deepEqual(o, {
    apiVersion, kind: 'BackendTrafficPolicy', metadata: { ...meta, labels: {}, annotations: {} },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'a' }, { group: '', kind: 'Service', name: 'b' }], rateLimit },
  });
});

test('BackendTrafficPolicy: fields weft does not implement are named; a bad target is dropped with its reason', () => {
  const o = parsed({
    apiVersion, kind: 'BackendTrafficPolicy', metadata: meta,
    spec: { targetRefs: [{ kind: 'Service' }, { kind: 'Service', name: 'b' }], retry: { numRetries: 1 }, ratelimit: {} },
  });
  assert.equal(o.kind, 'BackendTrafficPolicy');
  if (o.kind !== 'BackendTrafficPolicy') return;
  assert.deepEqual(o.spec, { targetRefs: [{ kind: 'Service', name: 'b' }] });
  assert.deepEqual(o.fieldProblems?.slice(0, 2), [
    { path: 'spec.retry', message: 'not supported by weft' },
    { path: 'spec.ratelimit', message: 'unknown field (did you mean "rateLimit"?)' },
  ]);
  assert.equal(o.fieldProblems[2]?.path, 'spec.targetRefs[0].name');
  assert.match(o.fieldProblems[2].message, /^expected a string/);
  const bad = parseObject({ apiVersion, kind: 'BackendTrafficPolicy', metadata: meta, spec: { rateLimit: 'fast' } });
  assert.equal(bad.ok, false);
  assert.equal(parseObject({ apiVersion: 'gateway.envoyproxy.io/v1', kind: 'BackendTrafficPolicy', metadata: meta, spec: {} }).ok, false);
});

test('BackendTrafficPolicy: a manifest folder files it; the Kubernetes source watches it where its CRD is served', () => {
  const objects = objectsFrom([{ apiVersion, kind: 'BackendTrafficPolicy', metadata: meta, spec: { rateLimit } }]);
  assert.deepEqual([...objects.backendTrafficPolicies.keys()], ['shop/limit']);
  assert.ok(objects.namespaces.has('shop'));
  const kube = KUBE_RESOURCES.find((k) => k.kind === 'BackendTrafficPolicy');
  assert.deepEqual(kube && [kube.group, kube.version, kube.plural, kube.collection, kube.optional, kube.writesConditions],
    ['gateway.envoyproxy.io', 'v1alpha1', 'backendtrafficpolicies', 'backendTrafficPolicies', true, true]);
});
