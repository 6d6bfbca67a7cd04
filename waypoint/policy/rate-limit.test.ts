// The local rate limit's decisions on a fake clock: buckets filling whole each window, which
// requests each selector picks, one bucket per distinct value and per route, refused requests
// costing nothing, the headers, and what a plan becomes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RateLimitPolicy, RateLimitRule } from '#core/config/routes.ts';
import { noEdit, type HeaderMap, type Plan } from '#waypoint/request/plan-types.ts';
import { currentBucket, drawsFor, LocalRateLimiter, limitPlan, planIsLimited, type RateLimitRequest } from '#waypoint/policy/rate-limit.ts';

const SVC = 'shop/reviews.shop.svc.cluster.local';

function policy(rules: RateLimitRule[], routes?: string[], name = 'shop/limit'): RateLimitPolicy {
  return { policy: name, type: 'Local', rules, ...(routes === undefined ? {} : { routes }) };
}

function req(headers: Record<string, string> = {}, sourceIp = '10.0.0.5', route?: string): RateLimitRequest {
  return { header: (n) => headers[n], sourceIp, ...(route === undefined ? {} : { route }) };
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('currentBucket: full on first use, unchanged inside the window, full again after it, in phase', () => {
  const rule = { requests: 3, unit: 'Second' } as const;
  assert.deepEqual(currentBucket(undefined, rule, 500), { tokens: 3, refillAt: 1500 });
  assert.deepEqual(currentBucket({ tokens: 0, refillAt: 1500 }, rule, 1499), { tokens: 0, refillAt: 1500 });
  assert.deepEqual(currentBucket({ tokens: 0, refillAt: 1500 }, rule, 1500), { tokens: 3, refillAt: 2500 });
  assert.deepEqual(currentBucket({ tokens: 1, refillAt: 1500 }, rule, 4700), { tokens: 3, refillAt: 5500 });
});

test('N + k requests in one window: exactly k refused, then a fresh window', () => {
  const c = clock();
  const limiter = new LocalRateLimiter({ now: c.now });
  const limits = [policy([{ clientSelectors: [], requests: 10, unit: 'Minute' }])];
  const kinds = Array.from({ length: 13 }, () => limiter.check(SVC, limits, req()).kind);
  assert.deepEqual(kinds, [...Array<string>(10).fill('allow'), 'deny', 'deny', 'deny']);
  c.advance(60_000);
  assert.equal(limiter.check(SVC, limits, req()).kind, 'allow');
});

test('headers: the limit with its window, what is left, seconds to the refill', () => {
  const c = clock();
  const limiter = new LocalRateLimiter({ now: c.now });
  const limits = [policy([{ clientSelectors: [], requests: 2, unit: 'Minute' }])];
  assert.deepEqual(limiter.check(SVC, limits, req()), {
    kind: 'allow', headers: { 'x-ratelimit-limit': '2, 2;w=60', 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '60' },
  });
  c.advance(15_500);
  limiter.check(SVC, limits, req());
  assert.deepEqual(limiter.check(SVC, limits, req()), {
    kind: 'deny', policy: 'shop/limit', headers: { 'x-ratelimit-limit': '2, 2;w=60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '45' },
  });
});

test('selectors: which requests a rule counts', () => {
  const cases: { name: string; rule: RateLimitRule; r: RateLimitRequest; counted: boolean }[] = [
    { name: 'no selector: all', rule: { clientSelectors: [], requests: 1, unit: 'Second' }, r: req(), counted: true },
    { name: 'exact hit', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: false }] }], requests: 1, unit: 'Second' }, r: req({ 'x-user': 'one' }), counted: true },
    { name: 'exact miss', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: false }] }], requests: 1, unit: 'Second' }, r: req({ 'x-user': 'two' }), counted: false },
    { name: 'exact absent', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: false }] }], requests: 1, unit: 'Second' }, r: req(), counted: false },
    { name: 'inverted miss', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: true }] }], requests: 1, unit: 'Second' }, r: req({ 'x-user': 'two' }), counted: true },
    { name: 'inverted absent', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: true }] }], requests: 1, unit: 'Second' }, r: req(), counted: true },
    { name: 'regex whole value', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'RegularExpression', value: 'o.e', invert: false }] }], requests: 1, unit: 'Second' }, r: req({ 'x-user': 'bone' }), counted: false },
    { name: 'regex hit', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'RegularExpression', value: 'o.e', invert: false }] }], requests: 1, unit: 'Second' }, r: req({ 'x-user': 'one' }), counted: true },
    { name: 'distinct absent', rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Distinct', invert: false }] }], requests: 1, unit: 'Second' }, r: req(), counted: false },
    { name: 'cidr in', rule: { clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: '10.0.0.0/24' } }], requests: 1, unit: 'Second' }, r: req({}, '10.0.0.9'), counted: true },
    { name: 'cidr mapped v4', rule: { clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: '10.0.0.0/24' } }], requests: 1, unit: 'Second' }, r: req({}, '::ffff:10.0.0.9'), counted: true },
    { name: 'cidr out', rule: { clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: '10.0.0.0/24' } }], requests: 1, unit: 'Second' }, r: req({}, '10.0.1.9'), counted: false },
    { name: 'cidr other family', rule: { clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: 'fd00::/8' } }], requests: 1, unit: 'Second' }, r: req({}, '10.0.0.9'), counted: false },
    {
      name: 'all selectors must hold',
      rule: { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'one', invert: false }] }, { headers: [], sourceCIDR: { type: 'Exact', value: '192.168.0.0/16' } }], requests: 1, unit: 'Second' },
      r: req({ 'x-user': 'one' }, '10.0.0.9'),
      counted: false,
    },
  ];
  for (const tc of cases) assert.equal(drawsFor(SVC, [policy([tc.rule])], tc.r).length, tc.counted ? 1 : 0, tc.name);
});

