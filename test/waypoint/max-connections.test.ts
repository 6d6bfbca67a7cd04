// End-to-end: DestinationRule `connectionPool.tcp.maxConnections` at the waypoint on the
// embedded cluster. h2load (8 connections, 4 streams each) drives HTTP/1.1 and h2c backends
// that answer after a short wait and count the TCP connections open at once: the backend never
// sees more than maxConnections from the waypoint, and with room to wait (pending) every
// request succeeds; with http1MaxPendingRequests 1 the overflow gets 503 UO, counted in
// istio_requests_total. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Ports } from '#core/ports.ts';
import { waitUntil, type LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { destinationRule, gateway, h2loadStatuses, metricSum, shopWaypoint, skip, startShopMesh, waitForDump, waitThroughWaypoint } from './fixture.ts';

const BACKEND = fileURLToPath(new URL('./max-connections-backend.ts', import.meta.url));
const REQUESTS = 320;

interface Count { open: number; peak: number; total: number }

describe('tcp.maxConnections at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let backend: LocalPod;
  const vips: Record<'h1' | 'h2' | 'probe', string> = { h1: '', h2: '', probe: '' };

  const waypoint = (): LocalPod => shopWaypoint(mesh);
  /** The backend's connection counts, asked on its own port (not through the waypoint's pools). */
  const counts = async (path: '/counts' | '/reset'): Promise<Record<'8080' | '8081', Count>> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '5', `http://${backend.ip}:8082${path}`]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<'8080' | '8081', Count>;
  };
  /** h2load through the waypoint: 8 client connections, 4 concurrent streams on each. */
  const load = (vip: string): Promise<{ ok: number; failed: number; output: string }> =>
    h2loadStatuses(client, ['-n', String(REQUESTS), '-c', '8', '-m', '4', `http://${vip}/`]);

  before(async () => {
    mesh = await startShopMesh('wpmaxc');
    const { cluster } = mesh;
    const [c, b] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'backend', node: 'node2', serviceAccount: 'backend', labels: { app: 'backend' } }),
    ]);
    client = c;
    backend = b;
    await b.spawn([process.execPath, BACKEND, 'serve'], { label: 'shop/backend:max-connections' }).waitForLine('ready', 15_000);
    const add = async (name: string, port: number, targetPort: number, appProtocol: string): Promise<string> =>
      (await cluster.addService({ namespace: 'shop', name, selector: { app: 'backend' }, ports: [{ port, targetPort, name: appProtocol, appProtocol }] })).vip;
    vips.h1 = await add('h1', 80, 8080, 'http');
    vips.h2 = await add('h2', 80, 8081, 'kubernetes.io/h2c');
    vips.probe = await add('probe', 80, 8082, 'http');
    // The rules are in place before any request reaches h1 or h2: no connection from before them stays open.
    await mesh.apply('dr-h1.yaml', destinationRule('h1', { connectionPool: { tcp: { maxConnections: 2 }, http: { http1MaxPendingRequests: 100 } } }));
    await mesh.apply('dr-h2.yaml', destinationRule('h2', { connectionPool: { tcp: { maxConnections: 2 } } }));
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitThroughWaypoint(mesh, client, `http://${vips.probe}/counts`);
    await waitForDump(mesh, 'both connection pools', (d) => d.includes('"http1MaxPendingRequests":100') && (d.match(/"maxConnections":2/g)?.length ?? 0) >= 2);
  });

  after(async () => {
    await mesh?.stop();
  });

  test('HTTP/1.1 backend: 32 concurrent requests over at most 2 connections, every one answered while they fit in pending', async () => {
    await counts('/reset');
    const r = await load(vips.h1);
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: REQUESTS, failed: 0 }, r.output);
    const seen = (await counts('/counts'))['8080'];
    assert.ok(seen.peak >= 1, 'the requests reached the backend');
    assert.ok(seen.peak <= 2, `the backend saw ${seen.peak} connections from the waypoint at once (${seen.total} in all)`);
  });

  test('h2c backend: 32 concurrent streams over at most 2 connections, every one answered', async () => {
    await counts('/reset');
    const r = await load(vips.h2);
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: REQUESTS, failed: 0 }, r.output);
    const seen = (await counts('/counts'))['8081'];
    assert.ok(seen.peak >= 1, 'the requests reached the backend');
    assert.ok(seen.peak <= 2, `the backend saw ${seen.peak} connections from the waypoint at once (${seen.total} in all)`);
  });

  test('http1MaxPendingRequests 1: what neither a connection nor the one pending place takes gets 503 UO, counted by flag', async () => {
    await mesh?.apply('dr-h1.yaml', destinationRule('h1', { connectionPool: { tcp: { maxConnections: 2 }, http: { http1MaxPendingRequests: 1 } } }));
    await waitForDump(mesh, 'the pending limit of 1', (d) => d.includes('"http1MaxPendingRequests":1}') || d.includes('"http1MaxPendingRequests":1,'));
    // The connections of the former rule close on the backend's keep-alive bound first.
    await waitUntil(async () => (await counts('/counts'))['8080'].open === 0, 30_000, () => 'connections of the former rule stayed open');
    await counts('/reset');
    const before = metricSum(await metrics(), 'istio_requests_total', { destination_service_name: 'h1', response_flags: 'UO' });
    const r = await load(vips.h1);
    assert.equal(r.ok + r.failed, REQUESTS, r.output);
    assert.ok(r.failed > 0, `32 concurrent requests with room for 3 all passed:\n${r.output}`);
    assert.ok(r.ok > 0, r.output);
    const seen = (await counts('/counts'))['8080'];
    assert.ok(seen.peak <= 2, `the backend saw ${seen.peak} connections from the waypoint at once (${seen.total} in all)`);
    await waitUntil(async () => metricSum(await metrics(), 'istio_requests_total', { destination_service_name: 'h1', response_flags: 'UO', response_code: '503' }) - before >= r.failed,
      15_000, () => `istio_requests_total never counted ${r.failed} requests flagged UO`);
  });

  const metrics = async (): Promise<string> => (await fetch(`http://${waypoint().ip}:${Ports.metrics}/metrics`)).text();
});
