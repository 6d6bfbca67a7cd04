// Joining Istio's networking API to the Gateway API tables: DestinationRules apply to the
// Services a table sends to whichever API routed there, a rule alone still reaches its
// Service's waypoint, nothing changes for a cluster without the Istio kinds, and the model
// builder pushes the joined tables and reports the kinds' conditions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServiceRoutes, type ServiceRoutes } from '#core/config/routes.ts';
import { ambient, gateway, ns, objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import { ModelBuilder } from '#controller/model/build.ts';
import { compileRoutes } from '#controller/model/routes.ts';
import { compileIstioTraffic, type CompiledTraffic } from '#controller/model/istio-traffic.ts';

const port = [{ name: 'http', port: 9080, targetPort: 9080 }];
const base = (): unknown[] => [
  gateway('shop', 'waypoint'),
  service('shop', 'reviews', { selector: { app: 'reviews' }, ports: port }),
  service('shop', 'ratings', { selector: { app: 'ratings' }, ports: port }),
  service('free', 'details', { selector: { app: 'details' }, ports: port }),
  pod('shop', 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
  pod('free', 'details-v1', { labels: { app: 'details', version: 'v1' } }),
];
const waypointOfService = (key: string): string | undefined => (key.startsWith('shop/') ? 'shop/waypoint' : undefined);

function dr(name: string, spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace }, spec };
}

function compile(docs: unknown[]): { gateway: ServiceRoutes[]; out: CompiledTraffic } {
  const objects = objectsFrom([...base(), ...docs]);
  const gatewayApi = compileRoutes(objects, { trustDomain: 'cluster.local', waypointOfService });
  const out = compileIstioTraffic(objects, gatewayApi.routes, { clusterId: 'Kubernetes', rootNamespace: 'istio-system', waypointOfService });
  for (const t of out.routes) assert.deepEqual(parseServiceRoutes(JSON.parse(JSON.stringify(t)), 'routes'), t, t.service);
  return { gateway: gatewayApi.routes, out };
}

const httpRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'reviews', namespace: 'shop' },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }] },
};

test('without VirtualServices and DestinationRules the Gateway API tables pass through untouched', () => {
  const { gateway: gw, out } = compile([httpRoute]);
  assert.equal(out.routes.length, 1);
  assert.equal(out.routes[0], gw[0]);
  assert.deepEqual(out.conditions, []);
});

test('a DestinationRule applies to an HTTPRoute\'s backends too, and to the routed Service itself', () => {
  const { out } = compile([httpRoute, dr('ratings', { host: 'ratings', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }), dr('reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } })]);
  const table = out.routes.find((t) => t.service === 'shop/reviews.shop.svc.cluster.local');
  assert.deepEqual(table?.entries.map((e) => e.route.kind), ['HTTPRoute']);
  assert.deepEqual(table?.destinations?.map((d) => [d.service, d.policies]), [
    ['shop/ratings.shop.svc.cluster.local', [{ loadBalancer: { simple: 'RANDOM' } }]],
    ['shop/reviews.shop.svc.cluster.local', [{ loadBalancer: { simple: 'ROUND_ROBIN' } }]],
  ]);
});

test('a DestinationRule alone reaches its Service\'s waypoint as a table without entries', () => {
  const { out } = compile([dr('ratings', { host: 'ratings', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1 } } })]);
  assert.deepEqual(out.routes.map((t) => [t.service, t.waypoint, t.entries.length, t.destinations?.map((d) => d.rules)]), [
    ['shop/ratings.shop.svc.cluster.local', 'shop/waypoint', 0, [['shop/ratings']]],
  ]);
  assert.deepEqual(out.conditions.map((c) => [c.name, c.status, c.message]), [['ratings', 'True', 'applied by waypoint shop/waypoint to requests for Service shop/ratings']]);
});

test('a Service without a waypoint gets its DestinationRule where a waypoint routes to it', () => {
  const vs = {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' },
    spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'details.free.svc.cluster.local', subset: 'v1' } }] }] },
  };
  const rule = dr('details', { host: 'details', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }, 'free');
  const { out } = compile([vs, rule]);
  const table = out.routes.find((t) => t.service === 'shop/reviews.shop.svc.cluster.local');
  assert.deepEqual(table?.entries[0]?.backends, [{ service: 'free/details.free.svc.cluster.local', port: 9080, weight: 1, subset: 'v1' }]);
  assert.deepEqual(table?.destinations?.map((d) => [d.service, d.subsets]), [['free/details.free.svc.cluster.local', [{ name: 'v1', workloads: ['uid-free-details-v1'] }]]]);
  assert.match(out.conditions.find((c) => c.kind === 'DestinationRule')?.message ?? '', /^applied by waypoint shop\/waypoint to requests for Service free\/details$/);
  // Nobody sends to it: the rule has no effect, and says why.
  const alone = compile([rule]).out;
  assert.equal(alone.routes.length, 0);
  assert.equal(alone.conditions[0]?.reason, 'NoWaypoint');
});

test('the model builder pushes the joined tables and reports both kinds\' conditions', () => {
  const docs = [
    ns('shop', { ...ambient, 'istio.io/use-waypoint': 'waypoint' }),
    gateway('shop', 'waypoint', { address: '10.0.0.100' }),
    service('shop', 'reviews', { selector: { app: 'reviews' }, ports: port }),
    pod('shop', 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
    dr('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
    {
      apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }], fault: { abort: { httpStatus: 503, percentage: { value: 50 } } } }] },
    },
  ];
  const model = new ModelBuilder().build(objectsFrom(docs), { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' });
  const routes = model.resources.get('routes/shop/reviews.shop.svc.cluster.local');
  assert.equal(routes?.kind, 'routes');
  assert.deepEqual(routes.value.entries.map((e) => [e.route.kind, e.fault?.abort]), [['VirtualService', { httpStatus: 503, fraction: { numerator: 500_000, denominator: 1_000_000 } }]]);
  assert.deepEqual(routes.value.destinations?.[0]?.subsets, [{ name: 'v1', workloads: ['uid-shop-reviews-v1'] }]);
  const conditions = model.conditions.filter((c) => c.kind === 'VirtualService' || c.kind === 'DestinationRule').map((c) => `${c.kind}/${c.type}=${c.status}`);
  assert.deepEqual(conditions, ['VirtualService/Accepted=True', 'VirtualService/ResolvedRefs=True', 'DestinationRule/Accepted=True']);
});
