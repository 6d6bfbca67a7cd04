// The wire check of a route table's rate limits: a good table read back unchanged, and each
// bad field refused with its path, so a waypoint never runs a limit it cannot read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldError } from '#core/config/fields.ts';
import { parseServiceRoutes, type ServiceRoutes } from '#core/config/routes.ts';

const table = (rateLimits: unknown): unknown => ({ service: 'shop/reviews.shop.svc.cluster.local', waypoint: 'shop/waypoint', entries: [], rateLimits });

const good: ServiceRoutes = {
  service: 'shop/reviews.shop.svc.cluster.local', waypoint: 'shop/waypoint', entries: [],
  rateLimits: [{
    policy: 'shop/limit', type: 'Local', routes: ['HTTPRoute/shop/reviews'],
    rules: [
      { clientSelectors: [], requests: 10, unit: 'Minute' },
      {
        clientSelectors: [
          { headers: [{ name: 'x-user', type: 'Distinct', invert: false }, { name: 'x-tier', type: 'RegularExpression', value: 'gold|silver', invert: true }] },
          { headers: [], sourceCIDR: { type: 'Distinct', value: '10.0.0.0/8' } },
        ],
        requests: 1, unit: 'Second',
      },
    ],
  }],
};

test('parseServiceRoutes: rate limits read back as pushed', () => {
  assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(good)), 'routes'), good);
  const none = parseServiceRoutes({ service: good.service, waypoint: good.waypoint, entries: [] }, 'routes');
  assert.equal('rateLimits' in none, false);
});

test('parseServiceRoutes: every bad rate-limit field is refused with its path', () => {
  const rule = { clientSelectors: [], requests: 1, unit: 'Second' };
  const limit = (over: Record<string, unknown>): unknown[] => [{ policy: 'shop/limit', type: 'Local', rules: [rule], ...over }];
  const header = (h: Record<string, unknown>): unknown[] => limit({ rules: [{ ...rule, clientSelectors: [{ headers: [{ name: 'x', invert: false, ...h }] }] }] });
  const rows: [unknown, string][] = [
    [limit({ type: 'Shared' }), 'routes.rateLimits[0].type'],
    [limit({ policy: 'limit' }), 'routes.rateLimits[0].policy'],
    [limit({ rules: [] }), 'routes.rateLimits[0].rules'],
    [limit({ routes: ['reviews'] }), 'routes.rateLimits[0].routes[0]'],
    [limit({ rules: [{ ...rule, requests: 0 }] }), 'routes.rateLimits[0].rules[0].requests'],
    [limit({ rules: [{ ...rule, unit: 'Month' }] }), 'routes.rateLimits[0].rules[0].unit'],
    [header({ type: 'Exact' }), 'routes.rateLimits[0].rules[0].clientSelectors[0].headers[0].value'],
    [header({ type: 'Distinct', value: 'v' }), 'routes.rateLimits[0].rules[0].clientSelectors[0].headers[0].value'],
    [header({ type: 'Distinct', invert: true }), 'routes.rateLimits[0].rules[0].clientSelectors[0].headers[0].invert'],
    [header({ type: 'RegularExpression', value: '(' }), 'routes.rateLimits[0].rules[0].clientSelectors[0].headers[0].value'],
    [header({ name: 'X-User', type: 'Distinct' }), 'routes.rateLimits[0].rules[0].clientSelectors[0].headers[0].name'],
    [limit({ rules: [{ ...rule, clientSelectors: [{ headers: [], sourceCIDR: { type: 'Exact', value: '10.0.0.1' } }] }] }), 'routes.rateLimits[0].rules[0].clientSelectors[0].sourceCIDR.value'],
    [limit({ rules: [{ ...rule, clientSelectors: [{ headers: [], sourceCIDR: { type: 'Some', value: '10.0.0.0/8' } }] }] }), 'routes.rateLimits[0].rules[0].clientSelectors[0].sourceCIDR.type'],
  ];
  for (const [rateLimits, path] of rows) {
    assert.throws(() => parseServiceRoutes(table(rateLimits), 'routes'), (err: unknown) => err instanceof FieldError && err.path === path, path);
  }
});
