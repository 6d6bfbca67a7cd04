// VirtualService → route table entries, one case per rule Istio's VirtualService reference
// states (istio/api networking/v1alpha3/virtual_service.proto, its examples reused): list
// order, hosts and short names, gateways and exportTo, matches (uri, headers, queryParams,
// method, port, sourceLabels), weighted subsets, redirect, rewrite, header operations,
// timeout, retries and their defaults, fault injection, mirrors, and what weft leaves out.
// Every compiled table is read back through the wire validator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRouteRegex, parseServiceRoutes } from '#core/config/routes.ts';
import type { HttpRouteMatch, RouteEntry, RouteFilter, ServiceRoutes } from '#core/config/routes.ts';
import { gateway, objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import { compileRoutes } from '#controller/model/routes.ts';
import { compileIstioTraffic } from '#controller/model/istio-traffic.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

const REVIEWS = 'shop/reviews.shop.svc.cluster.local';
const RATINGS = 'shop/ratings.shop.svc.cluster.local';

function vs(name: string, spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace }, spec };
}

function dr(name: string, spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace }, spec };
}

const http = (port: number): unknown => ({ name: `http-${port}`, port, targetPort: port });

/** Services in `shop` use waypoint shop/waypoint; `multi` has two ports; `free/*` has no waypoint. */
const base = (): unknown[] => [
  gateway('shop', 'waypoint'),
  service('shop', 'reviews', { selector: { app: 'reviews' }, ports: [http(9080)] }),
  service('shop', 'ratings', { selector: { app: 'ratings' }, ports: [http(9080)] }),
  service('shop', 'multi', { selector: { app: 'multi' }, ports: [http(80), http(8080)] }),
  service('shop', 'backend', { selector: { app: 'backend' }, ports: [http(80), http(8080)] }),
  service('free', 'unbound', { ports: [http(80)] }),
  pod('shop', 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
  pod('shop', 'reviews-v2', { labels: { app: 'reviews', version: 'v2' } }),
  pod('shop', 'client-prod', { labels: { app: 'client', env: 'prod' } }),
  pod('front', 'web-prod', { labels: { app: 'web', env: 'prod' } }),
  dr('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
];

const waypointOfService = (key: string): string | undefined => (key.startsWith('shop/') ? 'shop/waypoint' : key.startsWith('infra-served/') ? 'infra/waypoint' : undefined);

interface Out {
  routes: ServiceRoutes[];
  conditions: ResourceCondition[];
}

function compile(docs: unknown[]): Out {
  const objects = objectsFrom([...base(), ...docs]);
  const gatewayApi = compileRoutes(objects, { trustDomain: 'cluster.local', waypointOfService });
  const out = compileIstioTraffic(objects, gatewayApi.routes, { clusterId: 'Kubernetes', rootNamespace: 'istio-system', waypointOfService });
  // What the waypoint receives reads back unchanged.
  for (const t of out.routes) assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(t)), 'routes'), t, t.service);
  return out;
}

function entries(out: Out, svc = REVIEWS): RouteEntry[] {
  return out.routes.find((t) => t.service === svc)?.entries ?? [];
}

function accepted(out: Out, name: string): ResourceCondition | undefined {
  return out.conditions.find((c) => c.kind === 'VirtualService' && c.name === name && c.type === 'Accepted');
}

function http0(e: RouteEntry | undefined): HttpRouteMatch {
  assert.equal(e?.match.protocol, 'http');
  return e.match;
}

const to = (host: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ destination: { host, ...extra } });

test('rules keep their list order: the first rule that matches is used, not the most specific', () => {
  const out = compile([vs('reviews', { hosts: ['reviews'], http: [
    { match: [{ uri: { prefix: '/' } }], route: [to('reviews')] },
    { match: [{ uri: { exact: '/exact' } }], route: [to('ratings')] },
  ] })]);
  assert.deepEqual(entries(out).map((e) => [e.route.kind, e.route.rule, http0(e).path.type]), [['VirtualService', 0, 'PathPrefix'], ['VirtualService', 1, 'Exact']]);
  assert.deepEqual(entries(out).map((e) => [e.attachment, e.port]), [['producer', 9080], ['producer', 9080]]);
  assert.equal(accepted(out, 'reviews')?.message, 'applied by waypoint shop/waypoint to Service shop/reviews');
});

