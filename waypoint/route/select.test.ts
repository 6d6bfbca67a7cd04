// Route selection, table-driven. Tables are written in the order the controller emits them
// (controller/model/routes.test.ts checks that order from the same manifests). Scenarios from
// kubernetes-sigs/gateway-api conformance/tests: httproute-matching, httproute-header-matching,
// httproute-query-param-matching, httproute-method-matching, httproute-path-match-order,
// httproute-exact-path-matching, grpcroute-exact-method-matching, grpcroute-header-matching,
// mesh/mesh-ports, mesh/mesh-consumer-route, mesh/mesh-split; plus the spec's rules on
// PathPrefix elements, RegularExpression (full match), first query value and header names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  GrpcMethodMatch, HeaderMatch, HttpRouteMatch, QueryParamMatch, RouteAttachment, RouteEntry, ServiceRoutes,
} from '#core/config/routes.ts';
import { hasRoutes, selectRoute, type RouteRequest } from '#waypoint/route/select.ts';

interface EntryOptions {
  route?: string;
  namespace?: string;
  attachment?: RouteAttachment;
  port?: number;
}

const exactHeader = (name: string, value: string): HeaderMatch => ({ type: 'Exact', name, value });
const exactQuery = (name: string, value: string): QueryParamMatch => ({ type: 'Exact', name, value });

/** An HTTP entry for rule `rule` of a route, going to `backend`. */
function http(rule: number, backend: string, match: Partial<Omit<HttpRouteMatch, 'protocol'>> = {}, o: EntryOptions = {}): RouteEntry {
  const e: RouteEntry = {
    route: { kind: 'HTTPRoute', namespace: o.namespace ?? 'ns', name: o.route ?? 'r', rule },
    attachment: o.attachment ?? 'producer',
    match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], ...match },
    filters: [],
    backends: [{ service: `ns/${backend}.ns.svc.cluster.local`, port: 8080, weight: 1 }],
  };
  if (o.port !== undefined) e.port = o.port;
  return e;
}

function grpc(rule: number, backend: string, match: { method?: GrpcMethodMatch; headers?: HeaderMatch[] }): RouteEntry {
  return {
    route: { kind: 'GRPCRoute', namespace: 'ns', name: 'g', rule },
    attachment: 'producer',
    match: { protocol: 'grpc', headers: match.headers ?? [], ...(match.method === undefined ? {} : { method: match.method }) },
    filters: [],
    backends: [{ service: `ns/${backend}.ns.svc.cluster.local`, port: 8080, weight: 1 }],
  };
}

const table = (entries: RouteEntry[]): ServiceRoutes => ({ service: 'ns/echo.ns.svc.cluster.local', waypoint: 'ns/waypoint', entries });

interface Req {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  port?: number;
  from?: string;
  /** The client's workload uid. */
  workload?: string;
}

function request(r: Req): RouteRequest {
  const headers = new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const req: RouteRequest = { method: r.method ?? 'GET', path: r.path, port: r.port ?? 80, header: (name) => headers.get(name) };
  if (r.from !== undefined) req.sourceNamespace = r.from;
  if (r.workload !== undefined) req.sourceWorkload = r.workload;
  return req;
}

/** The backend's short name, or 404 when nothing matched. */
function backendOf(t: ServiceRoutes, r: Req): string {
  const entry = selectRoute(t, request(r));
  if (entry === undefined) return '404';
  const b = entry.backends[0];
  return b !== undefined && 'service' in b ? (b.service.split('/')[1]?.split('.')[0] ?? '?') : '?';
}

function check(name: string, t: ServiceRoutes, cases: [Req, string][]): void {
  test(name, () => {
    for (const [req, want] of cases) assert.equal(backendOf(t, req), want, `${req.method ?? 'GET'} ${req.path} ${JSON.stringify(req.headers ?? {})}`);
  });
}

const prefix = (value: string): HttpRouteMatch['path'] => ({ type: 'PathPrefix', value });
const exact = (value: string): HttpRouteMatch['path'] => ({ type: 'Exact', value });

