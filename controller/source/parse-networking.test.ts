// Reading Istio's networking kinds (VirtualService, DestinationRule) as both sources do: the
// three served versions normalised to v1, absent lists read as empty, every unknown field
// outside the rules and traffic policies named (the waypoint model checks those), and where
// each kind lives in a manifest folder and in the Kubernetes API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '#controller/source/parse.ts';
import { KUBE_RESOURCES, collectionPath } from '#controller/source/kube/resources.ts';
import type { ClusterObject } from '#controller/source/types.ts';
import { objectsFrom } from '#controller/testdata/objects.ts';

function parsed(doc: unknown): ClusterObject {
  const r = parseObject(doc);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.object;
}

const meta = { name: 'reviews', namespace: 'shop' };

test('VirtualService: v1, v1beta1 and v1alpha3 read alike; rules are kept for the model', () => {
  for (const apiVersion of ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']) {
    const rule = { route: [{ destination: { host: 'reviews' } }] };
    const o = parsed({ apiVersion, kind: 'VirtualService', metadata: meta, spec: { hosts: ['reviews'], http: [rule] } });
    assert.deepEqual(o, {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { ...meta, labels: {}, annotations: {} },
      spec: { hosts: ['reviews'], gateways: [], exportTo: [], http: [rule], tcp: [], tls: [] },
    }, apiVersion);
  }
});

test('VirtualService: unknown fields outside the rules are named; a wrong shape rejects the object', () => {
  const o = parsed({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta, spec: { hosts: ['a'], htp: [], exportto: ['.'] }, extra: 1 });
  assert.equal(o.kind, 'VirtualService');
  assert.deepEqual(o.fieldProblems, [
    { path: 'extra', message: 'unknown field' },
    { path: 'spec.htp', message: 'unknown field (did you mean "http"?)' },
    { path: 'spec.exportto', message: 'unknown field (did you mean "exportTo"?)' },
  ]);
  const rows: [unknown, RegExp][] = [
    [{ hosts: 'reviews' }, /spec\.hosts: expected a list/],
    [{ hosts: ['a'], http: ['x'] }, /spec\.http\[0\]: expected an object/],
    [{ hosts: [1] }, /spec\.hosts\[0\]: expected a string/],
  ];
  for (const [spec, reason] of rows) {
    const r = parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta, spec });
    assert.ok(!r.ok && reason.test(r.reason), JSON.stringify(spec));
  }
  const r = parseObject({ apiVersion: 'networking.istio.io/v2', kind: 'VirtualService', metadata: meta, spec: {} });
  assert.ok(!r.ok && /unsupported apiVersion networking\.istio\.io\/v2 for VirtualService/.test(r.reason));
});

test('DestinationRule: host, subsets and selector typed; traffic policies kept for the model', () => {
  const trafficPolicy = { loadBalancer: { simple: 'LEAST_REQUEST' } };
  const o = parsed({
    apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: meta,
    spec: { host: 'reviews', trafficPolicy, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', trafficPolicy, label: {} }], workloadSelector: { matchLabels: { app: 'x' }, matchExpressions: [] } },
  });
  assert.deepEqual(o, {
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { ...meta, labels: {}, annotations: {} },
    spec: {
      host: 'reviews', exportTo: [], workloadSelector: { matchLabels: { app: 'x' } }, trafficPolicy,
      subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: {}, trafficPolicy }],
    },
    fieldProblems: [
      { path: 'spec.workloadSelector.matchExpressions', message: 'unknown field' },
      { path: 'spec.subsets[1].label', message: 'unknown field (did you mean "labels"?)' },
    ],
  });
  for (const [spec, reason] of [[{}, /spec\.host: expected a string/], [{ host: 'a', subsets: [{ labels: {} }] }, /spec\.subsets\[0\]\.name/], [{ host: 'a', subsets: [{ name: 'v1', labels: { v: 1 } }] }, /labels\.v: expected a string/]] as const) {
    const r = parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta, spec });
    assert.ok(!r.ok && reason.test(r.reason), JSON.stringify(spec));
  }
});

test('both kinds land in their own collections, from a folder and from the Kubernetes API', () => {
  const objects = objectsFrom([
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta, spec: { hosts: ['reviews'] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta, spec: { host: 'reviews' } },
  ]);
  assert.deepEqual([...objects.virtualServices.keys()], ['shop/reviews']);
  assert.deepEqual([...objects.destinationRules.keys()], ['shop/reviews']);
  // Their namespace exists even when no manifest declares it.
  assert.ok(objects.namespaces.has('shop'));
  const paths = KUBE_RESOURCES.filter((r) => r.group === 'networking.istio.io').map((r) => [r.kind, r.collection, collectionPath(r), r.writesConditions]);
  assert.deepEqual(paths, [
    ['VirtualService', 'virtualServices', '/apis/networking.istio.io/v1/virtualservices', true],
    ['DestinationRule', 'destinationRules', '/apis/networking.istio.io/v1/destinationrules', true],
  ]);
});