test('hosts: a short name is read in the VirtualService\'s namespace; FQDN, name.ns and wildcards name Services too', () => {
  const route = [{ route: [to('reviews.shop.svc.cluster.local')] }];
  assert.equal(entries(compile([vs('a', { hosts: ['reviews'], http: route })])).length, 1);
  assert.equal(entries(compile([vs('a', { hosts: ['reviews.shop.svc.cluster.local'], http: route })])).length, 1);
  assert.equal(entries(compile([vs('a', { hosts: ['reviews.shop'], http: route })])).length, 1);
  const wild = compile([vs('a', { hosts: ['*.shop.svc.cluster.local'], http: route })]);
  assert.deepEqual(wild.routes.filter((t) => t.entries.length > 0).map((t) => t.service), ['shop/backend.shop.svc.cluster.local', 'shop/multi.shop.svc.cluster.local', RATINGS, REVIEWS]);
  // "reviews" in namespace default is reviews.default.svc.cluster.local, whatever Service is called reviews elsewhere.
  const other = compile([vs('a', { hosts: ['reviews'], http: route }, 'default')]);
  assert.equal(entries(other).length, 0);
  assert.deepEqual([accepted(other, 'a')?.status, accepted(other, 'a')?.reason], ['False', 'NoMatchingHost']);
  const unbound = compile([vs('a', { hosts: ['unbound.free.svc.cluster.local'], http: route }, 'free')]);
  assert.equal(accepted(unbound, 'a')?.reason, 'NoWaypoint');
});

test('gateways: omitted means mesh; a list without mesh is for gateways only; a match naming other gateways is dropped', () => {
  const rule = { route: [to('reviews')] };
  assert.equal(entries(compile([vs('a', { hosts: ['reviews'], gateways: ['mesh'], http: [rule] })])).length, 1);
  assert.equal(entries(compile([vs('a', { hosts: ['reviews'], gateways: ['ingress', 'mesh'], http: [rule] })])).length, 1);
  const gw = compile([vs('a', { hosts: ['reviews'], gateways: ['ingress'], http: [rule] })]);
  assert.deepEqual([entries(gw).length, accepted(gw, 'a')?.reason], [0, 'NotForMesh']);
  const out = compile([vs('a', { hosts: ['reviews'], http: [
    // Every match is for another gateway: the rule is not a catch-all at the waypoint.
    { match: [{ gateways: ['ingress'], uri: { prefix: '/a' } }], route: [to('ratings')] },
    { match: [{ gateways: ['ingress'], uri: { prefix: '/b' } }, { gateways: ['mesh'], uri: { prefix: '/c' } }], route: [to('ratings')] },
    rule,
  ] })]);
  assert.deepEqual(entries(out).map((e) => [e.route.rule, http0(e).path.value]), [[1, '/c.*'], [2, '/']]);
});

test('a waypoint takes VirtualServices from the Service\'s namespace or its own, exported to it', () => {
  const docs = [service('infra-served', 'api', { ports: [http(80)] }), gateway('infra', 'waypoint')];
  const route = [{ route: [to('api.infra-served.svc.cluster.local')] }];
  const api = 'infra-served/api.infra-served.svc.cluster.local';
  assert.equal(entries(compile([...docs, vs('own', { hosts: ['api.infra-served.svc.cluster.local'], http: route }, 'infra-served')]), api).length, 1);
  assert.equal(entries(compile([...docs, vs('wp', { hosts: ['api.infra-served.svc.cluster.local'], http: route }, 'infra')]), api).length, 1);
  const third = compile([...docs, vs('third', { hosts: ['api.infra-served.svc.cluster.local'], http: route }, 'elsewhere')]);
  assert.equal(accepted(third, 'third')?.reason, 'NotAllowed');
  // exportTo ".": only its own namespace, where the waypoint (infra) is not.
  const hidden = compile([...docs, vs('own', { hosts: ['api.infra-served.svc.cluster.local'], exportTo: ['.'], http: route }, 'infra-served')]);
  assert.deepEqual([entries(hidden, api).length, accepted(hidden, 'own')?.reason], [0, 'NotExported']);
  assert.equal(entries(compile([...docs, vs('own', { hosts: ['api.infra-served.svc.cluster.local'], exportTo: ['infra'], http: route }, 'infra-served')]), api).length, 1);
});

