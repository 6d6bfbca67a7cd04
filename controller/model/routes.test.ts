// Route compilation, table-driven. Precedence scenarios use the manifests of
// kubernetes-sigs/gateway-api conformance/tests (parents changed to a Service, GAMMA style):
// httproute-matching, httproute-matching-across-routes, httproute-path-match-order,
// httproute-query-param-matching, httproute-method-matching, grpcroute-exact-method-matching;
// backends: httproute-weight, httproute-omitted-backendrefs, httproute-invalid-nonexistent-backendref,
// httproute-invalid-cross-namespace-backend-ref, httproute-invalid-backendref-unknown-kind,
// httproute-request-percentage-mirror; parents: httproute-invalid-cross-namespace-parent-ref,
// mesh/mesh-ports, mesh/mesh-consumer-route; validation: httproute-invalid-* and the CEL rules
// of HTTPRouteRule, HTTPPathMatch, HTTPHeaderFilter, HTTPRouteTimeouts and HTTPRouteRetry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServiceRoutes } from '#core/config/routes.ts';
import type { RouteEntry, ServiceRoutes } from '#core/config/routes.ts';
import { gateway, objectsFrom, service } from '#controller/testdata/objects.ts';
import { compareRouteOrder, compileRoutes, type CompiledRoutes, type RouteCondition } from '#controller/model/routes.ts';

const ECHO = 'ns/echo.ns.svc.cluster.local';
const toEcho = [{ group: '', kind: 'Service', name: 'echo' }];

function route(name: string, spec: Record<string, unknown>, o: { namespace?: string; kind?: 'HTTPRoute' | 'GRPCRoute' } = {}): unknown {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: o.kind ?? 'HTTPRoute', metadata: { name, namespace: o.namespace ?? 'ns' }, spec: { parentRefs: toEcho, ...spec } };
}

const ports = (...p: number[]): unknown[] => p.map((port) => ({ name: `p${port}`, port, targetPort: port }));

/** The cluster every test starts from: Services in `ns` bound to waypoint ns/waypoint, `free/*` bound to none. */
const base = (): unknown[] => [
  gateway('ns', 'waypoint'),
  gateway('ns', 'ingress', { className: 'istio' }),
  service('ns', 'echo', { ports: ports(80, 8080) }),
  ...['v1', 'v2', 'v3', 'mirror'].map((n) => service('ns', n, { ports: ports(8080) })),
  service('ns', 'other', { ports: ports(80) }),
  service('other-ns', 'remote', { ports: ports(8080) }),
  service('free', 'unbound', { ports: ports(80) }),
];

const waypointOfService = (key: string): string | undefined => (key.startsWith('ns/') && key !== 'ns/waypoint' ? 'ns/waypoint' : key === 'other-ns/remote' ? 'other-ns/wp' : undefined);

function compile(docs: unknown[]): CompiledRoutes {
  return compileRoutes(objectsFrom([...base(), ...docs]), { trustDomain: 'cluster.local', waypointOfService });
}

function tableOf(out: CompiledRoutes, service = ECHO): ServiceRoutes | undefined {
  return out.routes.find((t) => t.service === service);
}

/** `route/rule`, in table order. */
function order(out: CompiledRoutes, service = ECHO): string[] {
  return (tableOf(out, service)?.entries ?? []).map((e) => `${e.route.name}/${e.route.rule}`);
}

function condition(out: CompiledRoutes, name: string, type: string, parent = 0): RouteCondition | undefined {
  return out.conditions.filter((c) => c.name === name && c.type === type)[parent];
}

const backendRef = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name, port: 8080, ...extra });

test('precedence: httproute-matching', () => {
  const out = compile([route('matching', {
    rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }, { headers: [{ name: 'version', value: 'one' }] }], backendRefs: [backendRef('v1')] },
      { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }, { headers: [{ name: 'version', value: 'two' }] }], backendRefs: [backendRef('v2')] },
    ],
  })]);
  assert.deepEqual(order(out), ['matching/1', 'matching/0', 'matching/1', 'matching/0']);
  const e = tableOf(out)?.entries ?? [];
  assert.deepEqual(e.map((x) => (x.match.protocol === 'http' ? [x.match.path.value, x.match.headers.length] : [])), [['/v2', 0], ['/', 1], ['/', 1], ['/', 0]]);
});

