// End-to-end: DestinationRule traffic policy at the waypoint on the embedded cluster. Outlier
// detection ejects a backend that answers 503 so every later request reaches the healthy
// one (and the ejection shows in the waypoint's metrics); a connection pool limit turns part
// of a concurrent h2load run into 503s flagged UO. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ports } from '#core/ports.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { destinationRule, gateway, metricSum, skip } from './fixture.ts';

/** A backend that answers every request 503, but for /hits: how many requests it got. */
const BROKEN_APP = `
let hits = 0;
require('node:http').createServer((req, res) => {
  if (req.url === '/hits') { res.writeHead(200, { 'content-type': 'text/plain' }).end(String(hits)); return; }
  hits++;
  res.writeHead(503, { 'content-type': 'text/plain' }).end('broken\\n');
}).listen(8080, () => console.log('ready'));
`;

interface CurlResult { status: number; body: string; stderr: string }

async function curl(from: LocalPod, url: string): Promise<CurlResult> {
  const r = await from.exec(['curl', '-sS', '--max-time', '5', '-w', '\n%{http_code}', url]);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl), stderr: r.stderr };
}

/** Status codes of n GETs on one curl (one kept-alive connection). */
async function statuses(from: LocalPod, url: string, n: number): Promise<number[]> {
  // Each URL needs its own -o: curl applies one per URL.
  const r = await from.exec(['curl', '-sS', '--max-time', '60', '-w', '%{http_code}\n', ...Array.from({ length: n }, () => ['-o', '/dev/null', url]).flat()]);
  return r.stdout.trim().split('\n').map(Number);
}

describe('DestinationRule traffic policy at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let broken: LocalPod;
  let vip: string;
  let healthyVip: string;

  const metrics = async (): Promise<string> => {
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp, 'a waypoint pod runs');
    return (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
  };

  before(async () => {
    mesh = await LocalMesh.start({ name: 'wpdr', nodes: 2 });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, good, bad] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-good', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', health: 'good' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-bad', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', health: 'bad' } }),
    ]);
    client = c;
    broken = bad;
    await startEcho(good);
    await bad.spawn([process.execPath, '-e', BROKEN_APP], { label: 'shop/echo-bad:broken' }).waitForLine('ready', 10_000);
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    vip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports })).vip;
    healthyVip = (await cluster.addService({ namespace: 'shop', name: 'echo-good', selector: { app: 'echo', health: 'good' }, ports })).vip;
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitUntil(async () => {
      const r = await curl(client, `http://${healthyVip}/`).catch(() => undefined);
      return r?.status === 200 && (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] !== undefined;
    }, 30_000, () => 'requests never went through the waypoint');
  });

  after(async () => {
    await mesh?.stop();
  });

  test('outlier detection ejects the backend that answers 503; later requests all reach the healthy one', async () => {
    // Without a policy both backends answer.
    const before = await statuses(client, `http://${vip}/`, 20);
    assert.ok(before.includes(503) && before.includes(200), `both backends answer: ${before.join(',')}`);
    await mesh?.apply('dr-echo.yaml', destinationRule('echo', {
      loadBalancer: { simple: 'ROUND_ROBIN' },
      outlierDetection: { consecutive5xxErrors: 2, interval: '1s', baseEjectionTime: '5m', maxEjectionPercent: 100 },
    }));
    await waitUntil(async () => {
      await statuses(client, `http://${vip}/`, 10);
      return metricSum(await metrics(), 'weft_waypoint_outlier_ejections_total', { destination_service: 'shop/echo.shop.svc.cluster.local' }) >= 1;
    }, 20_000, () => 'the broken backend was never ejected');
    const hitsBefore = Number((await curl(client, `http://${broken.ip}:8080/hits`)).body);
    const after = await statuses(client, `http://${vip}/`, 50);
    assert.deepEqual(new Set(after), new Set([200]), `after the ejection: ${after.join(',')}`);
    const hitsAfter = Number((await curl(client, `http://${broken.ip}:8080/hits`)).body);
    assert.equal(hitsAfter, hitsBefore, 'the ejected backend got no request');
    const text = await metrics();
    assert.equal(metricSum(text, 'weft_waypoint_outlier_ejected_endpoints', { destination_service: 'shop/echo.shop.svc.cluster.local' }), 1);
    await mesh?.delete('dr-echo.yaml');
  });

  test('a connection pool limit answers 503 UO under concurrency, and counts it', async () => {
    await mesh?.apply('dr-echo-good.yaml', destinationRule('echo-good', {
      connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, http2MaxRequests: 1 } },
    }));
    let out = '';
    await waitUntil(async () => {
      const r = await client.exec(['h2load', '-n', '60', '-c', '6', '-m', '4', `http://${healthyVip}/delay/100`], { timeoutMs: 30_000 });
      out = r.stdout;
      return /status codes: \d+ 2xx, \d+ 3xx, \d+ 4xx, [1-9]\d* 5xx/.test(out);
    }, 20_000, () => `the limit never applied: ${out}`);
    // Some requests fit under the limit; the others were refused, none failed otherwise.
    const m = /status codes: (\d+) 2xx, \d+ 3xx, \d+ 4xx, (\d+) 5xx/.exec(out);
    assert.ok(m, out);
    assert.ok(Number(m[1]) > 0, `some requests got through: ${out}`);
    assert.equal(Number(m[1]) + Number(m[2]), 60, out);
    const text = await metrics();
    assert.ok(metricSum(text, 'istio_requests_total', { response_code: '503', response_flags: 'UO', destination_service_name: 'echo-good' }) > 0, 'UO responses are in the request metrics');
    assert.ok(metricSum(text, 'weft_waypoint_upstream_overflow_total', { destination_service: 'shop/echo-good.shop.svc.cluster.local' }) > 0);
    await mesh?.delete('dr-echo-good.yaml');
    // Without the limit the same load passes.
    await waitUntil(async () => {
      const r = await client.exec(['h2load', '-n', '60', '-c', '6', '-m', '4', `http://${healthyVip}/delay/100`], { timeoutMs: 30_000 });
      return /status codes: 60 2xx/.test(r.stdout);
    }, 20_000, () => 'the limit stayed after the DestinationRule went away');
  });
});
