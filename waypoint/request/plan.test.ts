// Request planning for the Istio fields of the route table, table-driven where it can be:
// VirtualService source restrictions, DestinationRule subsets on backends and mirrors, fault
// delay and abort (HTTP and gRPC), and the retry conditions, defaults and host predicate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, Workload } from '#core/config/model.ts';
import type { RouteEntry, ServiceRoutes } from '#core/config/routes.ts';
import { planRequest, type PlanInput } from '#waypoint/request/plan.ts';
import type { Plan } from '#waypoint/request/plan-types.ts';

const SVC = 'shop/echo.shop.svc.cluster.local';

const service: Service = {
  name: 'echo', namespace: 'shop', hostname: 'echo.shop.svc.cluster.local', addresses: ['10.96.0.10'],
  ports: [{ servicePort: 80, targetPort: 8080 }], subjectAltNames: [],
};

function workload(uid: string): Workload {
  return {
    uid, name: uid, namespace: 'shop', addresses: ['10.0.0.9'], node: 'n1', tunnelProtocol: 'HBONE', trustDomain: 'cluster.local',
    serviceAccount: 'sleep', canonicalName: 'sleep', canonicalRevision: 'latest', workloadType: 'pod', workloadName: uid,
    services: {}, authorizationPolicies: [], status: 'HEALTHY', clusterId: 'c',
  };
}

function vs(rule: number, extra: Partial<RouteEntry> = {}): RouteEntry {
  return {
    route: { kind: 'VirtualService', namespace: 'shop', name: 'echo', rule },
    attachment: 'producer',
    match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] },
    filters: [],
    backends: [{ service: SVC, port: 80, weight: 1, subset: 'v1' }],
    ...extra,
  };
}

function table(entries: RouteEntry[]): ServiceRoutes {
  return {
    service: SVC, waypoint: 'shop/waypoint', entries,
    destinations: [{ service: SVC, rules: ['shop/echo'], subsets: [{ name: 'v1', workloads: ['uid-v1'] }, { name: 'v2', workloads: ['uid-v2'] }], policies: [] }],
  };
}

interface Call {
  path?: string;
  headers?: Record<string, string>;
  from?: Workload;
  random?: number[];
}

function plan(t: ServiceRoutes, c: Call = {}): Plan {
  const headers = new Map(Object.entries(c.headers ?? {}));
  const values = [...(c.random ?? [])];
  const input: PlanInput = {
    state: { routes: (k) => (k === SVC ? t : undefined), policies: () => [] },
    facts: { method: 'GET', path: c.path ?? '/', authority: 'echo', header: (n) => headers.get(n), port: 80, scheme: 'http', service },
    source: { ip: '10.0.0.9', principal: 'spiffe://cluster.local/ns/shop/sa/sleep', workload: c.from },
    destinationIp: '10.96.0.10',
    random: () => values.shift() ?? 0.5,
  };
  return planRequest(input);
}

function forwarded(p: Plan): Extract<Plan, { kind: 'forward' }> {
  assert.equal(p.kind, 'forward', JSON.stringify(p));
  if (p.kind !== 'forward') throw new Error('unreachable');
  return p;
}

test('sourceWorkloads: only the listed client takes the entry', () => {
  const t = table([
    vs(0, { match: { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], sourceWorkloads: ['uid-canary'] }, backends: [{ service: SVC, port: 80, weight: 1, subset: 'v2' }] }),
    vs(1),
  ]);
  const subsetName = (p: Plan): string | undefined => {
    const f = forwarded(p);
    return f.backend.kind === 'service' ? f.backend.subset : undefined;
  };
  assert.equal(subsetName(plan(t, { from: workload('uid-canary') })), 'v2');
  assert.equal(subsetName(plan(t, { from: workload('uid-other') })), 'v1');
  assert.equal(subsetName(plan(t)), 'v1', 'a client that is no known workload');
});

