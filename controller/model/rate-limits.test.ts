// BackendTrafficPolicy → route-table rate limits: what each kind of targetRef reaches, how
// rules and client selectors are read (Envoy Gateway's defaults: header type Exact, sourceCIDR
// type Exact), which rules are left out, and the Accepted condition of every policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteEntry, ServiceRoutes } from '#core/config/routes.ts';
import { parseServiceRoutes } from '#core/config/routes.ts';
import { gateway, objectsFrom, service } from '#controller/testdata/objects.ts';
import { compileRateLimits, type CompiledRateLimits } from '#controller/model/rate-limits.ts';

const REVIEWS = 'shop/reviews.shop.svc.cluster.local';
const RATINGS = 'shop/ratings.shop.svc.cluster.local';

function btp(name: string, spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name, namespace }, spec };
}

function entry(route: string): RouteEntry {
  return {
    route: { kind: 'HTTPRoute', namespace: 'shop', name: route, rule: 0 },
    attachment: 'producer',
    match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
    filters: [],
    backends: [],
  };
}

const tables = (): ServiceRoutes[] => [{ service: REVIEWS, waypoint: 'shop/waypoint', entries: [entry('reviews')] }];

const perMinute = (requests: number) => ({ requests, unit: 'Minute' });
const local = (rules: unknown[]) => ({ type: 'Local', local: { rules } });
const routeRef = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'reviews' };

function compile(docs: unknown[]): CompiledRateLimits {
  const objects = objectsFrom([
    gateway('shop', 'waypoint'),
    service('shop', 'reviews'),
    service('shop', 'ratings'),
    service('shop', 'details'),
    ...docs,
  ]);
  const uses = new Map([['shop/reviews', 'shop/waypoint'], ['shop/ratings', 'shop/waypoint']]);
  return compileRateLimits(objects, tables(), { waypointOfService: (k) => uses.get(k), isWaypoint: (k) => k === 'shop/waypoint' });
}

function accepted(c: CompiledRateLimits, name: string): { status: string; reason: string; message: string } | undefined {
  const found = c.conditions.find((x) => x.name === name && x.type === 'Accepted');
  return found === undefined ? undefined : { status: found.status, reason: found.reason, message: found.message };
}

test('no BackendTrafficPolicy: the tables pass through untouched', () => {
  const c = compile([]);
  assert.deepEqual(c, { routes: tables(), conditions: [] });
});

test('targetRefs: each kind reaches its tables; a route target limits only that route', () => {
  const cases: { name: string; ref: Record<string, unknown>; tables: Record<string, string[] | undefined> }[] = [
    { name: 'httproute', ref: routeRef, tables: { [REVIEWS]: ['HTTPRoute/shop/reviews'] } },
    { name: 'service', ref: { kind: 'Service', name: 'ratings' }, tables: { [RATINGS]: undefined } },
    { name: 'core-group', ref: { group: 'core', kind: 'Service', name: 'reviews' }, tables: { [REVIEWS]: undefined } },
    { name: 'gateway', ref: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }, tables: { [RATINGS]: undefined, [REVIEWS]: undefined } },
  ];
  for (const tc of cases) {
    const c = compile([btp(tc.name, { targetRefs: [tc.ref], rateLimit: local([{ limit: perMinute(10) }]) })]);
    const limited = Object.fromEntries(c.routes.filter((t) => t.rateLimits !== undefined).map((t) => [t.service, t.rateLimits?.[0]?.routes]));
    assert.deepEqual(limited, tc.tables, tc.name);
    assert.equal(accepted(c, tc.name)?.status, 'True', tc.name);
    for (const t of c.routes) assert.doesNotThrow(() => parseServiceRoutes(JSON.parse(JSON.stringify(t)), 'routes'), tc.name);
  }
});

test('a Service without a route gets a table without entries, carrying its limit', () => {
  const c = compile([btp('r', { targetRefs: [{ kind: 'Service', name: 'ratings' }], rateLimit: local([{ limit: perMinute(5) }]) })]);
  assert.deepEqual(c.routes.find((t) => t.service === RATINGS), {
    service: RATINGS, waypoint: 'shop/waypoint', entries: [],
    rateLimits: [{ policy: 'shop/r', type: 'Local', rules: [{ clientSelectors: [], requests: 5, unit: 'Minute' }] }],
  });
});

