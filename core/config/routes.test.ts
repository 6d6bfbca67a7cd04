// The route table's value rules and wire validator. Scenarios: the GEP-2257 duration test
// vectors, the HTTPPathMatch CEL rules for Exact/PathPrefix values, the regex dialect, and a
// pushed table read back field by field (with the path of the first bad field when it fails),
// for Gateway API entries and for what VirtualServices and DestinationRules add.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldError } from '#core/config/fields.ts';
import {
  compileRouteRegex, normalizePathPrefix, parseGatewayDuration, parseServiceRoutes, pathValueProblem, regexProblem,
  type ServiceRoutes,
} from '#core/config/routes.ts';

test('parseGatewayDuration: GEP-2257 test vectors', () => {
  const valid: [string, number][] = [
    ['0h', 0], ['0s', 0], ['0h0m0s', 0], ['1h', 3_600_000], ['30m', 1_800_000], ['10s', 10_000], ['500ms', 500],
    ['2h30m', 9_000_000], ['150m', 9_000_000], ['7230s', 7_230_000], ['1h30m10s', 5_410_000], ['10s30m1h', 5_410_000],
    ['100ms200ms300ms', 600], ['1h2m', 3_720_000], ['1s', 1000], ['01h', 3_600_000], ['00060m', 3_600_000],
  ];
  for (const [text, ms] of valid) assert.equal(parseGatewayDuration(text), ms, text);
  for (const text of ['1', '1m1', '1d', '1h30m10s20ms50h', '999999h', '1.5h', '-15m', '', '0', ' 1s', '1S']) {
    assert.equal(parseGatewayDuration(text), undefined, text);
  }
});

test('pathValueProblem: the HTTPPathMatch rules for Exact and PathPrefix', () => {
  const rows: [string, boolean][] = [
    ['/', true], ['/foo', true], ['/foo/', true], ['/a-b_c.d~e!$&\'()*+,;=:@', true], ['/%41', true],
    ['foo', false], ['//', false], ['/foo//bar', false], ['/./', false], ['/a/../b', false], ['/%2f', false], ['/%2F', false],
    ['/a#b', false], ['/a/..', false], ['/a/.', false], ['/a b', false], ['/a?b', false], ['/%zz', false], [`/${'a'.repeat(1024)}`, false],
  ];
  for (const [value, ok] of rows) assert.equal(pathValueProblem(value) === undefined, ok, value);
});

test('normalizePathPrefix: a trailing slash is ignored, the root stays', () => {
  for (const [v, want] of [['/', '/'], ['/foo', '/foo'], ['/foo/', '/foo'], ['/foo//', '/foo']] as const) assert.equal(normalizePathPrefix(v), want);
});

test('compileRouteRegex: full match, (?i), and RE2 limits', () => {
  const rows: [string, string, boolean][] = [
    ['/v[0-9]+', '/v12', true],
    ['/v[0-9]+', '/v12/x', false],
    ['/v[0-9]+', 'x/v12', false],
    ['a|b', 'a', true],
    ['a|b', 'ab', false],
    ['(?i)abc', 'ABC', true],
    ['abc', 'ABC', false],
  ];
  for (const [source, input, want] of rows) assert.equal(compileRouteRegex(source).test(input), want, `${source} on ${input}`);
  for (const bad of ['(', '[a-', 'a{2,1}', '(?=a)b', '(?!a)b', '(?<=a)b', '(?<!a)b', '(a)\\1', '(?<n>a)\\k<n>']) {
    assert.notEqual(regexProblem(bad), undefined, bad);
  }
  for (const good of ['[(?=]', '\\(?=x', '(?:a)', '(?<name>a)', '[\\(]']) assert.equal(regexProblem(good), undefined, good);
});

