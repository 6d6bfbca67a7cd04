import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceIndex } from '#controller/model/service-index.ts';
import { objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import type { Pod } from '#controller/source/types.ts';

function slice(namespace: string, name: string, serviceName: string | undefined): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace, labels: serviceName === undefined ? {} : { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4', endpoints: [], ports: [],
  };
}

const objects = objectsFrom([
  service('a', 'web', { selector: { app: 'web' } }),
  service('a', 'web-v2', { selector: { app: 'web', version: 'v2' } }),
  service('a', 'by-version', { selector: { version: 'v2' } }),
  service('a', 'manual'),
  service('a', 'empty', { selector: {} }),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'a' }, spec: { type: 'ExternalName', selector: { app: 'web' }, ports: [] } },
  service('b', 'web', { selector: { app: 'web' } }),
  slice('a', 'web-1', 'web'),
  slice('a', 'web-2', 'web'),
  slice('b', 'web-1', 'web'),
  slice('a', 'orphan', undefined),
]);
const index = new ServiceIndex(objects);

function podWith(namespace: string, labels: Record<string, string>): Pod {
  const p = objectsFrom([pod(namespace, 'p', { labels })]).pods.get(`${namespace}/p`);
  assert.ok(p !== undefined);
  return p;
}

test('ServiceIndex.selecting: the services whose selector matches, in service order', () => {
  const cases: { name: string; namespace: string; labels: Record<string, string>; want: string[] }[] = [
    { name: 'one label', namespace: 'a', labels: { app: 'web' }, want: ['web'] },
    { name: 'every selector that matches, in map order', namespace: 'a', labels: { version: 'v2', app: 'web' }, want: ['web', 'web-v2', 'by-version'] },
    { name: 'a selector needs all its pairs', namespace: 'a', labels: { app: 'db', version: 'v2' }, want: ['by-version'] },
    { name: 'extra labels do not matter', namespace: 'a', labels: { app: 'web', team: 'x' }, want: ['web'] },
    { name: 'no labels: no selector-less or empty-selector service', namespace: 'a', labels: {}, want: [] },
    { name: 'selectors stay in their namespace', namespace: 'b', labels: { app: 'web', version: 'v2' }, want: ['web'] },
    { name: 'unknown namespace', namespace: 'c', labels: { app: 'web' }, want: [] },
  ];
  for (const c of cases) {
    const got = index.selecting(podWith(c.namespace, c.labels)).map((s) => s.metadata.name);
    assert.deepEqual(got, c.want, c.name);
  }
});

test('ServiceIndex: ExternalName services are left out; slices by service-name label', () => {
  assert.deepEqual(index.meshServices.map(([key]) => key), ['a/web', 'a/web-v2', 'a/by-version', 'a/manual', 'a/empty', 'b/web']);
  const svc = (key: string) => {
    const s = objects.services.get(key);
    assert.ok(s !== undefined);
    return s;
  };
  const cases: { service: string; want: string[] }[] = [
    { service: 'a/web', want: ['a/web-1', 'a/web-2'] },
    { service: 'b/web', want: ['b/web-1'] },
    { service: 'a/manual', want: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(index.slicesOf(svc(c.service)).map((s) => `${s.metadata.namespace}/${s.metadata.name}`), c.want, c.service);
  }
});