test('precedence: httproute-matching-across-routes ties go to namespace/name, then rule order', () => {
  const out = compile([
    route('matching-part2', { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/v2' } }, { headers: [{ name: 'version', value: 'two' }] }], backendRefs: [backendRef('v2')] }] }),
    route('matching-part1', { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }, { headers: [{ name: 'version', value: 'one' }] }], backendRefs: [backendRef('v1')] }] }),
  ]);
  assert.deepEqual(order(out), ['matching-part2/0', 'matching-part1/0', 'matching-part2/0', 'matching-part1/0']);
});

test('precedence: httproute-path-match-order, exact before prefix, longest prefix first, trailing "/" ignored', () => {
  const rule = (type: string, value: string, b: string): unknown => ({ matches: [{ path: { type, value } }], backendRefs: [backendRef(b)] });
  const out = compile([route('path-matching-order', {
    rules: [rule('Exact', '/match', 'v1'), rule('Exact', '/match/exact', 'v2'), rule('Exact', '/match/exact/one', 'v3'),
      rule('PathPrefix', '/match/', 'v3'), rule('PathPrefix', '/match/prefix/', 'v1'), rule('PathPrefix', '/match/prefix/one', 'v2')],
  })]);
  assert.deepEqual(order(out), ['path-matching-order/2', 'path-matching-order/1', 'path-matching-order/0', 'path-matching-order/5', 'path-matching-order/4', 'path-matching-order/3']);
  const prefixes = (tableOf(out)?.entries ?? []).flatMap((e) => (e.match.protocol === 'http' && e.match.path.type === 'PathPrefix' ? [e.match.path.value] : []));
  assert.deepEqual(prefixes, ['/match/prefix/one', '/match/prefix', '/match']);
});

