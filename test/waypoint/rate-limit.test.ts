// End-to-end: Envoy Gateway's BackendTrafficPolicy rate limits at the waypoint on the embedded
// cluster. A local policy on the echo Service allows 10 requests a minute to x-user
// "anonymous" and 2 a minute to each distinct x-user value; N + k requests inside the window
// get exactly k answers 429 with flag RL, the x-ratelimit-* headers, and a count in the
// metrics. A global policy on a second Service counts in the embedded cluster's Redis (a real
// redis-server in its own pod, whose address the controller writes into the waypoint
// Deployment): the same N + k, requests passing while Redis is stopped (fail open), and limited
// again once it is back. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ports } from '#core/ports.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { gateway, skip } from './fixture.ts';

// A minute is far longer than the test's requests take, so no window can end in between.
const LIMIT = 10;
const PER_USER = 2;

const policy = {
  apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name: 'echo-limit', namespace: 'shop' },
  spec: {
    targetRefs: [{ group: '', kind: 'Service', name: 'echo' }],
    rateLimit: {
      type: 'Local',
      local: {
        rules: [
          { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Distinct' }] }], limit: { requests: PER_USER, unit: 'Minute' } },
          { clientSelectors: [{ headers: [{ name: 'x-user', type: 'Exact', value: 'anonymous' }] }], limit: { requests: LIMIT, unit: 'Minute' } },
        ],
      },
    },
  },
};

/** Written by curl after each answer, since a body need not end its last line. */
const END = '--end-of-answer--';

const globalPolicy = {
  apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name: 'shared-limit', namespace: 'shop' },
  spec: {
    targetRefs: [{ group: '', kind: 'Service', name: 'shared' }],
    // An hour: Redis windows start on the unit, and the test waits out the last minute of one.
    rateLimit: { type: 'Global', global: { rules: [{ limit: { requests: LIMIT, unit: 'Hour' } }] } },
  },
};

interface Answer { status: number; headers: Record<string, string>; body: string }

/** n GETs on one connection; each answer's status, headers and body. */
async function requests(from: LocalPod, url: string, n: number, args: string[] = []): Promise<Answer[]> {
  const r = await from.exec(['curl', '-sS', '--max-time', '30', '-i', '-w', `\n${END}\n`, ...args, ...Array.from({ length: n }, () => url)]);
  assert.equal(r.code, 0, r.stderr);
  const answers: Answer[] = [];
  for (const part of r.stdout.split(`\n${END}\n`).slice(0, -1)) {
    const [head = '', body = ''] = part.split(/\r\n\r\n/);
    const [statusLine = '', ...lines] = head.split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const c = l.indexOf(':');
      if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    answers.push({ status: Number(statusLine.split(' ')[1]), headers, body });
  }
  return answers;
}