test('weighted subsets and header operations: the reviews-route examples', () => {
  const out = compile([vs('reviews-route', { hosts: ['reviews.shop.svc.cluster.local'], http: [{
    headers: { request: { set: { test: 'true' } } },
    route: [
      { destination: { host: 'reviews.shop.svc.cluster.local', subset: 'v2' }, weight: 25 },
      { destination: { host: 'reviews.shop.svc.cluster.local', subset: 'v1' }, headers: { response: { remove: ['foo'] } }, weight: 75 },
    ],
  }] })]);
  const [e] = entries(out);
  assert.deepEqual(e?.backends, [
    { service: REVIEWS, port: 9080, weight: 25, subset: 'v2' },
    { service: REVIEWS, port: 9080, weight: 75, subset: 'v1', filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [], remove: ['foo'] } }] },
  ]);
  assert.deepEqual(e.filters, [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'test', value: 'true' }], add: [], remove: [] } }]);
  // The subsets the backends name travel with the table.
  assert.deepEqual(out.routes.find((t) => t.service === REVIEWS)?.destinations?.[0]?.subsets, [
    { name: 'v1', workloads: ['uid-shop-reviews-v1'] }, { name: 'v2', workloads: ['uid-shop-reviews-v2'] },
  ]);
});

test('weights: one destination gets every request whatever its weight; with several, 0 gets none and all 0 is refused', () => {
  assert.deepEqual(entries(compile([vs('a', { hosts: ['reviews'], http: [{ route: [{ ...to('reviews'), weight: 0 }] }] })]))[0]?.backends.map((b) => b.weight), [1]);
  const split = entries(compile([vs('a', { hosts: ['reviews'], http: [{ route: [{ ...to('reviews', { subset: 'v1' }), weight: 100 }, { ...to('reviews', { subset: 'v2' }), weight: 0 }] }] })]));
  assert.deepEqual(split[0]?.backends.map((b) => b.weight), [100, 0]);
  const zero = compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews', { subset: 'v1' }), to('reviews', { subset: 'v2' })] }] })]);
  assert.match(accepted(zero, 'a')?.message ?? '', /spec\.http\[0\]\.route: total destination weight is 0/);
});

test('destination ports: none needed for a one-port Service; otherwise the port the request came in on', () => {
  const out = compile([vs('m', { hosts: ['multi'], http: [{ route: [to('ratings'), to('backend')].map((d, i) => ({ ...d, weight: i + 1 })) }] })]);
  const e = entries(out, 'shop/multi.shop.svc.cluster.local');
  assert.deepEqual(e.map((x) => [x.port, x.backends.map((b) => ('invalid' in b ? 'invalid' : b.port))]), [[80, [9080, 80]], [8080, [9080, 8080]]]);
  const pinned = compile([vs('m', { hosts: ['multi'], http: [{ match: [{ port: 8080 }], route: [to('backend', { port: { number: 80 } })] }] })]);
  assert.deepEqual(entries(pinned, 'shop/multi.shop.svc.cluster.local').map((x) => [x.port, x.backends]), [[8080, [{ service: 'shop/backend.shop.svc.cluster.local', port: 80, weight: 1 }]]]);
  const missing = compile([vs('m', { hosts: ['multi'], http: [{ route: [to('backend', { port: { number: 9999 } })] }] })]);
  assert.match(entries(missing, 'shop/multi.shop.svc.cluster.local')[0]?.backends.map((b) => ('invalid' in b ? b.invalid : '')).join() ?? '', /has no port 9999/);
});

test('unresolved destinations get 500 and an unresolved mirror is skipped; ResolvedRefs names them', () => {
  const out = compile([vs('a', { hosts: ['reviews'], http: [{
    route: [{ ...to('reviews', { subset: 'v3' }), weight: 1 }, { ...to('nowhere.example.com'), weight: 1 }],
    mirror: { host: 'gone' },
  }] })]);
  const [e] = entries(out);
  assert.deepEqual(e?.backends.map((b) => ('invalid' in b ? 'invalid' : b.service)), ['invalid', 'invalid']);
  assert.deepEqual(e.filters, []);
  const refs = out.conditions.find((c) => c.name === 'a' && c.type === 'ResolvedRefs');
  assert.equal(refs?.status, 'False');
  assert.match(refs.message, /subset v3 of Service shop\/reviews is not defined by a DestinationRule/);
  assert.match(refs.message, /host nowhere\.example\.com is not a Service/);
  assert.match(refs.message, /mirror: host gone\.shop\.svc\.cluster\.local is not a Service/);
});