test('buckets: one per distinct header value and source address; Exact selectors share one', () => {
  const limiter = new LocalRateLimiter({ now: clock().now });
  const byUser = [policy([{ clientSelectors: [{ headers: [{ name: 'x-user', type: 'Distinct', invert: false }] }], requests: 1, unit: 'Minute' }])];
  assert.equal(limiter.check(SVC, byUser, req({ 'x-user': 'a' })).kind, 'allow');
  assert.equal(limiter.check(SVC, byUser, req({ 'x-user': 'b' })).kind, 'allow');
  assert.equal(limiter.check(SVC, byUser, req({ 'x-user': 'a' })).kind, 'deny');
  const byIp = [policy([{ clientSelectors: [{ headers: [], sourceCIDR: { type: 'Distinct', value: '10.0.0.0/8' } }], requests: 1, unit: 'Minute' }], undefined, 'shop/ip')];
  assert.equal(limiter.check(SVC, byIp, req({}, '10.0.0.1')).kind, 'allow');
  assert.equal(limiter.check(SVC, byIp, req({}, '10.0.0.2')).kind, 'allow');
  assert.equal(limiter.check(SVC, byIp, req({}, '10.0.0.1')).kind, 'deny');
  const shared = [policy([{ clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: '10.0.0.0/8' } }], requests: 1, unit: 'Minute' }], undefined, 'shop/shared')];
  assert.equal(limiter.check(SVC, shared, req({}, '10.0.0.1')).kind, 'allow');
  assert.equal(limiter.check(SVC, shared, req({}, '10.0.0.2')).kind, 'deny');
});