const table: ServiceRoutes = {
  service: 'ns/echo.ns.svc.cluster.local',
  waypoint: 'ns/waypoint',
  entries: [
    {
      route: { kind: 'HTTPRoute', namespace: 'ns', name: 'r', rule: 0, ruleName: 'first' },
      attachment: 'producer',
      port: 80,
      match: {
        protocol: 'http',
        path: { type: 'PathPrefix', value: '/api' },
        headers: [{ type: 'RegularExpression', name: 'x-v', value: 'v[12]' }],
        queryParams: [{ type: 'Exact', name: 'Q', value: '1' }],
        method: 'GET',
      },
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: 'a' }], add: [], remove: ['x-b'] } },
        { type: 'URLRewrite', urlRewrite: { hostname: 'example.org', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '' } } },
        { type: 'RequestMirror', requestMirror: { service: 'ns/m.ns.svc.cluster.local', port: 80, fraction: { numerator: 1, denominator: 2 } } },
      ],
      backends: [
        { service: 'ns/v1.ns.svc.cluster.local', port: 8080, weight: 3, filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [{ name: 'x-c', value: 'c' }], remove: [] } }] },
        { invalid: 'backend Service ns/gone not found', weight: 1 },
      ],
      timeouts: { request: 1000, backendRequest: 500 },
      retry: { attempts: 2, codes: [503], backoff: 100 },
    },
    {
      route: { kind: 'GRPCRoute', namespace: 'ns', name: 'g', rule: 1 },
      attachment: 'waypoint',
      match: { protocol: 'grpc', method: { type: 'Exact', service: 'pkg.Svc', method: 'Do' }, headers: [] },
      filters: [],
      backends: [],
    },
    {
      route: { kind: 'HTTPRoute', namespace: 'ns', name: 'redir', rule: 0 },
      attachment: 'consumer',
      match: { protocol: 'http', path: { type: 'Exact', value: '/old' }, headers: [], queryParams: [] },
      filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'example.org', port: 8443, statusCode: 301, path: { type: 'ReplaceFullPath', replaceFullPath: '/new' } } }],
      backends: [],
    },
  ],
};

test('parseServiceRoutes: a valid table reads back equal, as a fresh copy without unknown keys', () => {
  const wire: unknown = JSON.parse(JSON.stringify({ ...table, extra: 1 }));
  const parsed = parseServiceRoutes(wire, 'routes');
  assert.deepEqual(parsed, table);
  assert.notEqual(parsed.entries, (wire as ServiceRoutes).entries);
});

test('parseServiceRoutes: every field is checked and the first bad one is named', () => {
  const mutate = (f: (t: Record<string, unknown>) => void): unknown => {
    const t = JSON.parse(JSON.stringify(table)) as Record<string, unknown>;
    f(t);
    return t;
  };
  const entry = (t: Record<string, unknown>, i = 0): Record<string, unknown> => (t['entries'] as Record<string, unknown>[])[i] ?? {};
  const match = (t: Record<string, unknown>, i = 0): Record<string, unknown> => entry(t, i)['match'] as Record<string, unknown>;
  const rows: [string, unknown, string][] = [
    ['not an object', [], 'routes'],
    ['service key', mutate((t) => { t['service'] = 'echo'; }), 'routes.service'],
    ['waypoint key', mutate((t) => { delete t['waypoint']; }), 'routes.waypoint'],
    ['attachment', mutate((t) => { entry(t)['attachment'] = 'gateway'; }), 'routes.entries[0].attachment'],
    ['route kind', mutate((t) => { (entry(t)['route'] as Record<string, unknown>)['kind'] = 'TCPRoute'; }), 'routes.entries[0].route.kind'],
    ['match protocol must follow the route kind', mutate((t) => { match(t, 1)['protocol'] = 'http'; }), 'routes.entries[1].match.protocol'],
    ['invalid regex never reaches the waypoint', mutate((t) => { (match(t)['headers'] as Record<string, unknown>[])[0] = { type: 'RegularExpression', name: 'x-v', value: '(' }; }), 'routes.entries[0].match.headers[0].value'],
    ['header names are lower-case', mutate((t) => { (match(t)['headers'] as Record<string, unknown>[])[0] = { type: 'Exact', name: 'X-V', value: 'a' }; }), 'routes.entries[0].match.headers[0].name'],
    ['prefix without trailing slash', mutate((t) => { match(t)['path'] = { type: 'PathPrefix', value: '/api/' }; }), 'routes.entries[0].match.path.value'],
    ['path syntax', mutate((t) => { match(t)['path'] = { type: 'Exact', value: 'api' }; }), 'routes.entries[0].match.path.value'],
    ['method', mutate((t) => { match(t)['method'] = 'get'; }), 'routes.entries[0].match.method'],
    ['grpc method needs service or method', mutate((t) => { match(t, 1)['method'] = { type: 'Exact' }; }), 'routes.entries[1].match.method'],
    ['redirect status', mutate((t) => { ((entry(t, 2)['filters'] as Record<string, unknown>[])[0]?.['requestRedirect'] as Record<string, unknown>)['statusCode'] = 300; }), 'routes.entries[2].filters[0].requestRedirect.statusCode'],
    ['gRPC has no redirect', mutate((t) => { entry(t, 1)['filters'] = [{ type: 'URLRewrite', urlRewrite: {} }]; }), 'routes.entries[1].filters[0].type'],
    ['mirror fraction', mutate((t) => { ((entry(t)['filters'] as Record<string, unknown>[])[2]?.['requestMirror'] as Record<string, unknown>)['fraction'] = { numerator: 3, denominator: 2 }; }), 'routes.entries[0].filters[2].requestMirror.fraction.numerator'],
    ['one action per header', mutate((t) => { (entry(t)['filters'] as Record<string, unknown>[])[0] = { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: '1' }], add: [], remove: ['A'] } }; }), 'routes.entries[0].filters[0].requestHeaderModifier'],
    ['weight range', mutate((t) => { (entry(t)['backends'] as Record<string, unknown>[])[0] = { service: 'ns/v1.ns.svc.cluster.local', port: 8080, weight: -1 }; }), 'routes.entries[0].backends[0].weight'],
    ['backend port', mutate((t) => { (entry(t)['backends'] as Record<string, unknown>[])[0] = { service: 'ns/v1.ns.svc.cluster.local', port: 0, weight: 1 }; }), 'routes.entries[0].backends[0].port'],
    ['timeouts', mutate((t) => { entry(t)['timeouts'] = { request: '1s' }; }), 'routes.entries[0].timeouts.request'],
    ['retry codes', mutate((t) => { entry(t)['retry'] = { codes: [200] }; }), 'routes.entries[0].retry.codes[0]'],
    ['retry attempts', mutate((t) => { entry(t)['retry'] = { codes: [], attempts: 0 }; }), 'routes.entries[0].retry.attempts'],
  ];
  for (const [name, v, path] of rows) {
    assert.throws(() => parseServiceRoutes(v, 'routes'), (err: unknown) => err instanceof FieldError && err.path === path, name);
  }
});

