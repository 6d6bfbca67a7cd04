// End-to-end: one global limit (BackendTrafficPolicy `type: Global`) holds across three replicas
// of a waypoint on the embedded cluster. The cluster runs its own Redis (a pod behind a
// Service); the controller writes its address into the waypoint Deployment, whose replica count
// is raised to three as `kubectl scale` would. Each client pod's ztunnel keeps one HBONE session
// to the waypoint Service, which the Service's balancing pins to one replica; client pods are
// added until every replica has one. Then h2load in three clients at once sends well over N
// requests to the limited Service: the 2xx answers total N (±5 %), and every replica answered
// some of them. Stopping Redis lets every request through (fail open); once it is back (empty,
// nothing persisted), the full budget holds again. The window is a day, aligned to UTC
// midnight as global-rate-limit.ts keys it, so no window turns over mid-test. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ports } from '#core/ports.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { RunningWaypointPod } from '#local/waypoints.ts';
import { gateway, skip } from './fixture.ts';

const WAYPOINT = 'shop/waypoint';
const REPLICAS = 3;
/** The shared budget: requests a day to Service `shared`, across every replica. */
const LIMIT = 200;
/** h2load requests per client and round: three clients send 1.5 × LIMIT in all. */
const PER_CLIENT = 100;
const DAY_MS = 86_400_000;
/** Client pods tried before concluding the Service does not spread sessions over the replicas. */
const MAX_CLIENTS = 40;

const policy = {
  apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name: 'shared-limit', namespace: 'shop' },
  spec: {
    targetRefs: [{ group: '', kind: 'Service', name: 'shared' }],
    rateLimit: { type: 'Global', global: { rules: [{ limit: { requests: LIMIT, unit: 'Day' } }] } },
  },
};

interface Answer { status: number; headers: Record<string, string> }

/** One GET with curl; its status and headers. */
async function get(from: LocalPod, url: string): Promise<Answer> {
  const r = await from.exec(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-D', '-', url]);
  assert.equal(r.code, 0, r.stderr);
  const [statusLine = '', ...lines] = r.stdout.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/** h2load over HTTP/1.1 from one pod: n requests on `c` connections; the 2xx and 4xx counts. */
async function h2load(from: LocalPod, url: string, n: number, c: number): Promise<{ ok: number; refused: number }> {
  const r = await from.exec(['h2load', '--h1', '-n', String(n), '-c', String(c), url]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const m = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.stdout);
  assert.ok(m !== null, `h2load printed no status codes: ${r.stdout}`);
  assert.equal(Number(m[1]) + Number(m[3]), n, `every request answered 2xx or 4xx: ${r.stdout}`);
  return { ok: Number(m[1]), refused: Number(m[3]) };
}

/** Sum of a counter's samples whose labels include all of `match`. */
function sum(text: string, name: string, match: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(match).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.split(' ').at(-1));
  }
  return total;
}

async function metrics(r: RunningWaypointPod): Promise<string> {
  return (await fetch(`http://${r.pod.ip}:${Ports.metrics}/metrics`)).text();
}

/** Waits out the last minutes of a UTC day, so one window holds a whole round. */
async function awayFromWindowEnd(): Promise<void> {
  const left = DAY_MS - (Date.now() % DAY_MS);
  if (left < 300_000) await new Promise((r) => setTimeout(r, left + 1000));
}