check('httproute-matching: a rule matches when any of its matches does', table([
  http(1, 'v2', { path: prefix('/v2') }),
  http(0, 'v1', { headers: [exactHeader('version', 'one')] }),
  http(1, 'v2', { headers: [exactHeader('version', 'two')] }),
  http(0, 'v1'),
]), [
  [{ path: '/' }, 'v1'],
  [{ path: '/example' }, 'v1'],
  [{ path: '/', headers: { Version: 'one' } }, 'v1'],
  [{ path: '/v2' }, 'v2'],
  [{ path: '/v2/example' }, 'v2'],
  [{ path: '/', headers: { Version: 'two' } }, 'v2'],
  [{ path: '/v2/' }, 'v2'],
  [{ path: '/v2example' }, 'v1'],
  [{ path: '/foo/v2/example' }, 'v1'],
]);

check('httproute-header-matching: headers are ANDed inside a match, ORed across matches', table([
  http(2, 'v1', { headers: [exactHeader('version', 'two'), exactHeader('color', 'orange')] }),
  http(0, 'v1', { headers: [exactHeader('version', 'one')] }),
  http(1, 'v2', { headers: [exactHeader('version', 'two')] }),
  http(3, 'v1', { headers: [exactHeader('color', 'blue')] }),
  http(3, 'v1', { headers: [exactHeader('color', 'green')] }),
  http(4, 'v2', { headers: [exactHeader('color', 'red')] }),
  http(4, 'v2', { headers: [exactHeader('color', 'yellow')] }),
]), [
  [{ path: '/', headers: { Version: 'one' } }, 'v1'],
  [{ path: '/', headers: { Version: 'two' } }, 'v2'],
  [{ path: '/', headers: { Version: 'two', Color: 'orange' } }, 'v1'],
  [{ path: '/', headers: { Version: 'two', Color: 'blue' } }, 'v2'],
  [{ path: '/', headers: { Color: 'orange' } }, '404'],
  [{ path: '/', headers: { 'Some-Other-Header': 'one' } }, '404'],
  [{ path: '/', headers: { Color: 'blue' } }, 'v1'],
  [{ path: '/', headers: { Color: 'green' } }, 'v1'],
  [{ path: '/', headers: { Color: 'red' } }, 'v2'],
  [{ path: '/', headers: { Color: 'yellow' } }, 'v2'],
  [{ path: '/', headers: { Color: 'purple' } }, '404'],
]);

const whale = exactQuery('animal', 'whale');
check('httproute-query-param-matching: names are case-sensitive, values exact, precedence after headers', table([
  http(5, 'v3', { path: prefix('/path2'), headers: [exactHeader('version', 'two')], queryParams: [whale] }),
  http(6, 'v1', { path: prefix('/path4'), headers: [exactHeader('version', 'three')], queryParams: [exactQuery('animal', 'kraken')] }),
  http(3, 'v1', { path: prefix('/path1'), queryParams: [whale] }),
  http(6, 'v1', { path: prefix('/path3'), queryParams: [exactQuery('animal', 'shark')] }),
  http(7, 'v1', { path: prefix('/path5') }),
  http(4, 'v2', { headers: [exactHeader('version', 'one')], queryParams: [whale] }),
  http(9, 'v3', { headers: [exactHeader('version', 'four')] }),
  http(2, 'v3', { queryParams: [exactQuery('animal', 'dolphin'), exactQuery('color', 'blue')] }),
  http(0, 'v1', { queryParams: [whale] }),
  http(1, 'v2', { queryParams: [exactQuery('animal', 'dolphin')] }),
  http(2, 'v3', { queryParams: [exactQuery('ANIMAL', 'Whale')] }),
  http(8, 'v2', { queryParams: [exactQuery('animal', 'hydra')] }),
]), [
  [{ path: '/?animal=whale' }, 'v1'],
  [{ path: '/?animal=dolphin' }, 'v2'],
  [{ path: '/?animal=dolphin&color=blue' }, 'v3'],
  [{ path: '/?ANIMAL=Whale' }, 'v3'],
  [{ path: '/?animal=whale&otherparam=irrelevant' }, 'v1'],
  [{ path: '/?animal=dolphin&color=yellow' }, 'v2'],
  [{ path: '/?color=blue' }, '404'],
  [{ path: '/?animal=dog' }, '404'],
  [{ path: '/?animal=whaledolphin' }, '404'],
  [{ path: '/' }, '404'],
  [{ path: '/path1?animal=whale' }, 'v1'],
  [{ path: '/?animal=whale', headers: { version: 'one' } }, 'v2'],
  [{ path: '/path2?animal=whale', headers: { version: 'two' } }, 'v3'],
  [{ path: '/path3?animal=shark' }, 'v1'],
  [{ path: '/path4?animal=kraken', headers: { version: 'three' } }, 'v1'],
  [{ path: '/?animal=shark' }, '404'],
  [{ path: '/path4?animal=kraken' }, '404'],
  [{ path: '/path5?animal=hydra' }, 'v1'],
  [{ path: '/?animal=hydra', headers: { version: 'four' } }, 'v3'],
  // Repeated parameters: the first value counts, as the spec recommends; values are percent-decoded.
  [{ path: '/?animal=dog&animal=whale' }, '404'],
  [{ path: '/?animal=whale&animal=dog' }, 'v1'],
  [{ path: '/?animal=%77hale' }, 'v1'],
]);

