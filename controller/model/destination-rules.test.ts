// DestinationRule → destination policy, one case per rule Istio's DestinationRule reference
// states (istio/api networking/v1alpha3/destination_rule.proto, its examples reused): subsets
// as label selectors over the Service's endpoints, subset and port-level overrides, load
// balancers and their defaults, connection pools, outlier detection defaults, short names,
// exportTo, and which rule applies where several could (pilot's destinationRule lookup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DestinationPolicy } from '#core/config/routes.ts';
import { gateway, objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import { DestinationRuleIndex } from '#controller/model/destination-rules.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

const REVIEWS = 'shop/reviews.shop.svc.cluster.local';

function dr(name: string, spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace }, spec };
}

const ports = [{ name: 'http', port: 9080, targetPort: 9080 }, { name: 'web', port: 80, targetPort: 8080 }];

/** reviews with pods v1, v2, v3 (v3 not running), and a pod that has a version label but is not behind reviews. */
const base = (): unknown[] => [
  gateway('shop', 'waypoint'),
  service('shop', 'reviews', { selector: { app: 'reviews' }, ports }),
  service('shop', 'ratings', { selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] }),
  pod('shop', 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
  pod('shop', 'reviews-v2', { labels: { app: 'reviews', version: 'v2' } }),
  pod('shop', 'reviews-v3', { labels: { app: 'reviews', version: 'v3' } }),
  pod('shop', 'reviews-v3-pending', { labels: { app: 'reviews', version: 'v3' }, phase: 'Pending', ip: '' }),
  pod('shop', 'other-v1', { labels: { app: 'other', version: 'v1' } }),
];

function index(docs: unknown[], rootNamespace = 'istio-system'): DestinationRuleIndex {
  return new DestinationRuleIndex(objectsFrom([...base(), ...docs]), { clusterId: 'Kubernetes', rootNamespace });
}

function policy(docs: unknown[], serviceKey = 'shop/reviews', waypoint = 'shop/waypoint'): DestinationPolicy | undefined {
  return index(docs).policyFor(serviceKey, waypoint);
}

function conditions(docs: unknown[], uses: [string, string][] = [['shop/reviews', 'shop/waypoint']]): ResourceCondition[] {
  const ix = index(docs);
  for (const [svc, wp] of uses) ix.policyFor(svc, wp);
  return ix.conditions();
}

const outlierDefaults = { consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 10, minHealthPercent: 0 };

test('a simple load balancing policy: every request to the host, any subset and port', () => {
  const p = policy([dr('bookinfo-ratings', { host: 'reviews.shop.svc.cluster.local', trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } })]);
  assert.deepEqual(p, { service: REVIEWS, rules: ['shop/bookinfo-ratings'], subsets: [], policies: [{ loadBalancer: { simple: 'LEAST_REQUEST' } }] });
});

test('subsets: label selectors over the Service\'s running endpoints, resolved to workload uids', () => {
  const p = policy([dr('reviews', { host: 'reviews', subsets: [
    { name: 'v1', labels: { version: 'v1' } }, { name: 'v3', labels: { version: 'v3' } }, { name: 'all', labels: {} }, { name: 'none', labels: { version: 'v9' } },
  ] })]);
  assert.deepEqual(p?.subsets, [
    // other-v1 has the label but is not behind reviews; the pending v3 pod is no workload yet.
    { name: 'v1', workloads: ['uid-shop-reviews-v1'] },
    { name: 'v3', workloads: ['uid-shop-reviews-v3'] },
    { name: 'all', workloads: ['uid-shop-reviews-v1', 'uid-shop-reviews-v2', 'uid-shop-reviews-v3'] },
    { name: 'none', workloads: [] },
  ]);
  assert.deepEqual(p?.policies, []);
});

test('a subset\'s policy overrides the rule\'s settings it names and inherits the rest, for that subset only', () => {
  const p = policy([dr('bookinfo-ratings', {
    host: 'reviews',
    trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' }, outlierDetection: { consecutive5xxErrors: 7 } },
    subsets: [{ name: 'testversion', labels: { version: 'v3' }, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } }, { name: 'v1', labels: { version: 'v1' } }],
  })]);
  const od = { ...outlierDefaults, consecutive5xxErrors: 7 };
  assert.deepEqual(p?.policies, [
    { subset: 'testversion', loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: od },
    // v1 has no policy of its own: the rule-level one below applies to it (Istio: "not until a route sends to the subset").
    { loadBalancer: { simple: 'LEAST_REQUEST' }, outlierDetection: od },
  ]);
});