test('match blocks: conditions inside one are ANDed, blocks are ORed (one entry each); the ratings-route example', () => {
  const out = compile([vs('ratings-route', { hosts: ['ratings.shop.svc.cluster.local'], http: [{
    match: [{ headers: { 'end-user': { exact: 'jason' } }, uri: { prefix: '/ratings/v2/' }, ignoreUriCase: true }, { uri: { exact: '/health' } }],
    route: [to('ratings.shop.svc.cluster.local')],
  }] })]);
  const [a, b] = entries(out, RATINGS);
  assert.deepEqual(http0(a), { protocol: 'http', path: { type: 'RegularExpression', value: '(?i)/ratings/v2/.*' }, headers: [{ name: 'end-user', type: 'Exact', value: 'jason' }], queryParams: [] });
  assert.ok(compileRouteRegex(http0(a).path.value).test('/RATINGS/v2/x'));
  assert.deepEqual(http0(b).path, { type: 'Exact', value: '/health' });
});

test('uri: exact, prefix (character-wise, as Envoy) and regex (full match); ignoreUriCase only for exact and prefix', () => {
  const path = (uri: unknown, ignoreUriCase = false): HttpRouteMatch['path'] | undefined => {
    const e = entries(compile([vs('a', { hosts: ['reviews'], http: [{ match: [{ uri, ignoreUriCase }], route: [to('reviews')] }] })]))[0];
    return e === undefined ? undefined : http0(e).path;
  };
  const rows: [unknown, boolean, HttpRouteMatch['path'], string[], string[]][] = [
    [{ exact: '/a' }, false, { type: 'Exact', value: '/a' }, ['/a'], ['/a/', '/A']],
    [{ exact: '/a' }, true, { type: 'RegularExpression', value: '(?i)/a' }, ['/a', '/A'], ['/a/']],
    [{ exact: '/a b' }, false, { type: 'RegularExpression', value: '/a b' }, ['/a b'], ['/a']],
    [{ prefix: '/foo' }, false, { type: 'RegularExpression', value: '/foo.*' }, ['/foo', '/foobar', '/foo/x'], ['/fo', '/Foo']],
    [{ prefix: '/' }, false, { type: 'PathPrefix', value: '/' }, [], []],
    [{ regex: '/v[0-9]+' }, true, { type: 'RegularExpression', value: '/v[0-9]+' }, ['/v12'], ['/V12', '/v12/x']],
  ];
  for (const [uri, ignore, want, yes, no] of rows) {
    const got = path(uri, ignore);
    assert.deepEqual(got, want, JSON.stringify(uri));
    if (got?.type !== 'RegularExpression') continue;
    for (const p of yes) assert.ok(compileRouteRegex(got.value).test(p), `${JSON.stringify(uri)} takes ${p}`);
    for (const p of no) assert.ok(!compileRouteRegex(got.value).test(p), `${JSON.stringify(uri)} refuses ${p}`);
  }
});

test('headers and queryParams: presence, prefix, exact "" and regex, as the API text describes them', () => {
  const out = compile([vs('a', { hosts: ['reviews'], http: [{
    match: [{
      headers: { myheader: {}, 'X-Version': { prefix: 'v1' }, star: { regex: '*' }, uri: { exact: 'ignored' }, method: { exact: 'ignored' } },
      queryParams: { key: { exact: 'true' }, flag: { exact: '' }, ab: { prefix: 'ab' }, n: { regex: '\\d+$' } },
    }],
    route: [to('reviews')],
  }] })]);
  const m = http0(entries(out)[0]);
  assert.deepEqual(m.headers, [
    { name: 'myheader', type: 'RegularExpression', value: '.*' },
    { name: 'x-version', type: 'RegularExpression', value: 'v1.*' },
    { name: 'star', type: 'RegularExpression', value: '.*' },
  ]);
  const q = new Map(m.queryParams.map((x) => [x.name, x]));
  const takes = (name: string, v: string): boolean => {
    const p = q.get(name);
    return p !== undefined && (p.type === 'Exact' ? p.value === v : compileRouteRegex(p.value).test(v));
  };
  assert.ok(takes('key', 'true') && !takes('key', 'false'));
  assert.ok(takes('flag', '') && !takes('flag', 'x'));
  assert.ok(takes('ab', 'abc') && takes('ab', 'abx') && !takes('ab', 'xab'));
  assert.ok(takes('n', '123') && !takes('n', 'a123') && !takes('n', '123a'));
});