check('httproute-method-matching: a method outranks headers', table([
  http(4, 'v3', { path: prefix('/path2'), method: 'POST', headers: [exactHeader('version', 'two')] }),
  http(5, 'v1', { path: prefix('/path4'), method: 'DELETE', headers: [exactHeader('version', 'three')] }),
  http(2, 'v1', { path: prefix('/path1'), method: 'GET' }),
  http(5, 'v1', { path: prefix('/path3'), method: 'PATCH' }),
  http(6, 'v1', { path: prefix('/path5') }),
  http(3, 'v2', { method: 'PUT', headers: [exactHeader('version', 'one')] }),
  http(0, 'v1', { method: 'POST' }),
  http(1, 'v2', { method: 'GET' }),
  http(7, 'v2', { method: 'PATCH' }),
  http(8, 'v3', { headers: [exactHeader('version', 'four')] }),
]), [
  [{ path: '/', method: 'POST' }, 'v1'],
  [{ path: '/', method: 'GET' }, 'v2'],
  [{ path: '/', method: 'HEAD' }, '404'],
  [{ path: '/path1', method: 'GET' }, 'v1'],
  [{ path: '/', method: 'PUT', headers: { version: 'one' } }, 'v2'],
  [{ path: '/path2', method: 'POST', headers: { version: 'two' } }, 'v3'],
  [{ path: '/path3', method: 'PATCH' }, 'v1'],
  [{ path: '/path4', method: 'DELETE', headers: { version: 'three' } }, 'v1'],
  [{ path: '/', method: 'PUT' }, '404'],
  [{ path: '/path4', method: 'DELETE' }, '404'],
  [{ path: '/path5', method: 'PATCH' }, 'v1'],
  [{ path: '/', method: 'PATCH', headers: { version: 'four' } }, 'v2'],
]);

check('httproute-path-match-order: exact before prefix, longer prefix first', table([
  http(2, 'v3', { path: exact('/match/exact/one') }),
  http(1, 'v2', { path: exact('/match/exact') }),
  http(0, 'v1', { path: exact('/match') }),
  http(5, 'v2', { path: prefix('/match/prefix/one') }),
  http(4, 'v1', { path: prefix('/match/prefix') }),
  http(3, 'v3', { path: prefix('/match') }),
]), [
  [{ path: '/match/exact/one' }, 'v3'],
  [{ path: '/match/exact' }, 'v2'],
  [{ path: '/match' }, 'v1'],
  [{ path: '/match/prefix/one/any' }, 'v2'],
  [{ path: '/match/prefix/any' }, 'v1'],
  [{ path: '/match/any' }, 'v3'],
]);

check('httproute-exact-path-matching and the path rules: case-sensitive, element-wise, query ignored', table([
  http(0, 'v1', { path: exact('/one') }),
  http(1, 'v2', { path: exact('/two') }),
  http(2, 'v3', { path: prefix('/abc') }),
  http(3, 'v4', { path: { type: 'RegularExpression', value: '/re/[0-9]+' } }),
]), [
  [{ path: '/one' }, 'v1'],
  [{ path: '/one?x=1' }, 'v1'],
  [{ path: '/two' }, 'v2'],
  [{ path: '/one/' }, '404'],
  [{ path: '/One' }, '404'],
  [{ path: '/one/example' }, '404'],
  [{ path: '/abc' }, 'v3'],
  [{ path: '/abc/' }, 'v3'],
  [{ path: '/abc/def' }, 'v3'],
  [{ path: '/abcd' }, '404'],
  [{ path: '/ABC' }, '404'],
  [{ path: '/re/42' }, 'v4'],
  [{ path: '/re/42/x' }, '404'],
  [{ path: '/x/re/42' }, '404'],
]);