test('port-level settings replace the rule-level policy for their port, without inheriting omitted fields', () => {
  const p = policy([dr('bookinfo-ratings-port', {
    host: 'reviews',
    trafficPolicy: {
      outlierDetection: { consecutive5xxErrors: 3 },
      portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: 'LEAST_REQUEST' } }, { port: { number: 9080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
    },
  })]);
  assert.deepEqual(p?.policies, [
    { port: 80, loadBalancer: { simple: 'LEAST_REQUEST' } },
    { port: 9080, loadBalancer: { simple: 'ROUND_ROBIN' } },
    { outlierDetection: { ...outlierDefaults, consecutive5xxErrors: 3 } },
  ]);
});

test('a subset over port-level settings: the rule\'s port setting, then the subset\'s; a subset port setting replaces every field', () => {
  const p = policy([dr('mixed', {
    host: 'reviews',
    trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' }, portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: 'RANDOM' }, outlierDetection: {} }] },
    subsets: [{ name: 'v2', labels: { version: 'v2' }, trafficPolicy: {
      connectionPool: { http: { http2MaxRequests: 10 } },
      portLevelSettings: [{ port: { number: 9080 }, connectionPool: { tcp: { maxConnections: 1 } } }],
    } }],
  })]);
  assert.deepEqual(p?.policies, [
    { subset: 'v2', port: 80, loadBalancer: { simple: 'RANDOM' }, outlierDetection: outlierDefaults, connectionPool: { http: { http2MaxRequests: 10 } } },
    { subset: 'v2', port: 9080, connectionPool: { tcp: { maxConnections: 1 } } },
    { subset: 'v2', loadBalancer: { simple: 'LEAST_REQUEST' }, connectionPool: { http: { http2MaxRequests: 10 } } },
    { port: 80, loadBalancer: { simple: 'RANDOM' }, outlierDetection: outlierDefaults },
    { loadBalancer: { simple: 'LEAST_REQUEST' } },
  ]);
});

test('load balancers: Istio\'s names, the deprecated LEAST_CONN, consistent hash keys and algorithm defaults', () => {
  const lb = (loadBalancer: unknown): unknown => policy([dr('lb', { host: 'reviews', trafficPolicy: { loadBalancer } })])?.policies[0]?.loadBalancer;
  const rows: [unknown, unknown][] = [
    [{ simple: 'ROUND_ROBIN' }, { simple: 'ROUND_ROBIN' }],
    [{ simple: 'RANDOM' }, { simple: 'RANDOM' }],
    [{ simple: 'LEAST_CONN' }, { simple: 'LEAST_REQUEST' }],
    [{ simple: 'UNSPECIFIED' }, undefined],
    // "hashing-based load balancer ... using the User cookie as the hash key"; RingHash when unset, 1024 virtual nodes.
    [{ consistentHash: { httpCookie: { name: 'user', ttl: '0s' } } }, { consistentHash: { key: { cookie: { name: 'user', ttl: 0 } }, algorithm: { ringHash: { minimumRingSize: 1024 } } } }],
    [{ consistentHash: { httpCookie: { name: 'user', path: '/', ttl: '1h' } } }, { consistentHash: { key: { cookie: { name: 'user', path: '/', ttl: 3_600_000 } }, algorithm: { ringHash: { minimumRingSize: 1024 } } } }],
    [{ consistentHash: { httpHeaderName: 'X-User', ringHash: { minimumRingSize: 2048 } } }, { consistentHash: { key: { header: 'x-user' }, algorithm: { ringHash: { minimumRingSize: 2048 } } } }],
    [{ consistentHash: { useSourceIp: true, minimumRingSize: 512 } }, { consistentHash: { key: { sourceIp: true }, algorithm: { ringHash: { minimumRingSize: 512 } } } }],
    // Maglev: "If it is not specified, the default is 65537".
    [{ consistentHash: { httpQueryParameterName: 'u', maglev: {} } }, { consistentHash: { key: { queryParameter: 'u' }, algorithm: { maglev: { tableSize: 65537 } } } }],
    [{ consistentHash: { httpQueryParameterName: 'u', maglev: { tableSize: 251 } } }, { consistentHash: { key: { queryParameter: 'u' }, algorithm: { maglev: { tableSize: 251 } } } }],
  ];
  for (const [given, want] of rows) assert.deepEqual(lb(given), want, JSON.stringify(given));
});