/** A table with what VirtualServices and DestinationRules add: faults, Envoy retry conditions, subsets, destination policy. */
const istioTable: ServiceRoutes = {
  service: 'shop/reviews.shop.svc.cluster.local',
  waypoint: 'shop/waypoint',
  entries: [
    {
      route: { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule: 0, ruleName: 'canary' },
      attachment: 'producer',
      port: 9080,
      match: {
        protocol: 'http', path: { type: 'RegularExpression', value: '(?i)/api.*' }, headers: [], queryParams: [],
        sourceWorkloads: ['uid-a', 'uid-b'], sourceNamespace: 'front',
      },
      filters: [
        { type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '/api', replacement: '/v2', ignoreCase: true } } },
        { type: 'RequestMirror', requestMirror: { service: 'shop/reviews.shop.svc.cluster.local', port: 9080, fraction: { numerator: 1, denominator: 1_000_000 }, subset: 'v3' } },
      ],
      backends: [
        { service: 'shop/reviews.shop.svc.cluster.local', port: 9080, weight: 80, subset: 'v1' },
        { service: 'shop/reviews.shop.svc.cluster.local', port: 9080, weight: 20, subset: 'v2' },
      ],
      timeouts: { request: 3000, backendRequest: 100 },
      retry: { attempts: 3, codes: [503], on: ['5xx', 'retriable-status-codes'], ignorePreviousHosts: false },
      fault: { delay: { fixedDelay: 2000, fraction: { numerator: 1_000_000, denominator: 1_000_000 } }, abort: { grpcStatus: 14, fraction: { numerator: 500_000, denominator: 1_000_000 } } },
    },
    {
      route: { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule: 1 },
      attachment: 'producer',
      port: 9080,
      match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
      filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, replacePrefix: { prefix: '/', replacement: '/new/' }, port: 80 } }],
      backends: [],
      fault: { abort: { httpStatus: 503, fraction: { numerator: 0, denominator: 1_000_000 } } },
    },
  ],
  destinations: [
    {
      service: 'shop/reviews.shop.svc.cluster.local',
      rules: ['shop/reviews', 'shop/reviews-extra'],
      subsets: [{ name: 'v1', workloads: ['uid-1'] }, { name: 'v2', workloads: [] }, { name: 'v3', workloads: ['uid-3'] }],
      policies: [
        { subset: 'v2', port: 9080, loadBalancer: { consistentHash: { key: { cookie: { name: 'user', path: '/', ttl: 0 } }, algorithm: { maglev: { tableSize: 65537 } } } } },
        { subset: 'v2', loadBalancer: { consistentHash: { key: { header: 'x-user' }, algorithm: { ringHash: { minimumRingSize: 1024 } } } } },
        {
          port: 9080,
          loadBalancer: { simple: 'ROUND_ROBIN' },
          connectionPool: { tcp: { maxConnections: 100, connectTimeout: 30 }, http: { http1MaxPendingRequests: 1, http2MaxRequests: 1000, maxRequestsPerConnection: 10, maxRetries: 3 } },
        },
        {
          loadBalancer: { simple: 'LEAST_REQUEST' },
          outlierDetection: { consecutive5xxErrors: 7, consecutiveGatewayErrors: 0, interval: 300_000, baseEjectionTime: 900_000, maxEjectionPercent: 10, minHealthPercent: 0 },
        },
      ],
    },
    { service: 'shop/ratings.shop.svc.cluster.local', rules: ['shop/ratings'], subsets: [], policies: [{ loadBalancer: { consistentHash: { key: { sourceIp: true }, algorithm: { ringHash: { minimumRingSize: 1024 } } } } }] },
  ],
};