check('header values: RegularExpression is a full match; names are looked up lower-case', table([
  http(0, 'v1', { headers: [{ type: 'RegularExpression', name: 'x-version', value: 'v[12]' }] }),
  http(1, 'v2', { headers: [{ type: 'RegularExpression', name: 'x-flag', value: '(?i)on' }] }),
]), [
  [{ path: '/', headers: { 'X-Version': 'v1' } }, 'v1'],
  [{ path: '/', headers: { 'x-version': 'v2' } }, 'v1'],
  [{ path: '/', headers: { 'X-Version': 'v12' } }, '404'],
  [{ path: '/', headers: { 'X-Version': 'xv1' } }, '404'],
  [{ path: '/', headers: { 'X-Flag': 'ON' } }, 'v2'],
]);

const GRPC_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
check('grpcroute-exact-method-matching: service and method compared exactly', table([
  grpc(1, 'grpc-v2', { method: { type: 'Exact', service: GRPC_SERVICE, method: 'EchoTwo' } }),
  grpc(0, 'grpc-v1', { method: { type: 'Exact', service: GRPC_SERVICE, method: 'Echo' } }),
]), [
  [{ path: `/${GRPC_SERVICE}/Echo`, method: 'POST' }, 'grpc-v1'],
  [{ path: `/${GRPC_SERVICE}/EchoTwo`, method: 'POST' }, 'grpc-v2'],
  [{ path: `/${GRPC_SERVICE}/EchoThree`, method: 'POST' }, '404'],
  [{ path: `/other.Service/Echo`, method: 'POST' }, '404'],
]);

check('gRPC: service only, method only, and regular expressions', table([
  grpc(0, 'a', { method: { type: 'Exact', service: 'pkg.Svc' } }),
  grpc(1, 'b', { method: { type: 'Exact', method: 'Ping' } }),
  grpc(2, 'c', { method: { type: 'RegularExpression', service: 'pkg\\.v[0-9]\\..*' } }),
]), [
  [{ path: '/pkg.Svc/Anything' }, 'a'],
  [{ path: '/other.Svc/Ping' }, 'b'],
  [{ path: '/pkg.v2.Thing/Do' }, 'c'],
  [{ path: '/pkg.vx.Thing/Do' }, '404'],
  [{ path: '/not-grpc' }, '404'],
]);

check('grpcroute-header-matching', table([
  grpc(2, 'grpc-v1', { headers: [exactHeader('version', 'two'), exactHeader('color', 'orange')] }),
  grpc(0, 'grpc-v1', { headers: [exactHeader('version', 'one')] }),
  grpc(1, 'grpc-v2', { headers: [exactHeader('version', 'two')] }),
  grpc(3, 'grpc-v1', { headers: [exactHeader('color', 'blue')] }),
  grpc(3, 'grpc-v1', { headers: [exactHeader('color', 'green')] }),
  grpc(4, 'grpc-v2', { headers: [exactHeader('color', 'red')] }),
  grpc(4, 'grpc-v2', { headers: [exactHeader('color', 'yellow')] }),
]), [
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Version: 'one' } }, 'grpc-v1'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Version: 'two' } }, 'grpc-v2'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Version: 'two', Color: 'orange' } }, 'grpc-v1'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Version: 'two', Color: 'blue' } }, 'grpc-v2'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'orange' } }, '404'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { 'Some-Other-Header': 'one' } }, '404'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'blue' } }, 'grpc-v1'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'green' } }, 'grpc-v1'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'red' } }, 'grpc-v2'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'yellow' } }, 'grpc-v2'],
  [{ path: `/${GRPC_SERVICE}/Echo`, headers: { Color: 'purple' } }, '404'],
]);

test('mesh-ports: a parentRef port limits the route to that port; other ports have no routes', () => {
  const t = table([http(0, 'v1', {}, { port: 80 })]);
  assert.equal(backendOf(t, { path: '/', port: 80 }), 'v1');
  assert.equal(hasRoutes(t, { port: 80 }), true);
  assert.equal(selectRoute(t, request({ path: '/', port: 8080 })), undefined);
  assert.equal(hasRoutes(t, { port: 8080 }), false, 'no route applies: the waypoint forwards as if there were none');
  const all = table([http(0, 'v2')]);
  assert.equal(backendOf(all, { path: '/', port: 8080 }), 'v2');
});

test('no match among applicable routes is a 404, not a pass-through', () => {
  const t = table([http(0, 'v1', { path: exact('/only') })]);
  assert.equal(selectRoute(t, request({ path: '/other' })), undefined);
  assert.equal(hasRoutes(t, { port: 80 }), true);
});