describe('a global rate limit shared by three waypoint replicas through the embedded cluster\'s Redis', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let echoVip: string;
  let sharedVip: string;
  /** One client pod per replica, in replica order: each one's HBONE session ends at that replica. */
  let clientOf: LocalPod[] = [];
  let replicas: readonly RunningWaypointPod[] = [];

  const totals = async (): Promise<number[]> => Promise.all(replicas.map(async (r) => sum(await metrics(r), 'istio_requests_total', {})));

  before(async () => {
    mesh = await LocalMesh.start({ name: 'rlglob', nodes: 2, redis: true });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const echo = await cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } });
    await startEcho(echo);
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    echoVip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports })).vip;
    sharedVip = (await cluster.addService({ namespace: 'shop', name: 'shared', selector: { app: 'echo' }, ports })).vip;
    await mesh.apply('waypoint.yaml', gateway);
    await waitUntil(() => mesh?.waypoints.running.has(WAYPOINT) === true, 60_000, () => 'the waypoint never started');
    await mesh.waypoints.scale(WAYPOINT, REPLICAS);
    replicas = mesh.waypoints.replicas(WAYPOINT);

    // Add client pods until each replica has one: a pod's first request opens its session.
    const found = new Map<number, LocalPod>();
    for (let i = 0; i < MAX_CLIENTS && found.size < REPLICAS; i++) {
      const pod = await cluster.addPod({ namespace: 'shop', name: `client-${i}`, node: i % 2 === 0 ? 'node1' : 'node2', serviceAccount: 'sleep', labels: { app: 'sleep' } });
      await mesh.waitForEnrollment(pod);
      const before = await totals();
      let answer: Answer | undefined;
      // The first requests may precede the waypoint's config for the new pod: retry until one goes through it.
      await waitUntil(async () => {
        answer = await get(pod, `http://${echoVip}/`).catch(() => undefined);
        return answer?.status === 200;
      }, 30_000, () => `client-${i} never reached echo: ${JSON.stringify(answer)}`);
      let served = -1;
      await waitUntil(async () => {
        const now = await totals();
        served = now.findIndex((n, r) => n > (before[r] ?? 0));
        return served !== -1;
      }, 10_000, () => `no replica counted the request of client-${i}`);
      if (!found.has(served)) found.set(served, pod);
    }
    assert.equal(found.size, REPLICAS, `${MAX_CLIENTS} client pods did not reach all ${REPLICAS} replicas`);
    clientOf = [...found].sort(([a], [b]) => a - b).map(([, pod]) => pod);
  });

  after(async () => {
    await mesh?.stop();
  });

  /** Waits until every replica limits `shared` and counts in Redis; returns how many requests that spent. */
  const untilEveryReplicaCounts = async (what: string): Promise<number> => {
    let spent = 0;
    for (const [r, client] of clientOf.entries()) {
      await waitUntil(async () => {
        const a = await get(client, `http://${sharedVip}/`);
        if (a.headers['x-ratelimit-remaining'] === undefined) return false;
        spent++;
        return true;
      }, 30_000, () => `replica ${r} never ${what}`);
    }
    return spent;
  };

  /** Three clients, one per replica, at once: the 2xx and 4xx totals, and each replica's answers to `shared` in the round. */
  const round = async (): Promise<{ ok: number; refused: number; perReplica: number[] }> => {
    const count = async (): Promise<number[]> => Promise.all(replicas.map(async (r) => sum(await metrics(r), 'istio_requests_total', { destination_service_name: 'shared' })));
    const before = await count();
    const results = await Promise.all(clientOf.map((c) => h2load(c, `http://${sharedVip}/`, PER_CLIENT, 2)));
    const ok = results.reduce((n, x) => n + x.ok, 0);
    const refused = results.reduce((n, x) => n + x.refused, 0);
    let perReplica: number[] = [];
    // Metrics are recorded as each answer completes: wait until all of the round's are in.
    await waitUntil(async () => {
      perReplica = (await count()).map((n, i) => n - (before[i] ?? 0));
      return perReplica.reduce((a, b) => a + b, 0) >= ok + refused;
    }, 10_000, () => `the replicas counted ${perReplica.join('+')} requests of ${ok + refused}`);
    return { ok, refused, perReplica };
  };

  test('the controller hands the cluster\'s Redis to every replica through the waypoint Deployment', () => {
    const address = mesh?.redis?.address;
    assert.ok(address !== undefined);
    assert.equal(replicas.length, REPLICAS);
    assert.equal(new Set(replicas.map((r) => r.pod.name)).size, REPLICAS);
    for (const r of replicas) assert.equal(r.deployment.env['WEFT_RATE_LIMIT_REDIS'], address);
  });

  test('N allowed within 5 % across three replicas, each of which answered part of the traffic', async (t) => {
    await awayFromWindowEnd();
    await mesh?.apply('global-rate-limit.yaml', policy);
    const spent = await untilEveryReplicaCounts('applied the global limit');
    const { ok, refused, perReplica } = await round();
    const allowed = ok + spent;
    t.diagnostic(`limit ${LIMIT}: allowed ${allowed} (${spent} probes + ${ok} of ${REPLICAS * PER_CLIENT} in the round), refused ${refused}; per replica ${perReplica.join('/')}`);
    assert.ok(Math.abs(allowed - LIMIT) <= LIMIT * 0.05, `allowed ${allowed} (${spent} while waiting for the policy + ${ok} in the round) of a limit of ${LIMIT}`);
    assert.equal(refused, REPLICAS * PER_CLIENT - ok);
    for (const [i, n] of perReplica.entries()) assert.ok(n > 0, `replica ${i} answered none of the round (${perReplica.join(', ')})`);
    // Every replica refused too: the budget ran out for all of them at once.
    const limited = await Promise.all(replicas.map(async (r) => sum(await metrics(r), 'weft_waypoint_rate_limited_total', { policy: 'shop/shared-limit' })));
    assert.equal(limited.reduce((a, b) => a + b, 0), refused);
  });

  test('Redis stopped: every replica lets requests through; restarted: the whole budget holds again', async (t) => {
    const redis = mesh?.redis;
    assert.ok(redis !== undefined);
    await redis.stopProcess();
    for (const [r, client] of clientOf.entries()) {
      for (let i = 0; i < 3; i++) assert.equal((await get(client, `http://${sharedVip}/`)).status, 200, `replica ${r} fails open while Redis is down`);
    }
    await awayFromWindowEnd();
    await redis.startProcess();
    const spent = await untilEveryReplicaCounts('counted in Redis again');
    const { ok, perReplica } = await round();
    const allowed = ok + spent;
    t.diagnostic(`after the restart, limit ${LIMIT}: allowed ${allowed} (${spent} probes + ${ok} in the round); per replica ${perReplica.join('/')}`);
    assert.ok(Math.abs(allowed - LIMIT) <= LIMIT * 0.05, `allowed ${allowed} (${spent} while waiting for Redis + ${ok} in the round) of a limit of ${LIMIT}`);
  });
});
