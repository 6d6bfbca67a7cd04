import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, Workload } from '#core/config/model.ts';
import type { DestinationPolicy, ServiceRoutes, TrafficPolicy } from '#core/config/routes.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { Destinations, policyFor, type Acquired, type DestinationConfig, type DestinationRequest } from './destinations.ts';

const SVC = 'shop/echo.shop.svc.cluster.local';

const service: Service = {
  name: 'echo', namespace: 'shop', hostname: 'echo.shop.svc.cluster.local', addresses: ['10.96.0.10'],
  ports: [{ servicePort: 80, targetPort: 8080 }], subjectAltNames: [],
};

function workload(uid: string, ip: string, ports: Record<string, number> = {}): Workload {
  return {
    uid, name: uid, namespace: 'shop', addresses: [ip], node: 'n1', tunnelProtocol: 'HBONE', trustDomain: 'cluster.local',
    serviceAccount: 'echo', canonicalName: 'echo', canonicalRevision: 'latest', workloadType: 'pod', workloadName: uid,
    services: { [SVC]: ports }, authorizationPolicies: [], status: 'HEALTHY', clusterId: 'c',
  };
}

class Config implements DestinationConfig {
  workloads: Workload[] = [workload('a', '10.0.0.1'), workload('b', '10.0.0.2', { 80: 9090 })];
  dest: DestinationPolicy | undefined;
  services = new Map([[SVC, service]]);
  service(key: string): Service | undefined { return this.services.get(key); }
  endpointsOf(key: string): Workload[] { return key === SVC ? this.workloads : []; }
  allRoutes(): ServiceRoutes[] {
    return [{ service: SVC, waypoint: 'shop/waypoint', entries: [], ...(this.dest === undefined ? {} : { destinations: [this.dest] }) }];
  }
}

function policy(...policies: TrafficPolicy[]): DestinationPolicy {
  return { service: SVC, rules: ['shop/echo'], subsets: [{ name: 'v1', workloads: ['a'] }, { name: 'v2', workloads: ['b'] }], policies };
}

const req = (over: Partial<DestinationRequest> = {}): DestinationRequest => ({ serviceKey: SVC, port: 80, use: 'http1', ...over });

function uidOf(got: Acquired): string {
  assert.equal(got.kind, 'endpoint');
  return got.kind === 'endpoint' ? got.endpoint.workload.uid : '';
}

describe('policyFor', () => {
  const p = policy(
    { subset: 'v1', port: 80, loadBalancer: { simple: 'RANDOM' } },
    { subset: 'v1', loadBalancer: { simple: 'ROUND_ROBIN' } },
    { port: 80, loadBalancer: { simple: 'LEAST_REQUEST' } },
    {},
  );
  const rows: [string, string | undefined, number, TrafficPolicy | undefined][] = [
    ['subset and port', 'v1', 80, p.policies[0]],
    ['subset, another port', 'v1', 81, p.policies[1]],
    ['no subset, the port', undefined, 80, p.policies[2]],
    ['another subset and port: the catch-all', 'v2', 81, p.policies[3]],
  ];
  for (const [name, subset, port, want] of rows) test(name, () => assert.equal(policyFor(p, subset, port), want));
  test('no DestinationRule', () => assert.equal(policyFor(undefined, undefined, 80), undefined));
});