describe('BackendTrafficPolicy rate limits at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let vip: string;
  let sharedVip: string;

  const metrics = async (): Promise<string> => {
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp, 'a waypoint pod runs');
    return (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
  };

  before(async () => {
    mesh = await LocalMesh.start({ name: 'wprl', nodes: 2, redis: true });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    client = c;
    await startEcho(echo);
    vip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    sharedVip = (await cluster.addService({ namespace: 'shop', name: 'shared', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    const viaWaypoint = async (): Promise<boolean> => {
      const [a] = await requests(client, `http://${vip}/`, 1).catch(() => []);
      return a?.status === 200 && (JSON.parse(a.body) as EchoReply).headers['x-envoy-attempt-count'] !== undefined;
    };
    await waitUntil(viaWaypoint, 30_000, () => 'requests never went through the waypoint');
    await mesh.apply('rate-limit.yaml', policy);
    // The probe spends one token of user "probe" only, a bucket no test below uses.
    await waitUntil(async () => (await requests(client, `http://${vip}/`, 1, ['-H', 'x-user: probe']))[0]?.headers['x-ratelimit-limit'] !== undefined,
      15_000, () => 'the BackendTrafficPolicy never applied');
  });

  after(async () => {
    await mesh?.stop();
  });

  test('N + k requests in a window: exactly k answered 429, flagged RL and counted', async () => {
    const k = 4;
    // "anonymous" is both a distinct value (2 a minute) and the shared rule's value: the tighter one wins.
    const tight = await requests(client, `http://${vip}/`, PER_USER + k, ['-H', 'x-user: anonymous']);
    assert.deepEqual(tight.map((a) => a.status), [...Array<number>(PER_USER).fill(200), ...Array<number>(k).fill(429)]);
    const refused = tight.at(-1);
    assert.equal(refused?.body, 'local_rate_limited');
    assert.equal(refused.headers['x-ratelimit-remaining'], '0');
    assert.equal(refused.headers['x-ratelimit-limit'], `${PER_USER}, ${PER_USER};w=60`);
    const reset = Number(refused.headers['x-ratelimit-reset']);
    assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
    assert.equal(tight[0]?.headers['x-ratelimit-remaining'], String(PER_USER - 1));

    // Each distinct user has a bucket of its own.
    for (let u = 0; u < 3; u++) {
      const answers = await requests(client, `http://${vip}/`, PER_USER + 1, ['-H', `x-user: u${u}`]);
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 429], `user u${u}`);
    }
    // Requests without the header are selected by no rule.
    const free = await requests(client, `http://${vip}/`, LIMIT + 5);
    assert.ok(free.every((a) => a.status === 200 && a.headers['x-ratelimit-limit'] === undefined));

    const text = await metrics();
    const limited = text.split('\n').find((l) => l.startsWith('weft_waypoint_rate_limited_total{') && l.includes('policy="shop/echo-limit"'));
    assert.equal(Number(limited?.split(' ').at(-1)), k + 3);
    assert.ok(text.split('\n').some((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="429"') && l.includes('response_flags="RL"')));
  });

  test('a global limit counted in Redis: N + k requests, exactly k refused; open while Redis is stopped; limited again after', async () => {
    // Not within the last minute of an hour: the window must not turn over mid-test.
    const intoHour = Date.now() % 3_600_000;
    if (intoHour > 3_540_000) await new Promise((r) => setTimeout(r, 3_600_000 - intoHour + 1000));
    await mesh?.apply('global-rate-limit.yaml', globalPolicy);
    // The probe waits for the policy without spending the budget: the first limited answer ends it.
    await waitUntil(async () => (await requests(client, `http://${sharedVip}/`, 1))[0]?.headers['x-ratelimit-limit'] !== undefined,
      15_000, () => 'the global BackendTrafficPolicy never applied');
    const k = 3;
    const answers = await requests(client, `http://${sharedVip}/`, LIMIT - 1 + k);
    assert.deepEqual(answers.map((a) => a.status), [...Array<number>(LIMIT - 1).fill(200), ...Array<number>(k).fill(429)]);
    assert.equal(answers.at(-1)?.headers['x-ratelimit-limit'], `${LIMIT}, ${LIMIT};w=3600`);

    const redis = mesh?.redis;
    assert.ok(redis !== undefined);
    await redis.stopProcess();
    const open = await requests(client, `http://${sharedVip}/`, 5);
    assert.deepEqual(open.map((a) => a.status), [200, 200, 200, 200, 200], 'requests pass while Redis is down');

    // A restarted Redis without persistence starts from zero: the full budget, then 429.
    await redis.startProcess();
    await waitUntil(async () => (await requests(client, `http://${sharedVip}/`, 1))[0]?.headers['x-ratelimit-remaining'] !== undefined,
      15_000, () => 'the waypoint never counted in Redis again');
    const again = await requests(client, `http://${sharedVip}/`, LIMIT);
    assert.equal(again.at(-1)?.status, 429);
    assert.equal(again.filter((a) => a.status === 429).length, 1);
  });
});