test('precedence: httproute-query-param-matching and httproute-method-matching', () => {
  const q = (name: string, value: string): unknown => ({ name, value });
  const h = (value: string): unknown => ({ name: 'version', value });
  const b = [backendRef('v1')];
  const query = compile([route('query-param-matching', {
    rules: [
      { matches: [{ queryParams: [q('animal', 'whale')] }], backendRefs: b },
      { matches: [{ queryParams: [q('animal', 'dolphin')] }], backendRefs: b },
      { matches: [{ queryParams: [q('animal', 'dolphin'), q('color', 'blue')] }, { queryParams: [q('ANIMAL', 'Whale')] }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path1' }, queryParams: [q('animal', 'whale')] }], backendRefs: b },
      { matches: [{ headers: [h('one')], queryParams: [q('animal', 'whale')] }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path2' }, headers: [h('two')], queryParams: [q('animal', 'whale')] }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path3' }, queryParams: [q('animal', 'shark')] }, { path: { type: 'PathPrefix', value: '/path4' }, headers: [h('three')], queryParams: [q('animal', 'kraken')] }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path5' } }], backendRefs: b },
      { matches: [{ queryParams: [q('animal', 'hydra')] }], backendRefs: b },
      { matches: [{ headers: [h('four')] }], backendRefs: b },
    ],
  })]);
  assert.deepEqual(order(query).map((s) => Number(s.split('/')[1])), [5, 6, 3, 6, 7, 4, 9, 2, 0, 1, 2, 8]);
  const method = compile([route('method-matching', {
    rules: [
      { matches: [{ method: 'POST' }], backendRefs: b },
      { matches: [{ method: 'GET' }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path1' }, method: 'GET' }], backendRefs: b },
      { matches: [{ headers: [h('one')], method: 'PUT' }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path2' }, headers: [h('two')], method: 'POST' }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path3' }, method: 'PATCH' }, { path: { type: 'PathPrefix', value: '/path4' }, headers: [h('three')], method: 'DELETE' }], backendRefs: b },
      { matches: [{ path: { type: 'PathPrefix', value: '/path5' } }], backendRefs: b },
      { matches: [{ method: 'PATCH' }], backendRefs: b },
      { matches: [{ headers: [h('four')] }], backendRefs: b },
    ],
  })]);
  assert.deepEqual(order(method).map((s) => Number(s.split('/')[1])), [4, 5, 2, 5, 6, 3, 0, 1, 7, 8]);
});

test('precedence: regular expression paths rank below prefixes, longer first, and above the root prefix', () => {
  const out = compile([route('re', {
    rules: [
      { matches: [{ path: { type: 'RegularExpression', value: '/a.*' } }] },
      { matches: [{ path: { type: 'RegularExpression', value: '/a/b/.*' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/x' } }] },
    ],
  })]);
  assert.deepEqual(order(out), ['re/3', 're/1', 're/0', 're/2']);
});

test('precedence: GRPCRoute by service characters, then method characters, then headers', () => {
  const m = (service?: string, method?: string, headers = 0): unknown => ({
    method: { ...(service === undefined ? {} : { service }), ...(method === undefined ? {} : { method }) },
    headers: Array.from({ length: headers }, (_, i) => ({ name: `h${i}`, value: 'x' })),
  });
  const out = compile([route('g', {
    rules: [
      { matches: [m('pkg.Svc', 'Echo')], backendRefs: [backendRef('v1')] },
      { matches: [m('pkg.Svc', 'EchoTwo')], backendRefs: [backendRef('v2')] },
      { matches: [m('pkg.LongerService')], backendRefs: [backendRef('v1')] },
      { matches: [m(undefined, 'Echo', 2)], backendRefs: [backendRef('v1')] },
      { matches: [m('pkg.Svc', 'Echo', 1)], backendRefs: [backendRef('v1')] },
      { backendRefs: [backendRef('v3')] },
    ],
  }, { kind: 'GRPCRoute' })]);
  assert.deepEqual(order(out), ['g/2', 'g/1', 'g/4', 'g/0', 'g/3', 'g/5']);
  assert.deepEqual(tableOf(out)?.entries.at(-1)?.match, { protocol: 'grpc', headers: [] }, 'a rule without matches matches every gRPC request');
});

test('precedence groups: consumer, producer, then routes attached to the waypoint; exact hostnames before wildcards', () => {
  const out = compile([
    route('wide', { parentRefs: [{ name: 'waypoint' }], hostnames: ['*.ns.svc.cluster.local'], rules: [{ matches: [{ path: { type: 'Exact', value: '/long/exact' } }] }] }),
    route('narrow', { parentRefs: [{ name: 'waypoint' }], hostnames: ['echo.ns.svc.cluster.local'] }),
    route('producer', {}),
    route('consumer', { parentRefs: [{ group: '', kind: 'Service', name: 'echo', namespace: 'ns' }] }, { namespace: 'clients' }),
  ]);
  assert.deepEqual(order(out), ['consumer/0', 'producer/0', 'narrow/0', 'wide/0']);
  assert.deepEqual(tableOf(out)?.entries.map((e) => e.attachment), ['consumer', 'producer', 'waypoint', 'waypoint']);
  assert.deepEqual(order(out, 'ns/other.ns.svc.cluster.local'), ['wide/0'], 'the wildcard route applies to every Service it names');
  assert.equal(order(out, 'ns/v1.ns.svc.cluster.local').length, 1);
});

test('compareRouteOrder: oldest first when timestamps exist, then namespace/name', () => {
  const rows: [Parameters<typeof compareRouteOrder>[0], Parameters<typeof compareRouteOrder>[1], number][] = [
    [{ namespace: 'a', name: 'z' }, { namespace: 'b', name: 'a' }, -1],
    [{ namespace: 'a', name: 'b' }, { namespace: 'a', name: 'a' }, 1],
    [{ namespace: 'a', name: 'a' }, { namespace: 'a', name: 'a' }, 0],
    [{ namespace: 'b', name: 'b', createdAt: '2024-01-01T00:00:00Z' }, { namespace: 'a', name: 'a', createdAt: '2025-01-01T00:00:00Z' }, -1],
    [{ namespace: 'b', name: 'b', createdAt: '2024-01-01T00:00:00Z' }, { namespace: 'a', name: 'a' }, 1],
  ];
  for (const [a, b, want] of rows) assert.equal(Math.sign(compareRouteOrder(a, b)), want, `${a.name} vs ${b.name}`);
});

test('defaults: no matches is PathPrefix "/", no rules is one match-all rule without backends, weight 1', () => {
  const out = compile([route('defaults', { rules: [{ backendRefs: [backendRef('v1')] }] })]);
  const [entry] = tableOf(out)?.entries ?? [];
  assert.deepEqual(entry, {
    route: { kind: 'HTTPRoute', namespace: 'ns', name: 'defaults', rule: 0 },
    attachment: 'producer',
    match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
    filters: [],
    backends: [{ service: 'ns/v1.ns.svc.cluster.local', port: 8080, weight: 1 }],
  } satisfies RouteEntry);
  const none = compile([route('none', {})]);
  assert.deepEqual(tableOf(none)?.entries.map((e) => e.backends), [[]]);
  assert.equal(tableOf(none)?.waypoint, 'ns/waypoint');
});

test('backends: httproute-weight, omitted backendRefs, and every way a reference fails', () => {
  const out = compile([
    route('weighted-backends', { rules: [{ backendRefs: [backendRef('v1', { weight: 70 }), backendRef('v2', { weight: 30 }), backendRef('v3', { weight: 0 })] }] }),
    route('omitted', { rules: [{ matches: [{ path: { type: 'Exact', value: '/omitted-no-forward' } }] }, { matches: [{ path: { type: 'Exact', value: '/empty-no-forward' } }], backendRefs: [] }] }),
    route('nonexistent', { rules: [{ backendRefs: [backendRef('nonexistent', { namespace: 'ns' })] }] }),
    route('cross', { rules: [{ backendRefs: [backendRef('remote', { namespace: 'other-ns' })] }] }),
    route('unknown-kind', { rules: [{ backendRefs: [backendRef('v1', { group: 'unknownkind.example.com', kind: 'NonExistent' })] }] }),
    route('no-such-port', { rules: [{ backendRefs: [{ name: 'v1', port: 9999 }] }] }),
  ]);
  const backends = (name: string): unknown => tableOf(out)?.entries.find((e) => e.route.name === name)?.backends;
  assert.deepEqual(backends('weighted-backends'), [
    { service: 'ns/v1.ns.svc.cluster.local', port: 8080, weight: 70 },
    { service: 'ns/v2.ns.svc.cluster.local', port: 8080, weight: 30 },
    { service: 'ns/v3.ns.svc.cluster.local', port: 8080, weight: 0 },
  ]);
  assert.deepEqual(backends('omitted'), []);
  assert.equal(condition(out, 'omitted', 'ResolvedRefs')?.status, 'True', 'no backends is not an unresolved reference');
  const rows: [string, string][] = [['nonexistent', 'BackendNotFound'], ['cross', 'RefNotPermitted'], ['unknown-kind', 'InvalidKind'], ['no-such-port', 'BackendNotFound']];
  for (const [name, reason] of rows) {
    assert.equal(condition(out, name, 'Accepted')?.status, 'True', `${name} is still accepted`);
    const resolved = condition(out, name, 'ResolvedRefs');
    assert.equal(resolved?.status, 'False', name);
    assert.equal(resolved?.reason, reason, name);
    assert.match(resolved?.message ?? '', /spec\.rules\[0\]\.backendRefs\[0\]/, name);
    const [b] = (backends(name) ?? []) as { invalid?: string; weight: number }[];
    assert.equal(typeof b?.invalid, 'string', `${name}: requests to it get 500`);
    assert.equal(b?.weight, 1);
  }
  assert.equal(condition(out, 'weighted-backends', 'ResolvedRefs')?.reason, 'ResolvedRefs');
});

test('mesh-consumer-route: a consumer route may send to the Service it refines in another namespace', () => {
  const out = compile([route('mesh-echo-add-header', {
    parentRefs: [{ group: '', kind: 'Service', name: 'echo', namespace: 'ns' }],
    rules: [{ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Header-Set', value: 'set' }] } }], backendRefs: [{ name: 'echo', namespace: 'ns', port: 80 }] }],
  }, { namespace: 'clients' })]);
  const [entry] = tableOf(out)?.entries ?? [];
  assert.equal(entry?.attachment, 'consumer');
  assert.equal(entry?.route.namespace, 'clients');
  assert.deepEqual(entry?.backends, [{ service: ECHO, port: 80, weight: 1 }]);
  assert.equal(condition(out, 'mesh-echo-add-header', 'ResolvedRefs')?.status, 'True');
  assert.match(condition(out, 'mesh-echo-add-header', 'Accepted')?.message ?? '', /consumer route/);
});

test('filters are carried as the waypoint needs them: mirror fractions, redirect default status, backend filters', () => {
  const out = compile([route('filters', {
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/percent-mirror/' } }],
        filters: [
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror', port: 8080 }, percent: 20 } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror', port: 8080 }, fraction: { numerator: 25, denominator: 50 } } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror', port: 8080 } } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'missing', port: 8080 } } },
          { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
        ],
        backendRefs: [backendRef('v1', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'X-Header-Add', value: 'add-appends-values' }] } }] })],
      },
      { matches: [{ path: { type: 'Exact', value: '/redirect' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'example.org' } }] },
    ],
  })]);
  const [redirect, rewrite] = [...(tableOf(out)?.entries ?? [])].sort((a, b) => b.route.rule - a.route.rule);
  const mirrors = rewrite?.filters.flatMap((f) => (f.type === 'RequestMirror' ? [f.requestMirror.fraction] : []));
  assert.deepEqual(mirrors, [{ numerator: 20, denominator: 100 }, { numerator: 25, denominator: 50 }, { numerator: 100, denominator: 100 }], 'the unresolved mirror is dropped');
  assert.deepEqual(rewrite?.match.protocol === 'http' ? rewrite.match.path : undefined, { type: 'PathPrefix', value: '/percent-mirror' });
  assert.deepEqual(rewrite?.backends, [{ service: 'ns/v1.ns.svc.cluster.local', port: 8080, weight: 1, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [], add: [{ name: 'X-Header-Add', value: 'add-appends-values' }], remove: [] } }] }]);
  assert.deepEqual(redirect?.filters, [{ type: 'RequestRedirect', requestRedirect: { statusCode: 302, hostname: 'example.org' } }]);
  assert.deepEqual(redirect?.backends, []);
  const resolved = condition(out, 'filters', 'ResolvedRefs');
  assert.equal(resolved?.reason, 'BackendNotFound');
  assert.match(resolved?.message ?? '', /filters\[3\]\.requestMirror\.backendRef/);
});