test('mesh-consumer-route: consumer routes serve only their namespace and replace producer routes there', () => {
  const t = table([
    http(0, 'consumer-v1', {}, { route: 'c', namespace: 'clients', attachment: 'consumer' }),
    http(0, 'other-consumer', { path: exact('/x') }, { route: 'c2', namespace: 'others', attachment: 'consumer' }),
    http(0, 'producer', { path: exact('/p') }, { attachment: 'producer' }),
    http(0, 'waypoint-wide', {}, { route: 'w', attachment: 'waypoint' }),
  ]);
  assert.equal(backendOf(t, { path: '/', from: 'clients' }), 'consumer-v1');
  assert.equal(backendOf(t, { path: '/p', from: 'clients' }), 'consumer-v1', 'producer routes do not apply where consumer routes exist');
  assert.equal(backendOf(t, { path: '/p', from: 'ns' }), 'producer');
  assert.equal(backendOf(t, { path: '/', from: 'ns' }), '404', 'producer routes exist, so the waypoint-wide route does not apply');
  assert.equal(backendOf(t, { path: '/p' }), 'producer', 'without a source namespace consumer routes never apply');
  assert.equal(backendOf(t, { path: '/', from: 'others' }), '404');
});

test('routes attached to the waypoint apply when the Service has none of its own', () => {
  const t = table([http(0, 'wide', { path: prefix('/api') }, { attachment: 'waypoint' })]);
  assert.equal(backendOf(t, { path: '/api/x' }), 'wide');
  assert.equal(backendOf(t, { path: '/x' }), '404');
});

test('mesh-split: exact paths pick the backend', () => {
  const t = table([http(1, 'echo-v2', { path: exact('/v2') }), http(0, 'echo-v1', { path: exact('/v1') })]);
  assert.equal(backendOf(t, { path: '/v1' }), 'echo-v1');
  assert.equal(backendOf(t, { path: '/v2' }), 'echo-v2');
});

test('matchers are compiled once per table object: a table is immutable once selected from', () => {
  const t = table([http(0, 'v1', { path: exact('/a') })]);
  assert.equal(backendOf(t, { path: '/b' }), '404');
  t.entries.unshift(http(1, 'v2', { path: exact('/b') }));
  assert.equal(backendOf(t, { path: '/b' }), '404', 'the cached compilation of this object is used');
  assert.equal(backendOf(table([...t.entries]), { path: '/b' }), 'v2', 'a new table object is compiled afresh');
});

test('VirtualService sourceLabels (as workload uids) and sourceNamespace restrict an entry to those clients', () => {
  const vs = (rule: number, backend: string, match: Partial<Omit<HttpRouteMatch, 'protocol'>>): RouteEntry => {
    const e = http(rule, backend, match);
    e.route.kind = 'VirtualService';
    return e;
  };
  const t = table([
    vs(0, 'from-canary', { sourceWorkloads: ['uid-canary', 'uid-canary-2'] }),
    vs(1, 'from-none', { path: prefix('/none'), sourceWorkloads: [] }),
    vs(2, 'from-tests', { sourceNamespace: 'tests' }),
    vs(3, 'both', { path: prefix('/both'), sourceWorkloads: ['uid-x'], sourceNamespace: 'other' }),
    vs(4, 'default', {}),
  ]);
  const rows: [string, Req, string][] = [
    ['a listed workload', { path: '/', workload: 'uid-canary', from: 'tests' }, 'from-canary'],
    ['another listed workload', { path: '/', workload: 'uid-canary-2' }, 'from-canary'],
    ['a workload not listed falls through', { path: '/', workload: 'uid-other' }, 'default'],
    ['a client that is no known workload never matches a workload list', { path: '/' }, 'default'],
    ['an empty list matches nobody', { path: '/none', workload: 'uid-y' }, 'default'],
    ['the source namespace', { path: '/', workload: 'uid-y', from: 'tests' }, 'from-tests'],
    ['another namespace', { path: '/', workload: 'uid-y', from: 'prod' }, 'default'],
    ['no peer namespace', { path: '/', workload: 'uid-y' }, 'default'],
    ['both conditions hold', { path: '/both', workload: 'uid-x', from: 'other' }, 'both'],
    ['only the workload holds', { path: '/both', workload: 'uid-x', from: 'prod' }, 'default'],
  ];
  for (const [name, req, want] of rows) assert.equal(backendOf(t, req), want, name);
});