test('method: exact names one method; a prefix or regex is one entry per method it takes', () => {
  const methods = (method: unknown): (string | undefined)[] => entries(compile([vs('a', { hosts: ['reviews'], http: [{ match: [{ method }], route: [to('reviews')] }] })])).map((e) => http0(e).method);
  assert.deepEqual(methods({ exact: 'GET' }), ['GET']);
  assert.deepEqual(methods({ prefix: 'P' }), ['POST', 'PUT', 'PATCH']);
  assert.deepEqual(methods({ regex: 'GET|HEAD' }), ['GET', 'HEAD']);
  const odd = compile([vs('a', { hosts: ['reviews'], http: [{ match: [{ method: { exact: 'PROPFIND' } }], route: [to('reviews')] }] })]);
  assert.match(accepted(odd, 'a')?.message ?? '', /method\.exact: "PROPFIND" is not supported/);
});

test('sourceLabels and sourceNamespace: clients with those labels, resolved to workloads; the fault delay example', () => {
  const out = compile([vs('reviews-route', { hosts: ['reviews.shop.svc.cluster.local'], http: [
    {
      match: [{ sourceLabels: { env: 'prod' } }],
      route: [to('reviews.shop.svc.cluster.local', { subset: 'v1' })],
      fault: { delay: { percentage: { value: 0.1 }, fixedDelay: '5s' } },
    },
    { match: [{ sourceLabels: { env: 'prod' }, sourceNamespace: 'front' }], route: [to('reviews')] },
    { match: [{ sourceNamespace: 'front' }], route: [to('reviews')] },
  ] })]);
  const [a, b, c] = entries(out);
  assert.deepEqual(http0(a).sourceWorkloads, ['uid-front-web-prod', 'uid-shop-client-prod']);
  assert.deepEqual(a?.fault, { delay: { fixedDelay: 5000, fraction: { numerator: 1000, denominator: 1_000_000 } } });
  assert.deepEqual([http0(b).sourceWorkloads, http0(b).sourceNamespace], [['uid-front-web-prod'], 'front']);
  assert.deepEqual([http0(c).sourceWorkloads, http0(c).sourceNamespace], [undefined, 'front']);
});

test('redirect: 301 by default, uri replaces the whole path, prefixRewrite the matched prefix (the foo-redirect example)', () => {
  const redirect = (rule: Record<string, unknown>): RouteFilter | undefined => entries(compile([vs('a', { hosts: ['reviews'], http: [rule] })]))[0]?.filters[0];
  assert.deepEqual(redirect({ match: [{ uri: { exact: '/v1/getProductRatings' } }], redirect: { uri: '/v1/bookRatings', authority: 'newratings.default.svc.cluster.local' } }), {
    type: 'RequestRedirect', requestRedirect: { statusCode: 301, hostname: 'newratings.default.svc.cluster.local', path: { type: 'ReplaceFullPath', replaceFullPath: '/v1/bookRatings' }, port: 80 },
  });
  assert.deepEqual(redirect({ match: [{ uri: { prefix: '/foo/' } }], redirect: { authority: 'foo.example.com', prefixRewrite: '/' } }), {
    type: 'RequestRedirect', requestRedirect: { statusCode: 301, hostname: 'foo.example.com', replacePrefix: { prefix: '/foo/', replacement: '/' }, port: 80 },
  });
  assert.deepEqual(redirect({ redirect: { scheme: 'https', redirectCode: 308, derivePort: 'FROM_PROTOCOL_DEFAULT' } }), {
    type: 'RequestRedirect', requestRedirect: { statusCode: 308, scheme: 'https', port: 443 },
  });
  assert.deepEqual(redirect({ redirect: { uri: '/x', derivePort: 'FROM_REQUEST_PORT' } }), {
    type: 'RequestRedirect', requestRedirect: { statusCode: 301, path: { type: 'ReplaceFullPath', replaceFullPath: '/x' }, port: 9080 },
  });
  const e = entries(compile([vs('a', { hosts: ['reviews'], http: [{ redirect: { uri: '/x' } }] })]))[0];
  assert.deepEqual([e?.backends, e?.retry], [[], undefined]);
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ redirect: { uri: '/x' }, route: [to('reviews')] }, /route: cannot be used together with redirect/],
    [{ redirect: { uri: '/x', redirectCode: 399 } }, /redirectCode: 399 is not supported/],
    [{ match: [{ uri: { exact: '/a' } }], redirect: { prefixRewrite: '/b' } }, /prefixRewrite: needs every uri match of the rule to be a prefix match/],
    [{ redirect: {} }, /must set uri, prefixRewrite, authority, scheme or a port/],
  ];
  for (const [rule, why] of refused) assert.match(accepted(compile([vs('a', { hosts: ['reviews'], http: [rule] })]), 'a')?.message ?? '', why);
});