test('matches: header names lower-cased, only the first of a repeated name counts; timeouts and retry in ms', () => {
  const out = compile([route('m', {
    rules: [{
      matches: [{ headers: [{ name: 'X-Version', value: 'a' }, { name: 'x-version', value: 'b' }, { name: 'Color', type: 'RegularExpression', value: 'bl.e' }], queryParams: [{ name: 'q', value: '1' }, { name: 'q', value: '2' }, { name: 'Q', value: '3' }] }],
      timeouts: { request: '1h2m', backendRequest: '500ms' },
      retry: { codes: [500, 503], attempts: 3, backoff: '100ms' },
      backendRefs: [backendRef('v1')],
    }],
  })]);
  const [e] = tableOf(out)?.entries ?? [];
  assert.deepEqual(e?.match, {
    protocol: 'http',
    path: { type: 'PathPrefix', value: '/' },
    headers: [{ type: 'Exact', name: 'x-version', value: 'a' }, { type: 'RegularExpression', name: 'color', value: 'bl.e' }],
    queryParams: [{ type: 'Exact', name: 'q', value: '1' }, { type: 'Exact', name: 'Q', value: '3' }],
  });
  assert.deepEqual(e?.timeouts, { request: 3_720_000, backendRequest: 500 });
  assert.deepEqual(e?.retry, { codes: [500, 503], attempts: 3, backoff: 100 });
});