test('a backend with a subset carries its name; a mirror too', () => {
  const t = table([vs(0, {
    filters: [{ type: 'RequestMirror', requestMirror: { service: SVC, port: 80, fraction: { numerator: 1, denominator: 1 }, subset: 'v2' } }],
  })]);
  const f = forwarded(plan(t));
  assert.deepEqual(f.backend, { kind: 'service', serviceKey: SVC, port: 80, subset: 'v1' });
  assert.deepEqual(f.mirrors.map((m) => m.backend), [{ kind: 'service', serviceKey: SVC, port: 80, subset: 'v2' }]);
  const plain = forwarded(plan(table([vs(0, { backends: [{ service: SVC, port: 80, weight: 1 }] })])));
  assert.deepEqual(plain.backend, { kind: 'service', serviceKey: SVC, port: 80 });
});

test('fault: abort answers here, delay holds the request, both together', () => {
  const all = { numerator: 1, denominator: 1 };
  const rows: [string, RouteEntry['fault'], Call, Partial<Plan>][] = [
    ['http abort', { abort: { httpStatus: 418, fraction: all } }, {}, { kind: 'respond', status: 418, body: 'fault filter abort', flags: 'FI' }],
    ['grpc abort of a gRPC request', { abort: { grpcStatus: 14, fraction: all } }, { headers: { 'content-type': 'application/grpc' } },
      { kind: 'respond', status: 200, grpcStatus: 14, flags: 'FI' }],
    ['grpc abort of a plain request', { abort: { grpcStatus: 14, fraction: all } }, {}, { kind: 'respond', status: 503, flags: 'FI' }],
    ['delay and abort', { delay: { fixedDelay: 300, fraction: all }, abort: { httpStatus: 500, fraction: all } }, {},
      { kind: 'respond', status: 500, flags: 'FI', delayMs: 300 }],
    ['delay only', { delay: { fixedDelay: 300, fraction: all } }, {}, { kind: 'forward', delayMs: 300 }],
    ['abort missed', { abort: { httpStatus: 500, fraction: { numerator: 10, denominator: 100 } } }, { random: [0.5] }, { kind: 'forward' }],
  ];
  for (const [name, fault, call, want] of rows) {
    const p = plan(table([vs(0, fault === undefined ? {} : { fault })]), call);
    for (const [k, v] of Object.entries(want)) assert.deepEqual((p as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
  }
  assert.equal('delayMs' in plan(table([vs(0)])), false, 'no fault, no delay');
});

test('retry: conditions, defaults and the previous-hosts predicate', () => {
  const r = forwarded(plan(table([vs(0, { retry: { attempts: 3, codes: [429], on: ['5xx', 'retriable-status-codes'], ignorePreviousHosts: false } })]))).retry;
  assert.deepEqual(r, { attempts: 3, codes: new Set([429]), on: new Set(['5xx', 'retriable-status-codes']), backoffMs: 25, avoidTried: false });
  const d = forwarded(plan(table([vs(0, { retry: { codes: [503] } })]))).retry;
  assert.deepEqual(d, { attempts: 2, codes: new Set([503]), backoffMs: 25, avoidTried: true });
});

test('URLRewrite and redirect with a prefix replacement', () => {
  const m = { protocol: 'http' as const, path: { type: 'PathPrefix' as const, value: '/old' }, headers: [], queryParams: [] };
  const rw = forwarded(plan(table([vs(0, { match: m, filters: [{ type: 'URLRewrite', urlRewrite: { replacePrefix: { prefix: '/old', replacement: '/new' } } }] })]), { path: '/old/a?b=1' }));
  assert.equal(rw.path, '/new/a?b=1');
  const rd = plan(table([vs(0, { match: m, filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, replacePrefix: { prefix: '/old', replacement: '/x' } } }] })]), { path: '/old/a' });
  assert.equal(rd.kind, 'respond');
  if (rd.kind === 'respond') assert.deepEqual([rd.status, rd.headers], [301, { location: 'http://echo/x/a' }]);
});
