import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globalLimit, parseCurlInclude, realisticPolicies, SPLIT, VERSIONS } from './policy-scene.ts';

test('parseCurlInclude: status, lower-case headers and the echo reply', () => {
  const a = parseCurlInclude('HTTP/1.1 200 OK\r\nX-RateLimit-Limit: 5, 5;w=60\r\ncontent-type: application/json\r\n\r\n{"pod":"echo-v2","headers":{}}');
  assert.equal(a.status, 200);
  assert.equal(a.headers['x-ratelimit-limit'], '5, 5;w=60');
  assert.equal(a.reply?.pod, 'echo-v2');
  const b = parseCurlInclude('HTTP/1.1 429 Too Many Requests\r\n\r\nlocal_rate_limited');
  assert.deepEqual([b.status, b.reply], [429, undefined]);
  assert.deepEqual(parseCurlInclude(''), { status: 0, headers: {}, reply: undefined });
});

test('realisticPolicies: subsets by version, the split over them with retries, outlier detection and a local limit on the host', () => {
  const [dr, vs, limit] = realisticPolicies('policy').map((p) => p.manifest as { kind: string; spec: Record<string, unknown> });
  assert.equal(dr?.kind, 'DestinationRule');
  assert.deepEqual(dr?.spec['subsets'], VERSIONS.map((v) => ({ name: v, labels: { version: v } })));
  assert.ok((dr?.spec['trafficPolicy'] as { outlierDetection?: unknown }).outlierDetection !== undefined);
  assert.equal(vs?.kind, 'VirtualService');
  const [route] = vs?.spec['http'] as { retries: unknown; route: { destination: { host: string; subset: string }; weight: number }[] }[];
  assert.deepEqual(route?.retries, { attempts: 2, retryOn: '5xx' });
  assert.deepEqual(route?.route.map((r) => [r.destination.host, r.destination.subset, r.weight]), [['policy', 'v1', 80], ['policy', 'v2', 10], ['policy', 'v3', 10]]);
  assert.equal(SPLIT.reduce((a, b) => a + b, 0), 100);
  assert.equal(limit?.kind, 'BackendTrafficPolicy');
  assert.deepEqual((limit?.spec['rateLimit'] as { type: string }).type, 'Local');
  const global = globalLimit('limited') as { spec: { targetRefs: { name: string }[]; rateLimit: { type: string } } };
  assert.deepEqual([global.spec.targetRefs[0]?.name, global.spec.rateLimit.type], ['limited', 'Global']);
});