test('client selectors: defaults filled, header names lower-cased, both kinds of Distinct kept', () => {
  const c = compile([btp('sel', {
    targetRef: routeRef,
    rateLimit: local([{
      clientSelectors: [
        { headers: [{ name: 'X-User-Id', value: 'one' }, { name: 'x-org', type: 'Distinct' }, { name: 'x-tier', type: 'RegularExpression', value: 'gold|silver', invert: true }] },
        { sourceCIDR: { value: '10.0.0.0/8', type: 'Distinct' } },
        { sourceCIDR: { value: '192.168.0.0/16' } },
      ],
      limit: { requests: 3, unit: 'Second' },
    }]),
  })]);
  assert.deepEqual(c.routes[0]?.rateLimits?.[0]?.rules, [{
    clientSelectors: [
      { headers: [
        { name: 'x-user-id', type: 'Exact', value: 'one', invert: false },
        { name: 'x-org', type: 'Distinct', invert: false },
        { name: 'x-tier', type: 'RegularExpression', value: 'gold|silver', invert: true },
      ] },
      { headers: [], sourceCIDR: { type: 'Distinct', value: '10.0.0.0/8' } },
      { headers: [], sourceCIDR: { type: 'Exact', value: '192.168.0.0/16' } },
    ],
    requests: 3,
    unit: 'Second',
  }]);
});

test('rules weft cannot read whole are left out, and the condition names the field', () => {
  const cases: { name: string; rule: Record<string, unknown>; field: string }[] = [
    { name: 'unit', rule: { limit: { requests: 1, unit: 'Month' } }, field: 'spec.rateLimit.local.rules[1].limit.unit' },
    { name: 'zero', rule: { limit: { requests: 0, unit: 'Second' } }, field: 'spec.rateLimit.local.rules[1].limit.requests' },
    { name: 'method', rule: { clientSelectors: [{ methods: [{ value: 'GET' }] }], limit: perMinute(1) }, field: 'spec.rateLimit.local.rules[1].clientSelectors[0].methods (not supported by weft)' },
    { name: 'distinct-value', rule: { clientSelectors: [{ headers: [{ name: 'x', type: 'Distinct', value: 'v' }] }], limit: perMinute(1) }, field: 'spec.rateLimit.local.rules[1].clientSelectors[0].headers[0].value' },
    { name: 'regex', rule: { clientSelectors: [{ headers: [{ name: 'x', type: 'RegularExpression', value: '(' }] }], limit: perMinute(1) }, field: 'spec.rateLimit.local.rules[1].clientSelectors[0].headers[0].value' },
    { name: 'cidr', rule: { clientSelectors: [{ sourceCIDR: { value: '10.0.0.1' } }], limit: perMinute(1) }, field: 'spec.rateLimit.local.rules[1].clientSelectors[0].sourceCIDR.value' },
    { name: 'empty', rule: { clientSelectors: [{}], limit: perMinute(1) }, field: 'spec.rateLimit.local.rules[1].clientSelectors[0]' },
    { name: 'shared', rule: { limit: perMinute(1), shared: true }, field: 'spec.rateLimit.local.rules[1].shared (not supported by weft)' },
  ];
  for (const tc of cases) {
    const c = compile([btp(tc.name, { targetRefs: [routeRef], rateLimit: local([{ limit: perMinute(10) }, tc.rule]) })]);
    assert.equal(c.routes[0]?.rateLimits?.[0]?.rules.length, 1, tc.name);
    const cond = accepted(c, tc.name);
    assert.equal(cond?.status, 'True', tc.name);
    assert.ok(cond.message.includes(tc.field), `${tc.name}: ${cond.message}`);
  }
});