test('parseServiceRoutes: VirtualService entries and DestinationRule policies read back equal', () => {
  assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(istioTable)), 'routes'), istioTable);
  // A table may carry only a destination policy, for a Service no route matches.
  const policyOnly = { service: 'shop/ratings.shop.svc.cluster.local', waypoint: 'shop/waypoint', entries: [], destinations: istioTable.destinations?.slice(1) };
  assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(policyOnly)), 'routes'), policyOnly);
});

test('parseServiceRoutes: the new fields are checked too, and a subset must be resolvable', () => {
  type Json = Record<string, unknown>;
  const mutate = (f: (t: Json) => void): unknown => {
    const t = JSON.parse(JSON.stringify(istioTable)) as Json;
    f(t);
    return t;
  };
  const entry = (t: Json, i = 0): Json => (t['entries'] as Json[])[i] ?? {};
  const dest = (t: Json, i = 0): Json => (t['destinations'] as Json[])[i] ?? {};
  const policy = (t: Json, i: number): Json => (dest(t)['policies'] as Json[])[i] ?? {};
  const rows: [string, unknown, string][] = [
    ['VirtualService entries match HTTP', mutate((t) => { (entry(t)['match'] as Json)['protocol'] = 'grpc'; }), 'routes.entries[0].match.protocol'],
    ['source workloads are uids', mutate((t) => { (entry(t)['match'] as Json)['sourceWorkloads'] = ['']; }), 'routes.entries[0].match.sourceWorkloads[0]'],
    ['path or replacePrefix, not both', mutate((t) => { ((entry(t)['filters'] as Json[])[0]?.['urlRewrite'] as Json)['path'] = { type: 'ReplaceFullPath', replaceFullPath: '/x' }; }), 'routes.entries[0].filters[0].urlRewrite.replacePrefix'],
    ['replacePrefix needs a prefix', mutate((t) => { ((entry(t, 1)['filters'] as Json[])[0]?.['requestRedirect'] as Json)['replacePrefix'] = { replacement: '/' }; }), 'routes.entries[1].filters[0].requestRedirect.replacePrefix.prefix'],
    ['retry conditions are Envoy names', mutate((t) => { (entry(t)['retry'] as Json)['on'] = ['5xx', 'sometimes']; }), 'routes.entries[0].retry.on[1]'],
    ['codes need retriable-status-codes', mutate((t) => { (entry(t)['retry'] as Json)['on'] = ['5xx']; }), 'routes.entries[0].retry.on'],
    ['fault needs delay or abort', mutate((t) => { entry(t)['fault'] = {}; }), 'routes.entries[0].fault'],
    ['fault delay is at least 1 ms', mutate((t) => { ((entry(t)['fault'] as Json)['delay'] as Json)['fixedDelay'] = 0; }), 'routes.entries[0].fault.delay.fixedDelay'],
    ['abort is HTTP or gRPC, not both', mutate((t) => { ((entry(t)['fault'] as Json)['abort'] as Json)['httpStatus'] = 503; }), 'routes.entries[0].fault.abort'],
    ['gRPC status range', mutate((t) => { ((entry(t)['fault'] as Json)['abort'] as Json)['grpcStatus'] = 17; }), 'routes.entries[0].fault.abort.grpcStatus'],
    ['abort fraction', mutate((t) => { (((entry(t, 1)['fault'] as Json)['abort'] as Json)['fraction'] as Json)['numerator'] = 2_000_000; }), 'routes.entries[1].fault.abort.fraction.numerator'],
    ['a backend subset must be in destinations', mutate((t) => { ((entry(t)['backends'] as Json[])[0] ?? {})['subset'] = 'v9'; }), 'routes.entries[0].backends[0].subset'],
    ['a mirror subset must be in destinations', mutate((t) => { (((entry(t)['filters'] as Json[])[1] ?? {})['requestMirror'] as Json)['subset'] = 'v9'; }), 'routes.entries[0].filters[1].requestMirror.subset'],
    ['one destination per Service', mutate((t) => { dest(t, 1)['service'] = 'shop/reviews.shop.svc.cluster.local'; }), 'routes.destinations[1].service'],
    ['subset names are unique', mutate((t) => { (dest(t)['subsets'] as Json[]).push({ name: 'v1', workloads: [] }); }), 'routes.destinations[0].subsets[3].name'],
    ['a policy names a listed subset', mutate((t) => { policy(t, 0)['subset'] = 'v7'; }), 'routes.destinations[0].policies[0].subset'],
    ['one load balancer kind', mutate((t) => { policy(t, 2)['loadBalancer'] = { simple: 'RANDOM', consistentHash: {} }; }), 'routes.destinations[0].policies[2].loadBalancer'],
    ['simple load balancers', mutate((t) => { policy(t, 2)['loadBalancer'] = { simple: 'PASSTHROUGH' }; }), 'routes.destinations[0].policies[2].loadBalancer.simple'],
    ['one hash key', mutate((t) => { ((policy(t, 1)['loadBalancer'] as Json)['consistentHash'] as Json)['key'] = { header: 'a', sourceIp: true }; }), 'routes.destinations[0].policies[1].loadBalancer.consistentHash.key'],
    ['Maglev table sizes are prime', mutate((t) => { ((policy(t, 0)['loadBalancer'] as Json)['consistentHash'] as Json)['algorithm'] = { maglev: { tableSize: 65536 } }; }), 'routes.destinations[0].policies[0].loadBalancer.consistentHash.algorithm.maglev.tableSize'],
    ['pool limits are positive', mutate((t) => { ((policy(t, 2)['connectionPool'] as Json)['tcp'] as Json)['maxConnections'] = 0; }), 'routes.destinations[0].policies[2].connectionPool.tcp.maxConnections'],
    ['outlier detection is complete', mutate((t) => { delete (policy(t, 3)['outlierDetection'] as Json)['interval']; }), 'routes.destinations[0].policies[3].outlierDetection.interval'],
    ['ejection percent', mutate((t) => { (policy(t, 3)['outlierDetection'] as Json)['maxEjectionPercent'] = 101; }), 'routes.destinations[0].policies[3].outlierDetection.maxEjectionPercent'],
    ['rule keys', mutate((t) => { dest(t)['rules'] = ['reviews']; }), 'routes.destinations[0].rules[0]'],
  ];
  for (const [name, v, path] of rows) {
    assert.throws(() => parseServiceRoutes(v, 'routes'), (err: unknown) => err instanceof FieldError && err.path === path, name);
  }
  const grpcFault = JSON.parse(JSON.stringify(table)) as Json;
  ((grpcFault['entries'] as Json[])[1] ?? {})['fault'] = { abort: { grpcStatus: 14, fraction: { numerator: 1, denominator: 1 } } };
  assert.throws(() => parseServiceRoutes(grpcFault, 'routes'), (err: unknown) => err instanceof FieldError && err.path === 'routes.entries[1].fault', 'GRPCRoute entries carry no fault');
});