test('validation: anything weft cannot honour leaves that route out, names the field, and the rest keeps working', () => {
  const rows: [string, Record<string, unknown>, string, RegExp, ('HTTPRoute' | 'GRPCRoute')?][] = [
    ['regex path', { matches: [{ path: { type: 'RegularExpression', value: '/(' } }] }, 'UnsupportedValue', /spec\.rules\[0\]\.matches\[0\]\.path\.value: is not a valid regular expression/],
    ['regex header', { matches: [{ headers: [{ name: 'a', type: 'RegularExpression', value: '(?=x)' }] }] }, 'UnsupportedValue', /headers\[0\]\.value: .*lookaround/],
    ['path type', { matches: [{ path: { type: 'Glob', value: '/' } }] }, 'UnsupportedValue', /path\.type: "Glob" is not one of/],
    ['path value', { matches: [{ path: { type: 'Exact', value: '/a//b' } }] }, 'UnsupportedValue', /path\.value: must not contain "\/\/"/],
    ['method', { matches: [{ method: 'FETCH' }] }, 'UnsupportedValue', /method: "FETCH"/],
    ['unknown rule field', { matchs: [] }, 'UnsupportedValue', /spec\.rules\[0\]\.matchs: is not a field/],
    ['unknown match field', { matches: [{ host: 'x' }] }, 'UnsupportedValue', /matches\[0\]\.host: is not a field/],
    ['unknown filter field', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [], replace: [] } }] }, 'UnsupportedValue', /requestHeaderModifier\.replace: is not a field/],
    ['unknown backendRef field', { backendRefs: [{ name: 'v1', port: 8080, wieght: 2 }] }, 'UnsupportedValue', /backendRefs\[0\]\.wieght/],
    ['unknown filter type', { filters: [{ type: 'Compress' }] }, 'UnsupportedValue', /filters\[0\]\.type: "Compress" is not one of/],
    ['ExtensionRef', { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'x', kind: 'y', name: 'z' } }] }, 'UnsupportedValue', /ExtensionRef is not supported/],
    ['CORS', { filters: [{ type: 'CORS', cors: {} }] }, 'UnsupportedValue', /CORS is not supported/],
    ['filter body of another type', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {}, urlRewrite: {} }] }, 'UnsupportedValue', /filters\[0\]\.urlRewrite: must not be set/],
    ['filter without body', { filters: [{ type: 'URLRewrite' }] }, 'UnsupportedValue', /filters\[0\]\.urlRewrite: is required/],
    ['redirect and rewrite', { filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'URLRewrite', urlRewrite: {} }] }, 'IncompatibleFilters', /cannot be combined/],
    ['redirect with backends', { filters: [{ type: 'RequestRedirect', requestRedirect: {} }], backendRefs: [{ name: 'v1', port: 8080 }] }, 'IncompatibleFilters', /together with backendRefs/],
    ['repeated header modifier', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }, { type: 'RequestHeaderModifier', requestHeaderModifier: {} }] }, 'IncompatibleFilters', /only once/],
    ['prefix replace on an exact match', { matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] }, 'IncompatibleFilters', /exactly one match, of type PathPrefix/],
    ['prefix replace with two matches', { matches: [{ path: { value: '/a' } }, { path: { value: '/b' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/c' } } }] }, 'IncompatibleFilters', /exactly one match/],
    ['prefix replace in a backend filter', { matches: [{ path: { type: 'Exact', value: '/a' } }], backendRefs: [{ name: 'v1', port: 8080, filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }] }] }, 'IncompatibleFilters', /backendRefs\[0\]\.filters/],
    ['path modifier fields disagree', { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replacePrefixMatch: '/' } } }] }, 'UnsupportedValue', /replacePrefixMatch: must not be set/],
    ['two actions on one header', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], remove: ['x-a'] } }] }, 'UnsupportedValue', /more than one action/],
    ['redirect status', { filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 300 } }] }, 'UnsupportedValue', /statusCode: 300 is not one of/],
    ['redirect scheme', { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'ftp' } }] }, 'UnsupportedValue', /scheme: "ftp"/],
    ['redirect hostname', { filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: '*.example.org' } }] }, 'UnsupportedValue', /hostname: .* is not a hostname/],
    ['mirror percent and fraction', { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'v1', port: 8080 }, percent: 5, fraction: { numerator: 1 } } }] }, 'UnsupportedValue', /only one of percent and fraction/],
    ['mirror fraction above one', { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'v1', port: 8080 }, fraction: { numerator: 3, denominator: 2 } } }] }, 'UnsupportedValue', /fraction\.numerator/],
    ['Service backend without port', { backendRefs: [{ name: 'v1' }] }, 'UnsupportedValue', /backendRefs\[0\]\.port: is required/],
    ['weight out of range', { backendRefs: [{ name: 'v1', port: 8080, weight: 1_000_001 }] }, 'UnsupportedValue', /weight: must be an integer in 0-1000000/],
    ['duration', { timeouts: { request: '1.5s' } }, 'UnsupportedValue', /timeouts\.request: "1\.5s" is not a Gateway API duration/],
    ['backendRequest longer than request', { timeouts: { request: '1s', backendRequest: '2s' } }, 'UnsupportedValue', /backendRequest: must not be longer/],
    ['retry code', { retry: { codes: [302] } }, 'UnsupportedValue', /retry\.codes\[0\]/],
    ['retry attempts', { retry: { attempts: 0 } }, 'UnsupportedValue', /retry\.attempts/],
    ['session persistence', { sessionPersistence: { sessionName: 'x' } }, 'UnsupportedValue', /sessionPersistence: is not supported/],
    ['rule name', { name: 'Not_Valid' }, 'UnsupportedValue', /spec\.rules\[0\]\.name/],
    ['gRPC has no timeouts', { timeouts: { request: '1s' } }, 'UnsupportedValue', /spec\.rules\[0\]\.timeouts: is not a field/, 'GRPCRoute'],
    ['gRPC has no redirect', { filters: [{ type: 'RequestRedirect', requestRedirect: {} }] }, 'UnsupportedValue', /requestRedirect: is not a field/, 'GRPCRoute'],
    ['gRPC method name', { matches: [{ method: { service: 'pkg.Svc', method: 'Do/It' } }] }, 'UnsupportedValue', /method\.method: "Do\/It" is not a valid gRPC method name/, 'GRPCRoute'],
    ['gRPC method match needs a value', { matches: [{ method: { type: 'Exact' } }] }, 'UnsupportedValue', /matches\[0\]\.method: must set service or method/, 'GRPCRoute'],
  ];
  for (const [name, rule, reason, message, kind] of rows) {
    const out = compile([route('bad', { rules: [rule] }, kind === undefined ? {} : { kind }), route('good', { rules: [{ backendRefs: [backendRef('v1')] }] })]);
    const accepted = condition(out, 'bad', 'Accepted');
    assert.equal(accepted?.status, 'False', name);
    assert.equal(accepted?.reason, reason, name);
    assert.match(accepted?.message ?? '', message, name);
    assert.equal(condition(out, 'bad', 'ResolvedRefs'), undefined, `${name}: no ResolvedRefs for a route that is not accepted`);
    assert.deepEqual(order(out), ['good/0'], `${name}: the bad route is left out, the good one stays`);
    assert.equal(condition(out, 'good', 'Accepted')?.status, 'True', name);
  }
});