test('rules Istio\'s validation refuses are not applied, and say why', () => {
  const rows: [string, Record<string, unknown>, string][] = [
    ['maglev table size must be prime', { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65536 } } } } }, 'maglev.tableSize'],
    ['maglev table size below 5000011', { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 5_000_011 } } } } }, 'maglev.tableSize'],
    ['one hash key', { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, httpHeaderName: 'x' } } } }, 'consistentHash'],
    ['one load balancer', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM', consistentHash: { useSourceIp: true } } } }, 'loadBalancer'],
    ['a pool needs tcp or http', { host: 'reviews', trafficPolicy: { connectionPool: {} } }, 'connectionPool'],
    ['limits are non-negative', { host: 'reviews', trafficPolicy: { connectionPool: { tcp: { maxConnections: -1 } } } }, 'maxConnections'],
    ['percentages are 0-100', { host: 'reviews', trafficPolicy: { outlierDetection: { maxEjectionPercent: 150 } } }, 'maxEjectionPercent'],
    ['durations are at least 1ms', { host: 'reviews', trafficPolicy: { outlierDetection: { interval: '0s' } } }, 'interval'],
    ['a port setting sets something', { host: 'reviews', trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } }, 'portLevelSettings[0]'],
    ['subset names are DNS labels', { host: 'reviews', subsets: [{ name: 'V_1', labels: {} }] }, 'subsets[0].name'],
    ['subset names are unique', { host: 'reviews', subsets: [{ name: 'v1' }, { name: 'v1' }] }, 'subsets[1].name'],
    ['unknown fields are named', { host: 'reviews', trafficPolicy: { loadBalancer: { simpel: 'RANDOM' } } }, 'simpel'],
    ['workload selectors apply to chosen clients, not to waypoints', { host: 'reviews', workloadSelector: { matchLabels: { app: 'x' } } }, 'workloadSelector'],
    ['an unknown spec field from the parser', { host: 'reviews', trafficPolicies: {} }, 'trafficPolicies'],
  ];
  for (const [name, spec, field] of rows) {
    const ix = index([dr('bad', spec)]);
    assert.equal(ix.policyFor('shop/reviews', 'shop/waypoint'), undefined, name);
    const c = ix.conditions().find((x) => x.name === 'bad' && x.type === 'Accepted');
    assert.equal(c?.status, 'False', name);
    assert.equal(c.reason, 'UnsupportedValue', name);
    assert.match(c.message, new RegExp(field.replace(/[[\]]/g, '\\$&')), name);
  }
});

test('connection pool: the circuit-breaking limits weft enforces; the rest is named and left out', () => {
  const docs = [dr('bookinfo-redis', { host: 'reviews', trafficPolicy: { connectionPool: {
    tcp: { maxConnections: 100, connectTimeout: '30ms', tcpKeepalive: { time: '7200s', interval: '75s' } },
    http: { http1MaxPendingRequests: 1, http2MaxRequests: 1000, maxRequestsPerConnection: 10, maxRetries: 0 },
  } } })];
  assert.deepEqual(policy(docs)?.policies, [{ connectionPool: {
    tcp: { maxConnections: 100, connectTimeout: 30 },
    // maxRetries 0 is proto3's unset: no limit.
    http: { http1MaxPendingRequests: 1, http2MaxRequests: 1000, maxRequestsPerConnection: 10 },
  } }]);
  const c = conditions(docs);
  assert.deepEqual(c.map((x) => [x.type, x.status, x.reason]), [['Accepted', 'True', 'Accepted'], ['PartiallyInvalid', 'True', 'UnsupportedValue']]);
  assert.match(c[1]?.message ?? '', /spec\.trafficPolicy\.connectionPool\.tcp\.tcpKeepalive/);
});