test('rewrite: a prefix match has its prefix replaced, an exact or regex match its whole path; authority too', () => {
  const rewrite = (rule: Record<string, unknown>): unknown => entries(compile([vs('a', { hosts: ['ratings'], http: [{ route: [to('ratings', { subset: undefined })], ...rule }] })]), RATINGS)[0]?.filters[0];
  // The ratings-route example: /ratings → /v1/bookRatings before forwarding.
  assert.deepEqual(rewrite({ match: [{ uri: { prefix: '/ratings' } }], rewrite: { uri: '/v1/bookRatings' } }), { type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '/ratings', replacement: '/v1/bookRatings' } } });
  assert.deepEqual(rewrite({ match: [{ uri: { prefix: '/Ratings' }, ignoreUriCase: true }], rewrite: { uri: '/r' } }), { type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '/Ratings', replacement: '/r', ignoreCase: true } } });
  assert.deepEqual(rewrite({ match: [{ uri: { exact: '/old' } }], rewrite: { uri: '/new', authority: 'New.Example' } }), { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, hostname: 'new.example' } });
  assert.deepEqual(rewrite({ match: [{ uri: { prefix: '' } }], rewrite: { uri: '/v2' } }), { type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '', replacement: '/v2' } } });
  // No uri match is Envoy's prefix "/": the replacement takes the place of that slash.
  assert.deepEqual(rewrite({ rewrite: { uri: '/v2/' } }), { type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '/', replacement: '/v2/' } } });
  // Setting the host header is an authority rewrite, as Istio builds it.
  assert.deepEqual(rewrite({ headers: { request: { set: { host: 'alias.example' } } } }), { type: 'URLRewrite', urlRewrite: { hostname: 'alias.example' } });
  assert.match(accepted(compile([vs('a', { hosts: ['ratings'], http: [{ route: [to('ratings')], rewrite: { uriRegexRewrite: { match: 'a', rewrite: 'b' } } }] })]), 'a')?.message ?? '', /uriRegexRewrite: is not supported/);
});

test('header operations: set overwrites, add appends, remove removes; Envoy removes before it adds', () => {
  const out = compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews')], headers: {
    request: { set: { 'X-A': '1', both: 's' }, add: { 'x-b': '2', both: 'a' }, remove: ['x-c', 'X-A', ':path'] },
    response: { set: { 'x-r': 'r' } },
  } }] })]);
  assert.deepEqual(entries(out)[0]?.filters, [
    { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }, { name: 'both', value: 's,a' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] } },
    { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-r', value: 'r' }], add: [], remove: [] } },
  ]);
});