test('routes: a route-scoped policy skips other routes; every route rule has its own bucket', () => {
  const limiter = new LocalRateLimiter({ now: clock().now });
  const scoped = [policy([{ clientSelectors: [], requests: 1, unit: 'Minute' }], ['HTTPRoute/shop/reviews'])];
  assert.equal(limiter.check(SVC, scoped, req({}, '10.0.0.1', 'HTTPRoute/shop/other#0')).kind, 'none');
  assert.equal(limiter.check(SVC, scoped, req()).kind, 'none');
  assert.equal(limiter.check(SVC, scoped, req({}, '10.0.0.1', 'HTTPRoute/shop/reviews#0')).kind, 'allow');
  assert.equal(limiter.check(SVC, scoped, req({}, '10.0.0.1', 'HTTPRoute/shop/reviews#1')).kind, 'allow');
  assert.equal(limiter.check(SVC, scoped, req({}, '10.0.0.1', 'HTTPRoute/shop/reviews#0')).kind, 'deny');
});

test('several rules: a refused request takes no token from the others', () => {
  const limiter = new LocalRateLimiter({ now: clock().now });
  const limits = [policy([
    { clientSelectors: [], requests: 3, unit: 'Minute' },
    { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'bad', invert: false }] }], requests: 1, unit: 'Minute' },
  ])];
  assert.equal(limiter.check(SVC, limits, req({ 'x-user': 'bad' })).kind, 'allow');
  assert.equal(limiter.check(SVC, limits, req({ 'x-user': 'bad' })).kind, 'deny');
  assert.equal(limiter.check(SVC, limits, req({ 'x-user': 'bad' })).kind, 'deny');
  // The shared rule spent one token only: two left for everyone else.
  assert.equal(limiter.check(SVC, limits, req()).kind, 'allow');
  assert.equal(limiter.check(SVC, limits, req()).kind, 'allow');
  assert.equal(limiter.check(SVC, limits, req()).kind, 'deny');
});

test('many distinct clients: buckets stay within the bound', () => {
  const c = clock();
  const limiter = new LocalRateLimiter({ now: c.now, maxBuckets: 100 });
  const limits = [policy([{ clientSelectors: [{ headers: [{ name: 'x-user', type: 'Distinct', invert: false }] }], requests: 1, unit: 'Second' }])];
  for (let i = 0; i < 1000; i++) {
    limiter.check(SVC, limits, req({ 'x-user': String(i) }));
    if (i % 300 === 0) c.advance(2_000);
  }
  assert.ok(limiter.size <= 100, `${limiter.size} buckets`);
});

test('limitPlan: refused → 429 RL with the headers, route and delay kept; allowed → headers on the response', () => {
  const forward: Plan = { kind: 'forward', backend: { kind: 'service', serviceKey: SVC, port: 80 }, path: '/', editRequest: noEdit, editResponse: noEdit, mirrors: [], route: 'HTTPRoute/shop/r#0', delayMs: 5 };
  const headers = { 'x-ratelimit-limit': '1, 1;w=1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' };
  assert.deepEqual(limitPlan(forward, { kind: 'deny', policy: 'shop/limit', headers }), {
    kind: 'respond', status: 429, body: 'local_rate_limited', flags: 'RL', headers, route: 'HTTPRoute/shop/r#0', delayMs: 5,
  });
  assert.equal(limitPlan(forward, { kind: 'none' }), forward);
  const allowed = limitPlan(forward, { kind: 'allow', headers });
  assert.equal(allowed.kind, 'forward');
  const h: HeaderMap = { 'content-type': 'text/plain' };
  if (allowed.kind === 'forward') allowed.editResponse(h);
  assert.deepEqual(h, { 'content-type': 'text/plain', ...headers });
  const redirect: Plan = { kind: 'respond', status: 302, body: '', flags: '-', headers: { location: '/x' } };
  assert.deepEqual(limitPlan(redirect, { kind: 'allow', headers }), { ...redirect, headers: { location: '/x', ...headers } });
});

test('planIsLimited: RBAC denials and fault aborts come first', () => {
  const respond = (flags: string): Plan => ({ kind: 'respond', status: 403, body: '', flags });
  assert.deepEqual(['RBAC', 'FI', 'NR', '-'].map((f) => planIsLimited(respond(f))), [false, false, true, true]);
});