test('every connectionPool and outlierDetection field is either pushed to the waypoint or named in a condition', () => {
  const rows: [string, unknown][] = [
    ['connectionPool.tcp.maxConnections', 5], ['connectionPool.tcp.connectTimeout', '2s'], ['connectionPool.tcp.tcpKeepalive', { time: '60s' }],
    ['connectionPool.tcp.maxConnectionDuration', '60s'], ['connectionPool.tcp.idleTimeout', '60s'],
    ['connectionPool.http.http1MaxPendingRequests', 5], ['connectionPool.http.http2MaxRequests', 5], ['connectionPool.http.maxRequestsPerConnection', 5],
    ['connectionPool.http.maxRetries', 5], ['connectionPool.http.idleTimeout', '60s'], ['connectionPool.http.h2UpgradePolicy', 'UPGRADE'],
    ['connectionPool.http.useClientProtocol', true], ['connectionPool.http.maxConcurrentStreams', 5],
    ['outlierDetection.consecutiveErrors', 5], ['outlierDetection.splitExternalLocalOriginErrors', true], ['outlierDetection.consecutiveLocalOriginFailures', 5],
    ['outlierDetection.consecutiveGatewayErrors', 5], ['outlierDetection.consecutive5xxErrors', 9], ['outlierDetection.interval', '7s'],
    ['outlierDetection.baseEjectionTime', '7s'], ['outlierDetection.maxEjectionPercent', 50], ['outlierDetection.minHealthPercent', 50],
  ];
  for (const [path, value] of rows) {
    const keys = path.split('.');
    const trafficPolicy: Record<string, unknown> = {};
    let at = trafficPolicy;
    for (const k of keys.slice(0, -1)) at = (at[k] = {});
    at[keys.at(-1) ?? ''] = value;
    const docs = [dr('x', { host: 'reviews', trafficPolicy })];
    const pushed = JSON.stringify(policy(docs)?.policies ?? []).includes(`"${keys.at(-1) ?? ''}":`);
    const named = (conditions(docs).find((c) => c.type === 'PartiallyInvalid')?.message ?? '').includes(`spec.trafficPolicy.${path}`);
    assert.ok(pushed !== named, `${path}: pushed ${pushed}, named in a condition ${named}`);
  }
});

test('outlier detection: the reviews-cb-policy example, and every default Istio documents', () => {
  const od = (outlierDetection: unknown): unknown => policy([dr('reviews-cb-policy', { host: 'reviews', trafficPolicy: { outlierDetection } })])?.policies[0]?.outlierDetection;
  assert.deepEqual(od({ consecutive5xxErrors: 7, interval: '5m', baseEjectionTime: '15m' }), { ...outlierDefaults, consecutive5xxErrors: 7, interval: 300_000, baseEjectionTime: 900_000 });
  // consecutive5xxErrors defaults to 5, gateway errors off, interval 10s, base ejection 30s, at most 10 % ejected, 0 % min health.
  assert.deepEqual(od({}), outlierDefaults);
  // "can be disabled by setting the value to 0"; maxEjectionPercent 0 is left to Envoy's default, as Istio does.
  assert.deepEqual(od({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, maxEjectionPercent: 0, minHealthPercent: 50 }),
    { ...outlierDefaults, consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, minHealthPercent: 50 });
  const c = conditions([dr('x', { host: 'reviews', trafficPolicy: { outlierDetection: { consecutiveErrors: 3 } } })]);
  assert.match(c.find((x) => x.type === 'PartiallyInvalid')?.message ?? '', /consecutiveErrors \(it is deprecated/);
});

test('TLS settings: ISTIO_MUTUAL is what HBONE already does; other modes are named and left out', () => {
  assert.deepEqual(conditions([dr('mtls', { host: 'reviews', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } })]).map((c) => c.type), ['Accepted']);
  const c = conditions([dr('simple', { host: 'reviews', trafficPolicy: { tls: { mode: 'SIMPLE' } } })]);
  assert.match(c.find((x) => x.type === 'PartiallyInvalid')?.message ?? '', /spec\.trafficPolicy\.tls/);
});