test('policies that cannot apply: Accepted=False with the reason, and no table changes', () => {
  const cases: { name: string; spec: Record<string, unknown>; reason: string; says: string }[] = [
    { name: 'global-empty', spec: { targetRefs: [routeRef], rateLimit: { type: 'Global', local: { rules: [{ limit: perMinute(1) }] } } }, reason: 'Invalid', says: 'spec.rateLimit.global must be set' },
    { name: 'type', spec: { targetRefs: [routeRef], rateLimit: { type: 'Shared', local: { rules: [{ limit: perMinute(1) }] } } }, reason: 'Invalid', says: 'Local or Global' },
    { name: 'no-rate-limit', spec: { targetRefs: [routeRef], retry: { numRetries: 2 } }, reason: 'Invalid', says: 'spec.retry (not supported by weft)' },
    { name: 'no-rules', spec: { targetRefs: [routeRef], rateLimit: local([]) }, reason: 'Invalid', says: 'at least one rule' },
    { name: 'all-bad', spec: { targetRefs: [routeRef], rateLimit: local([{ limit: { requests: 1 } }]) }, reason: 'Invalid', says: 'limit.unit' },
    { name: 'no-targets', spec: { rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'Invalid', says: 'targetRefs is empty' },
    { name: 'missing', spec: { targetRefs: [{ kind: 'Service', name: 'nope' }], rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'TargetNotFound', says: 'Service shop/nope does not exist' },
    { name: 'no-waypoint', spec: { targetRefs: [{ kind: 'Service', name: 'details' }], rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'TargetNotFound', says: 'uses no waypoint' },
    { name: 'other-ns', spec: { targetRefs: [{ ...routeRef, namespace: 'other' }], rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'TargetNotFound', says: 'own namespace' },
    { name: 'not-waypoint', spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }], rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'TargetNotFound', says: 'is not a waypoint' },
    { name: 'kind', spec: { targetRefs: [{ group: 'apps', kind: 'Deployment', name: 'x' }], rateLimit: local([{ limit: perMinute(1) }]) }, reason: 'TargetNotFound', says: 'weft attaches rate limits to' },
  ];
  for (const tc of cases) {
    const c = compile([btp(tc.name, tc.spec)]);
    assert.deepEqual(c.routes, tables(), tc.name);
    const cond = accepted(c, tc.name);
    assert.equal(cond?.status, 'False', tc.name);
    assert.equal(cond.reason, tc.reason, tc.name);
    assert.ok(cond.message.includes(tc.says), `${tc.name}: ${cond.message}`);
  }
  assert.equal(accepted(compile([btp('x', { targetRefs: [routeRef], rateLimit: local([{ limit: perMinute(1) }]) })]), 'x')?.status, 'True');
});

test('several policies on one Service keep their order by name; a partly attached one says what it missed', () => {
  const c = compile([
    btp('b', { targetRefs: [{ kind: 'Service', name: 'reviews' }, { kind: 'Service', name: 'nope' }], rateLimit: local([{ limit: perMinute(2) }]) }),
    btp('a', { targetRefs: [routeRef], rateLimit: local([{ limit: perMinute(1) }]) }),
  ]);
  assert.deepEqual(c.routes[0]?.rateLimits?.map((l) => l.policy), ['shop/a', 'shop/b']);
  const b = accepted(c, 'b');
  assert.equal(b?.status, 'True');
  assert.match(b.message, /not attached: Service shop\/nope does not exist/);
});

test('a Global policy reaches the table as Global, and says it is shared', () => {
  const c = compile([btp('g', { targetRefs: [routeRef], rateLimit: { type: 'Global', global: { rules: [{ limit: perMinute(100) }] } } })]);
  assert.deepEqual(c.routes[0]?.rateLimits, [{ policy: 'shop/g', type: 'Global', routes: ['HTTPRoute/shop/reviews'], rules: [{ clientSelectors: [], requests: 100, unit: 'Minute' }] }]);
  assert.match(accepted(c, 'g')?.message ?? '', /global limit \(shared through Redis\)/);
});

test('each condition names its ancestor, as Envoy Gateway\'s status.ancestors[]: the waypoint it acts through, else the target', () => {
  const ancestors = (c: CompiledRateLimits, name: string): unknown[] =>
    c.conditions.filter((x) => x.name === name).map((x) => [x.status, x.reason, (x as { parentRef?: unknown }).parentRef]);
  const c = compile([
    btp('on-service', { targetRefs: [{ kind: 'Service', name: 'reviews' }, { kind: 'Service', name: 'ratings' }], rateLimit: local([{ limit: perMinute(2) }]) }),
    btp('missing', { targetRefs: [{ kind: 'Service', name: 'nope' }], rateLimit: local([{ limit: perMinute(2) }]) }),
    btp('invalid', { targetRefs: [routeRef], rateLimit: { type: 'Sometimes' } }),
    btp('untargeted', { rateLimit: local([{ limit: perMinute(2) }]) }),
  ]);
  const waypoint = { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'shop', name: 'waypoint' };
  // Two Services of one waypoint: one ancestor.
  assert.deepEqual(ancestors(c, 'on-service'), [['True', 'Accepted', waypoint]]);
  assert.deepEqual(ancestors(c, 'missing'), [['False', 'TargetNotFound', { group: '', kind: 'Service', namespace: 'shop', name: 'nope' }]]);
  assert.deepEqual(ancestors(c, 'invalid'), [['False', 'Invalid', { ...routeRef, namespace: 'shop' }]]);
  assert.deepEqual(ancestors(c, 'untargeted'), [['False', 'Invalid', undefined]]);
});