test('validation of the route spec itself: hostnames, rule names, counts', () => {
  const rows: [string, Record<string, unknown>, RegExp][] = [
    ['hostname', { hostnames: ['Echo'] }, /spec\.hostnames\[0\]/],
    ['wildcard in the middle', { hostnames: ['a.*.com'] }, /spec\.hostnames\[0\]/],
    ['duplicate rule names', { rules: [{ name: 'a' }, { name: 'a' }] }, /rule names must be unique/],
    ['too many rules', { rules: Array.from({ length: 17 }, () => ({})) }, /at most 16 rules/],
  ];
  for (const [name, spec, message] of rows) {
    const out = compile([route('bad', spec)]);
    assert.match(condition(out, 'bad', 'Accepted')?.message ?? '', message, name);
    assert.equal(out.routes.length, 0, name);
  }
});

test('parents: Service refs, ports and section names, unbound Services, foreign and cross-namespace Gateways', () => {
  const out = compile([
    route('port', { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }] }),
    route('section', { parentRefs: [{ group: 'core', kind: 'Service', name: 'echo', sectionName: 'p8080' }] }),
    route('no-group', { parentRefs: [{ kind: 'Service', name: 'other' }] }),
    route('missing', { parentRefs: [{ group: '', kind: 'Service', name: 'nope' }] }),
    route('bad-port', { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 81 }] }),
    route('bad-section', { parentRefs: [{ group: '', kind: 'Service', name: 'echo', sectionName: 'p80', port: 8080 }] }),
    route('unbound', { parentRefs: [{ group: '', kind: 'Service', name: 'unbound' }] }, { namespace: 'free' }),
    route('ingress', { parentRefs: [{ name: 'ingress' }, { group: 'example.com', kind: 'Mesh', name: 'm' }, { name: 'no-such-gateway' }] }),
    route('cross-parent', { parentRefs: [{ name: 'waypoint', namespace: 'ns' }] }, { namespace: 'elsewhere' }),
    route('wrong-listener', { parentRefs: [{ name: 'waypoint', sectionName: 'http' }] }),
    route('no-host', { parentRefs: [{ name: 'waypoint' }], hostnames: ['example.com'] }),
  ]);
  assert.deepEqual(tableOf(out)?.entries.filter((e) => e.route.name === 'port' || e.route.name === 'section').map((e) => [e.route.name, e.port]), [['port', 80], ['section', 8080]]);
  assert.deepEqual(order(out, 'ns/other.ns.svc.cluster.local'), ['no-group/0'], 'an unset group is read as core for kind Service');
  const rows: [string, string, string | undefined, RegExp?][] = [
    ['port', 'True', 'Accepted', /port 80/],
    ['missing', 'False', 'NoMatchingParent', /Service ns\/nope not found/],
    ['bad-port', 'False', 'NoMatchingParent', /no port 81/],
    ['bad-section', 'False', 'NoMatchingParent', /port p80 is 80, not 8080/],
    ['unbound', 'False', 'NoWaypoint', /not bound to a waypoint.*only in a waypoint/],
    ['cross-parent', 'False', 'NotAllowedByListeners', /own namespace/],
    ['wrong-listener', 'False', 'NoMatchingParent', /no listener/],
    ['no-host', 'False', 'NoMatchingListenerHostname', /spec\.hostnames/],
  ];
  for (const [name, status, reason, message] of rows) {
    const c = condition(out, name, 'Accepted');
    assert.equal(c?.status, status, name);
    assert.equal(c?.reason, reason, name);
    if (message !== undefined) assert.match(c?.message ?? '', message, name);
  }
  assert.equal(out.conditions.filter((c) => c.name === 'ingress').length, 0, "another controller's Gateway, unknown kinds and missing Gateways get no condition from weft");
  assert.equal(out.routes.some((t) => t.service.startsWith('free/')), false);
  const p = condition(out, 'port', 'Accepted');
  assert.deepEqual(p?.parentRef, { group: '', kind: 'Service', name: 'echo', port: 80 }, 'status names its parentRef');
  assert.equal(p?.kind, 'HTTPRoute');
});