describe('Destinations', () => {
  test('the target port comes from the endpoint, else the Service', () => {
    const cfg = new Config();
    cfg.dest = policy({ loadBalancer: { simple: 'ROUND_ROBIN' } });
    const d = new Destinations();
    d.configure(cfg);
    const got = [d.acquire(cfg, req()), d.acquire(cfg, req())].map((g) => (g.kind === 'endpoint' ? `${g.endpoint.address}:${g.endpoint.port}` : g.kind));
    assert.deepEqual(got, ['10.0.0.1:8080', '10.0.0.2:9090']);
  });

  test('a subset keeps to its workloads; an unknown one has no endpoint', () => {
    const cfg = new Config();
    cfg.dest = policy();
    const d = new Destinations();
    d.configure(cfg);
    for (let i = 0; i < 5; i++) assert.equal(uidOf(d.acquire(cfg, req({ subset: 'v2' }))), 'b');
    assert.equal(d.acquire(cfg, req({ subset: 'v9' })).kind, 'none');
  });

  test('unhealthy or addressless workloads are never chosen', () => {
    const cfg = new Config();
    cfg.workloads = [{ ...workload('a', '10.0.0.1'), status: 'UNHEALTHY' }, { ...workload('b', '10.0.0.2'), addresses: [] }];
    const d = new Destinations();
    d.configure(cfg);
    assert.equal(d.acquire(cfg, req()).kind, 'none');
  });

  test('a retry prefers an endpoint not tried', () => {
    const cfg = new Config();
    const d = new Destinations({ random: () => 0 });
    d.configure(cfg);
    for (let i = 0; i < 4; i++) assert.equal(uidOf(d.acquire(cfg, req({ tried: new Set(['a']) }))), 'b');
    // Every endpoint tried: any will do.
    assert.equal(d.acquire(cfg, req({ tried: new Set(['a', 'b']) })).kind, 'endpoint');
  });

  test('least request (the default) avoids the endpoint with requests in flight', () => {
    const cfg = new Config();
    const d = new Destinations({ random: () => 0 });
    d.configure(cfg);
    const first = d.acquire(cfg, req());
    assert.equal(uidOf(first), 'a');
    assert.equal(uidOf(d.acquire(cfg, req())), 'b');
  });

  test('a consistent hash on a header sends one user to one endpoint', () => {
    const cfg = new Config();
    cfg.dest = policy({ loadBalancer: { consistentHash: { key: { header: 'x-user' }, algorithm: { ringHash: { minimumRingSize: 1024 } } } } });
    const d = new Destinations();
    d.configure(cfg);
    const hash = { header: (n: string) => (n === 'x-user' ? 'jo' : undefined), sourceIp: '10.1.1.1', path: '/' };
    const seen = new Set(Array.from({ length: 10 }, () => uidOf(d.acquire(cfg, req({ hash })))));
    assert.equal(seen.size, 1);
  });

  test('a hash cookie with a ttl is generated when missing, and the client sending it back stays put', () => {
    const cfg = new Config();
    cfg.dest = policy({ loadBalancer: { consistentHash: { key: { cookie: { name: 'sticky', ttl: 10_000 } }, algorithm: { ringHash: { minimumRingSize: 1024 } } } } });
    const d = new Destinations();
    d.configure(cfg);
    const first = d.acquire(cfg, req({ hash: { header: () => undefined, sourceIp: '10.1.1.1', path: '/' } }));
    assert.equal(first.kind, 'endpoint');
    const setCookie = first.kind === 'endpoint' ? first.setCookie ?? '' : '';
    assert.match(setCookie, /^sticky=/);
    const cookie = setCookie.split(';')[0] ?? '';
    for (let i = 0; i < 5; i++) {
      const again = d.acquire(cfg, req({ hash: { header: (n) => (n === 'cookie' ? cookie : undefined), sourceIp: `10.2.2.${i}`, path: '/' } }));
      assert.equal(uidOf(again), uidOf(first));
      assert.equal(again.kind === 'endpoint' ? again.setCookie : 'x', undefined);
    }
  });

  test('past http2MaxRequests the request overflows, counted; ending a lease frees the slot', async () => {
    const cfg = new Config();
    cfg.dest = policy({ connectionPool: { http: { http2MaxRequests: 1 } } });
    const registry = new Registry();
    const d = new Destinations({ registry });
    d.configure(cfg);
    const held = d.acquire(cfg, req());
    assert.equal(held.kind, 'endpoint');
    assert.deepEqual(d.acquire(cfg, req()), { kind: 'overflow', limit: 'requests' });
    if (held.kind === 'endpoint') {
      held.lease.end({ status: 200 });
      held.lease.end({ status: 200 });
    }
    assert.equal(d.acquire(cfg, req()).kind, 'endpoint');
    assert.match(await registry.render(), /weft_waypoint_upstream_overflow_total\{destination_service="shop\/echo.shop.svc.cluster.local",limit="requests"\} 1/);
  });

  test('outlier detection ejects the failing endpoint, counts it, and lets it back after the ejection time', async () => {
    const cfg = new Config();
    cfg.dest = policy({
      loadBalancer: { simple: 'ROUND_ROBIN' },
      outlierDetection: { consecutive5xxErrors: 2, consecutiveGatewayErrors: 0, interval: 1000, baseEjectionTime: 5000, maxEjectionPercent: 100, minHealthPercent: 0 },
    });
    let now = 0;
    const registry = new Registry();
    const d = new Destinations({ registry, now: () => now });
    d.configure(cfg);
    for (let i = 0; i < 4; i++) {
      const got = d.acquire(cfg, req());
      if (got.kind === 'endpoint') got.lease.end({ status: got.endpoint.workload.uid === 'b' ? 503 : 200 });
    }
    const during = Array.from({ length: 6 }, () => uidOf(d.acquire(cfg, req())));
    assert.deepEqual(new Set(during), new Set(['a']));
    const text = await registry.render();
    assert.match(text, /weft_waypoint_outlier_ejections_total\{destination_service="shop\/echo.shop.svc.cluster.local",subset=""\} 1/);
    assert.match(text, /weft_waypoint_outlier_ejected_endpoints\{destination_service="shop\/echo.shop.svc.cluster.local",subset=""\} 1/);
    now = 5000;
    const after = Array.from({ length: 4 }, () => uidOf(d.acquire(cfg, req())));
    assert.deepEqual(new Set(after), new Set(['a', 'b']));
  });

  test('below minHealthPercent ejections are ignored (panic mode)', () => {
    const cfg = new Config();
    cfg.dest = policy({
      outlierDetection: { consecutive5xxErrors: 1, consecutiveGatewayErrors: 0, interval: 1000, baseEjectionTime: 5000, maxEjectionPercent: 100, minHealthPercent: 60 },
    });
    const d = new Destinations({ now: () => 0, random: () => 0 });
    d.configure(cfg);
    const got = d.acquire(cfg, req());
    assert.equal(uidOf(got), 'a');
    if (got.kind === 'endpoint') got.lease.end({ failed: true });
    // a is ejected, leaving 50% healthy, under 60%: a is still chosen.
    const seen = new Set(Array.from({ length: 20 }, (_, i) => uidOf(d.acquire(cfg, req({ tried: new Set([i % 2 === 0 ? 'b' : 'x']) })))));
    assert.ok(seen.has('a'));
  });

  test('state is dropped when the policy changes or the Service leaves, and kept across an unchanged push', () => {
    const cfg = new Config();
    cfg.dest = policy({ connectionPool: { http: { http2MaxRequests: 1 } } });
    const d = new Destinations({ random: () => 0 });
    d.configure(cfg);
    d.acquire(cfg, req());
    cfg.dest = policy({ connectionPool: { http: { http2MaxRequests: 1 } } });
    d.configure(cfg);
    assert.equal(d.acquire(cfg, req()).kind, 'overflow');
    cfg.dest = policy({ connectionPool: { http: { http2MaxRequests: 2 } } });
    d.configure(cfg);
    assert.equal(d.acquire(cfg, req()).kind, 'endpoint');
    assert.equal(d.size, 1);
    assert.deepEqual(d.dump(), [{ service: SVC, subset: '', port: 80, inFlight: { a: 1 }, pool: { requests: 1, http1: 1, retries: 0, connections: 0 } }]);
    // A port the Service does not declare keeps no state.
    d.acquire(cfg, req({ port: 81 }));
    assert.equal(d.size, 1);
    cfg.services.clear();
    d.configure(cfg);
    assert.equal(d.size, 0);
  });

  test('an endpoint comes with its destination\'s connection settings: maxRequestsPerConnection and connectTimeout, or none', () => {
    const cfg = new Config();
    const d = new Destinations();
    d.configure(cfg);
    const plain = d.acquire(cfg, req());
    assert.deepEqual(plain.kind === 'endpoint' ? plain.connection : undefined, {});
    cfg.dest = policy({ connectionPool: { tcp: { connectTimeout: 1500 }, http: { maxRequestsPerConnection: 3 } } });
    d.configure(cfg);
    const got = d.acquire(cfg, req());
    assert.deepEqual(got.kind === 'endpoint' ? got.connection : undefined, { maxRequestsPerConnection: 3, connectTimeoutMs: 1500 });
  });

  test('maxConnections comes with the destination it counts for: one per service, subset and port', () => {
    const cfg = new Config();
    const d = new Destinations();
    cfg.dest = policy({ connectionPool: { tcp: { maxConnections: 2 } } });
    d.configure(cfg);
    const a = d.acquire(cfg, req());
    const b = d.acquire(cfg, req());
    assert.ok(a.kind === 'endpoint' && b.kind === 'endpoint');
    assert.equal(a.connection.maxConnections, 2);
    assert.equal(typeof a.connection.cluster, 'string');
    assert.equal(a.connection.cluster, b.connection.cluster, 'requests to one destination share its connection count');
    a.lease.end();
    b.lease.end();
  });
});