test('a short host is read in the rule\'s namespace, not the Service\'s', () => {
  const docs = [dr('reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }, 'default')];
  assert.equal(policy(docs), undefined);
  const c = conditions(docs).find((x) => x.name === 'reviews');
  assert.equal(c?.reason, 'HostNotFound');
  assert.match(c.message, /reviews\.default\.svc\.cluster\.local matches no Service/);
});

test('which rule applies: the waypoint\'s namespace, then the Service\'s, then the root; an exact host before a wildcard', () => {
  const rule = (name: string, host: string, ns: string, simple: string, exportTo?: string[]): unknown =>
    dr(name, { host, ...(exportTo === undefined ? {} : { exportTo }), trafficPolicy: { loadBalancer: { simple } } }, ns);
  const lbOf = (docs: unknown[], waypoint = 'shop/waypoint'): string | undefined => policy(docs, 'shop/reviews', waypoint)?.rules.join(',');
  const root = rule('mesh-wide', '*.svc.cluster.local', 'istio-system', 'RANDOM');
  const svcWildcard = rule('shop-all', '*.shop.svc.cluster.local', 'shop', 'ROUND_ROBIN');
  const svcExact = rule('reviews', 'reviews', 'shop', 'LEAST_REQUEST');
  const atWaypoint = rule('infra-reviews', 'reviews.shop.svc.cluster.local', 'infra', 'RANDOM');
  assert.equal(lbOf([root]), 'istio-system/mesh-wide');
  assert.equal(lbOf([root, svcWildcard]), 'shop/shop-all');
  assert.equal(lbOf([root, svcWildcard, svcExact]), 'shop/reviews');
  // A waypoint in namespace infra reads its own namespace first.
  assert.equal(lbOf([root, svcExact, atWaypoint], 'infra/waypoint'), 'infra/infra-reviews');
  assert.equal(lbOf([root, svcExact, atWaypoint]), 'shop/reviews');
  // exportTo ".": visible in the rule's namespace only, so a waypoint elsewhere falls through to the root.
  assert.equal(lbOf([root, rule('private', 'reviews', 'shop', 'RANDOM', ['.'])], 'infra/waypoint'), 'istio-system/mesh-wide');
  const c = conditions([root, svcExact]);
  assert.deepEqual(c.map((x) => [x.name, x.status, x.reason]), [['mesh-wide', 'False', 'Overridden'], ['reviews', 'True', 'Accepted']]);
  // A rule of an unrelated namespace never applies to a waypoint.
  const elsewhere = conditions([rule('stray', 'reviews.shop.svc.cluster.local', 'third', 'RANDOM')]);
  assert.equal(elsewhere[0]?.reason, 'OtherNamespace');
  const hidden = conditions([rule('private', 'reviews', 'shop', 'RANDOM', ['.'])], [['shop/reviews', 'infra/waypoint']]);
  assert.equal(hidden[0]?.reason, 'NotExported');
});

test('rules of one namespace for the same host merge: subsets added, the first traffic policy kept', () => {
  const p = policy([
    dr('b-second', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } }, subsets: [{ name: 'v1', labels: { version: 'v2' } }, { name: 'v3', labels: { version: 'v3' } }] }),
    dr('a-first', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
  ]);
  assert.deepEqual(p?.rules, ['shop/a-first', 'shop/b-second']);
  assert.deepEqual(p?.subsets, [{ name: 'v1', workloads: ['uid-shop-reviews-v1'] }, { name: 'v3', workloads: ['uid-shop-reviews-v3'] }]);
  assert.deepEqual(p?.policies, [{ loadBalancer: { simple: 'ROUND_ROBIN' } }]);
});

test('a Service without a selector: subsets pick from the pods its EndpointSlices name', () => {
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'manual-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'manual' } },
    addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'reviews-v2', namespace: 'shop' } }], ports: [],
  };
  const p = policy([service('shop', 'manual', { ports }), slice, dr('manual', { host: 'manual', subsets: [{ name: 'v2', labels: { version: 'v2' } }] })], 'shop/manual');
  assert.deepEqual(p?.subsets, [{ name: 'v2', workloads: ['uid-shop-reviews-v2'] }]);
});

test('conditions: where a rule is applied, and why one is not', () => {
  const docs = [dr('reviews', { host: 'reviews' }), dr('ratings', { host: 'ratings' }), dr('gone', { host: 'gone' })];
  const c = conditions(docs, [['shop/reviews', 'shop/waypoint'], ['shop/reviews', 'infra/waypoint']]);
  const by = (name: string): ResourceCondition | undefined => c.find((x) => x.name === name);
  assert.equal(by('reviews')?.message, 'applied by waypoint shop/waypoint to requests for Service shop/reviews; by waypoint infra/waypoint to requests for Service shop/reviews');
  assert.equal(by('ratings')?.reason, 'NoWaypoint');
  assert.equal(by('gone')?.reason, 'HostNotFound');
});