test('a route attached to the waypoint applies to its Services, a Service-attached route ignores hostnames (GEP-1294)', () => {
  const out = compile([
    route('all', { parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint', sectionName: 'mesh' }] }),
    route('hosts-ignored', { hostnames: ['example.com'] }),
  ]);
  const services = out.routes.map((t) => t.service);
  assert.deepEqual(services, ['ns/echo.ns.svc.cluster.local', 'ns/mirror.ns.svc.cluster.local', 'ns/other.ns.svc.cluster.local', 'ns/v1.ns.svc.cluster.local', 'ns/v2.ns.svc.cluster.local', 'ns/v3.ns.svc.cluster.local']);
  assert.deepEqual(order(out), ['hosts-ignored/0', 'all/0']);
  assert.match(condition(out, 'all', 'Accepted')?.message ?? '', /to 6 Service\(s\)/);
});

test('HTTPRoutes and GRPCRoutes are not merged: on the same Service and port the first route holds it', () => {
  const out = compile([
    route('b-http', {}),
    route('a-grpc', { rules: [{ backendRefs: [backendRef('v1')] }] }, { kind: 'GRPCRoute' }),
    route('c-grpc-other-port', { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 8080 }], rules: [{}] }, { kind: 'GRPCRoute' }),
  ]);
  assert.deepEqual(order(out), ['a-grpc/0', 'c-grpc-other-port/0']);
  const lost = condition(out, 'b-http', 'Accepted');
  assert.equal(lost?.status, 'False');
  assert.equal(lost?.reason, 'KindConflict');
  assert.match(lost?.message ?? '', /GRPCRoute ns\/a-grpc/);
  assert.equal(condition(out, 'c-grpc-other-port', 'Accepted')?.status, 'True', 'same kind on another port is fine');
});