test('timeout and retries: disabled timeout by default; the mesh retry default; attempts 0 turns retries off', () => {
  const entry = (rule: Record<string, unknown>): RouteEntry | undefined => entries(compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews')], ...rule }] })]))[0];
  const none = entry({});
  assert.deepEqual([none?.timeouts, none?.retry], [undefined, { attempts: 2, codes: [], on: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'] }]);
  assert.deepEqual(entry({ timeout: '10s' })?.timeouts, { request: 10_000 });
  assert.deepEqual(entry({ timeout: '0s' })?.timeouts, { request: 0 });
  assert.equal(entry({ retries: { attempts: 0 } })?.retry, undefined);
  // "maximum number of retries to 3 ... with a 2s timeout per retry attempt".
  const e = entry({ retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure,refused-stream' } });
  assert.deepEqual([e?.retry, e?.timeouts], [{ attempts: 3, codes: [], on: ['gateway-error', 'connect-failure', 'refused-stream'] }, { backendRequest: 2000 }]);
  assert.deepEqual(entry({ retries: { attempts: 1, retryOn: '503,reset' } })?.retry, { attempts: 1, codes: [503], on: ['reset', 'retriable-status-codes'] });
  assert.deepEqual(entry({ retries: { attempts: 2 }, timeout: '1s' })?.retry?.on, ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']);
  assert.deepEqual(entry({ retries: { attempts: 4, backoff: '50ms', retryIgnorePreviousHosts: false, retryOn: '5xx,retriable-4xx' } })?.retry, { attempts: 4, codes: [], on: ['5xx', 'retriable-4xx'], backoff: 50, ignorePreviousHosts: false });
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ retries: { attempts: 0, perTryTimeout: '1s' } }, /sets a retry policy while attempts is 0/],
    [{ retries: { attempts: 1, retryOn: 'sometimes' } }, /"sometimes" is not a retry condition/],
    [{ retries: { attempts: 1, retryOn: 'retriable-headers' } }, /retriable-headers is not supported/],
    [{ retries: { attempts: 1, retryOn: '200' } }, /status 200 is not supported/],
    [{ retries: { attempts: 1, perTryTimeout: '0.1ms' } }, /perTryTimeout: must be at least 1ms/],
  ];
  for (const [rule, why] of refused) assert.match(accepted(compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews')], ...rule }] })]), 'a')?.message ?? '', why);
});

test('fault: delay and abort with their percentages; none set means none injected', () => {
  const fault = (f: unknown): unknown => entries(compile([vs('a', { hosts: ['ratings'], http: [{ route: [to('ratings')], fault: f }] })]), RATINGS)[0]?.fault;
  const million = (n: number): unknown => ({ numerator: n, denominator: 1_000_000 });
  assert.deepEqual(fault({ abort: { percentage: { value: 0.1 }, httpStatus: 400 } }), { abort: { httpStatus: 400, fraction: million(1000) } });
  assert.deepEqual(fault({ abort: { percentage: { value: 50 }, grpcStatus: 'UNAVAILABLE' } }), { abort: { grpcStatus: 14, fraction: million(500_000) } });
  assert.deepEqual(fault({ abort: { httpStatus: 503 } }), { abort: { httpStatus: 503, fraction: million(0) } });
  assert.deepEqual(fault({ delay: { fixedDelay: '2s' } }), { delay: { fixedDelay: 2000, fraction: million(0) } });
  assert.deepEqual(fault({ delay: { fixedDelay: '7s', percent: 100 } }), { delay: { fixedDelay: 7000, fraction: { numerator: 100, denominator: 100 } } });
  assert.deepEqual(fault({ delay: { fixedDelay: '1s', percentage: { value: 100 } }, abort: { httpStatus: 500, percentage: { value: 10 } } }),
    { delay: { fixedDelay: 1000, fraction: million(1_000_000) }, abort: { httpStatus: 500, fraction: million(100_000) } });
  const refused: [unknown, RegExp][] = [
    [{}, /fault: must set delay and\/or abort/],
    [{ abort: { grpcStatus: '14' } }, /"14" is not a gRPC status name/],
    [{ abort: { httpStatus: 100 } }, /httpStatus: must be an integer in 200-599/],
    [{ delay: { exponentialDelay: '1s' } }, /exponentialDelay: is not supported/],
    [{ abort: { http2Error: 'x' } }, /http2Error: is not supported/],
  ];
  for (const [f, why] of refused) assert.match(accepted(compile([vs('a', { hosts: ['ratings'], http: [{ route: [to('ratings')], fault: f }] })]), 'a')?.message ?? '', why);
  assert.match(accepted(compile([vs('a', { hosts: ['ratings'], http: [{ redirect: { uri: '/x' }, fault: { abort: { httpStatus: 500 } } }] })]), 'a')?.message ?? '', /fault: cannot be used together with redirect/);
});

test('mirror: all requests unless a percentage says otherwise; 0 % is no mirror; mirrors lists several', () => {
  const mirrors = (rule: Record<string, unknown>): unknown[] => (entries(compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews', { subset: 'v1' })], ...rule }] })]))[0]?.filters ?? []);
  const m = (fraction: unknown, subset?: string): unknown => ({ type: 'RequestMirror', requestMirror: { service: REVIEWS, port: 9080, fraction, ...(subset === undefined ? {} : { subset }) } });
  assert.deepEqual(mirrors({ mirror: { host: 'reviews', subset: 'v2' } }), [m({ numerator: 100, denominator: 100 }, 'v2')]);
  assert.deepEqual(mirrors({ mirror: { host: 'reviews' }, mirrorPercentage: { value: 50 } }), [m({ numerator: 500_000, denominator: 1_000_000 })]);
  assert.deepEqual(mirrors({ mirror: { host: 'reviews' }, mirrorPercent: 20 }), [m({ numerator: 20, denominator: 100 })]);
  assert.deepEqual(mirrors({ mirror: { host: 'reviews' }, mirrorPercentage: { value: 0 } }), []);
  assert.deepEqual(mirrors({ mirrors: [{ destination: { host: 'reviews' } }, { destination: { host: 'reviews', subset: 'v2' }, percentage: { value: 1 } }] }),
    [m({ numerator: 100, denominator: 100 }), m({ numerator: 10_000, denominator: 1_000_000 }, 'v2')]);
  assert.match(accepted(compile([vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews')], mirror: { host: 'reviews' }, mirrors: [] }] })]), 'a')?.message ?? '', /may set only one of mirror and mirrors/);
});

test('what weft cannot honour leaves the VirtualService out, naming the field; the others keep working', () => {
  const rows: [Record<string, unknown>, RegExp][] = [
    [{ hosts: ['reviews'], http: [{ directResponse: { status: 503 } }] }, /spec\.http\[0\]\.directResponse: is not supported/],
    [{ hosts: ['reviews'], http: [{ match: [{ uri: { prefix: '/' } }], delegate: { name: 'x' } }] }, /delegate: is not supported/],
    [{ hosts: ['reviews'], http: [{ route: [to('reviews')], corsPolicy: {} }] }, /corsPolicy: is not supported/],
    [{ hosts: ['reviews'], http: [{ match: [{ withoutHeaders: { a: {} } }], route: [to('reviews')] }] }, /withoutHeaders: is not supported/],
    [{ hosts: ['reviews'], http: [{ match: [{ authority: { exact: 'a' } }], route: [to('reviews')] }] }, /authority: is not supported/],
    [{ hosts: ['reviews'], http: [{ match: [{ headers: { '@request.auth.claims.group': { exact: 'a' } } }], route: [to('reviews')] }] }, /matching JWT claims/],
    [{ hosts: ['reviews'], tcp: [{ route: [to('reviews')] }] }, /spec\.tcp: is not supported/],
    [{ hosts: ['reviews'], http: [{ rout: [to('reviews')] }] }, /spec\.http\[0\]\.rout: is not a field/],
    [{ hosts: ['reviews'], htp: [] }, /spec\.htp: unknown field \(did you mean "http"\?\)/],
    [{ hosts: ['reviews'], http: [{ route: [to('reviews')], timeout: '1d' }] }, /timeout: "1d" is not a duration/],
    [{ hosts: ['reviews'], http: [{ route: [to('*.example.com')] }] }, /must name one Service, not a wildcard/],
    [{ hosts: [], http: [] }, /spec\.hosts: must name at least one host/],
    [{ hosts: ['reviews'], http: [{ route: [to('reviews')], headers: { request: { set: { a: 'x\r\nevil: 1' } } } }] }, /must not contain line breaks or NUL/],
  ];
  for (const [spec, why] of rows) {
    const out = compile([vs('bad', spec), vs('good', { hosts: ['ratings'], http: [{ route: [to('ratings')] }] })]);
    const c = accepted(out, 'bad');
    assert.ok(c !== undefined, JSON.stringify(spec));
    assert.deepEqual([c.status, c.reason], ['False', 'UnsupportedValue'], JSON.stringify(spec));
    assert.match(c.message, why);
    assert.match(c.message, /the VirtualService is not applied$/);
    assert.equal(entries(out).length, 0);
    assert.equal(entries(out, RATINGS).length, 1);
  }
});

test('several VirtualServices for one host: their rules in turn, by name then namespace', () => {
  const out = compile([
    vs('b', { hosts: ['reviews'], http: [{ match: [{ uri: { prefix: '/b' } }], route: [to('reviews')] }] }),
    vs('a', { hosts: ['reviews.shop.svc.cluster.local'], http: [{ match: [{ uri: { prefix: '/a' } }], route: [to('reviews')] }] }),
  ]);
  assert.deepEqual(entries(out).map((e) => e.route.name), ['a', 'b']);
});

test('an HTTPRoute on the same Service wins; the VirtualService says so', () => {
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'reviews', namespace: 'shop' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
  };
  const out = compile([route, vs('reviews', { hosts: ['reviews', 'ratings'], http: [{ route: [to('ratings')] }] })]);
  assert.deepEqual(entries(out).map((e) => e.route.kind), ['HTTPRoute']);
  assert.deepEqual(entries(out, RATINGS).map((e) => e.route.kind), ['VirtualService']);
  const c = accepted(out, 'reviews');
  assert.equal(c?.status, 'True');
  assert.match(c.message, /not applied: Service shop\/reviews is routed by HTTPRoute shop\/reviews, and Gateway API routes take precedence over VirtualServices at a waypoint/);
  const only = compile([route, vs('reviews', { hosts: ['reviews'], http: [{ route: [to('ratings')] }] })]);
  assert.deepEqual([accepted(only, 'reviews')?.status, accepted(only, 'reviews')?.reason], ['False', 'Overridden']);
});