test('output is deterministic whatever the input order, and every table passes the wire validator', () => {
  const docs = [
    route('z', { rules: [{ matches: [{ path: { value: '/z' } }], backendRefs: [backendRef('v1')] }] }),
    route('a', { rules: [{ matches: [{ path: { value: '/a' } }], backendRefs: [backendRef('v2'), backendRef('gone')], filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x', value: 'y' }] } }] }] }),
    route('g', { parentRefs: [{ name: 'waypoint' }], rules: [{ matches: [{ method: { service: 'pkg.S', type: 'RegularExpression' } }] }] }, { kind: 'GRPCRoute' }),
    route('w', { parentRefs: [{ name: 'waypoint' }], hostnames: ['other.ns.svc.cluster.local'] }),
  ];
  const forward = compile(docs);
  const backward = compile([...docs].reverse());
  assert.deepEqual(forward, backward);
  assert.deepEqual(JSON.parse(JSON.stringify(forward)), forward, 'plain JSON');
  for (const t of forward.routes) assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(t)), 'routes'), t);
});

test('fast enough for every cluster change: 200 routes of 16 rules', () => {
  const docs = Array.from({ length: 200 }, (_, r) => route(`r${r}`, {
    rules: Array.from({ length: 16 }, (_, i) => ({
      matches: [{ path: { type: 'PathPrefix', value: `/r${r}/${i}` }, headers: [{ name: 'x-a', value: `${i}` }] }, { path: { type: 'RegularExpression', value: `/re${i}/.*` } }],
      backendRefs: [backendRef('v1', { weight: 3 }), backendRef('v2')],
    })),
  }));
  const started = performance.now();
  const out = compile(docs);
  const elapsed = performance.now() - started;
  assert.equal(tableOf(out)?.entries.length, 200 * 16 * 2);
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`);
});
