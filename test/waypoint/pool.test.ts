// End-to-end: DestinationRule connection pool fields and VirtualService retries against
// HTTP/2 and gRPC backends, at the waypoint on the embedded cluster. maxRequestsPerConnection
// retires upstream connections (counted by the backend), connectTimeout bounds a connect
// to a pod that never answers SYN (503 UF), and retries make a fail-first h2c backend and a
// fail-first gRPC backend (real @grpc/grpc-js on both ends) look healthy, while `attempts: 0`
// leaves their failures visible. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Ports } from '#core/ports.ts';
import type { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { destinationRule, gateway, h2loadStatuses, metricSum, shopWaypoint, skip, startShopMesh, waitForDump, waitThroughWaypoint } from './fixture.ts';

const BACKENDS = fileURLToPath(new URL('./pool-backends.ts', import.meta.url));

const retrying = (host: string, retries: object): object => ({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: host, namespace: 'shop' },
  spec: { hosts: [host], http: [{ retries, route: [{ destination: { host } }] }] },
});

describe('connection pool fields and HTTP/2 and gRPC retries at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let backend: LocalPod;
  let blackhole: LocalPod | undefined;
  const vips: Record<'h1' | 'h2' | 'grpc' | 'hole', string> = { h1: '', h2: '', grpc: '', hole: '' };
  const DROP_SYN = ['-p', 'tcp', '--dport', String(Ports.hbone), '--syn', '-j', 'DROP'];

  const waypoint = (): LocalPod => shopWaypoint(mesh);
  const metrics = async (): Promise<string> => (await fetch(`http://${waypoint().ip}:${Ports.metrics}/metrics`)).text();

  /** Status codes of GETs to each URL in turn, on one curl (one downstream connection). */
  const statuses = async (urls: string[]): Promise<number[]> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '60', '-w', '%{http_code}\n', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').map(Number);
  };
  /**
   * 2xx and 5xx counts of HTTP/2 (prior knowledge) requests, one at a time on one connection,
   * one per URL in turn (h2load: curl 7.88 cannot reuse an h2c connection across URLs).
   */
  const h2Statuses = async (urls: string[], n = urls.length): Promise<{ ok: number; failed: number }> => {
    const { ok, failed } = await h2loadStatuses(client, ['-n', String(n), '-c', '1', '-m', '1', ...urls], 60_000);
    return { ok, failed };
  };
  /** Requests each connection carried for a key, as the backend counted them. */
  const perConnection = async (port: number, key: string): Promise<number[]> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '5', ...(port === 8081 ? ['--http2-prior-knowledge'] : []), `http://${backend.ip}:${port}/conns/${key}`]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as number[]).sort((a, b) => b - a);
  };
  const grpcCodes = async (prefix: string, n: number): Promise<number[]> => {
    const r = await client.exec([process.execPath, BACKENDS, 'grpc-calls', `${vips.grpc}:9090`, prefix, String(n)], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as number[];
  };

  before(async () => {
    mesh = await startShopMesh('pool');
    const { cluster } = mesh;
    const pod = (name: string, node: string, app: string): Promise<LocalPod> =>
      cluster.addPod({ namespace: 'shop', name, node, serviceAccount: app === 'sleep' ? 'sleep' : 'backend', labels: { app } });
    const [c, b, hole] = await Promise.all([pod('client', 'node1', 'sleep'), pod('backend', 'node2', 'backend'), pod('blackhole', 'node2', 'blackhole')]);
    client = c;
    backend = b;
    blackhole = hole;
    await b.spawn([process.execPath, BACKENDS, 'serve'], { label: 'shop/backend:pool-backends' }).waitForLine('ready', 15_000);
    const add = async (name: string, app: string, port: number, targetPort: number, appProtocol: string): Promise<string> =>
      (await cluster.addService({ namespace: 'shop', name, selector: { app }, ports: [{ port, targetPort, name: appProtocol, appProtocol }] })).vip;
    vips.h1 = await add('h1', 'backend', 80, 8080, 'http');
    vips.h2 = await add('h2', 'backend', 80, 8081, 'kubernetes.io/h2c');
    vips.grpc = await add('grpc', 'backend', 9090, 9090, 'grpc');
    vips.hole = await add('hole', 'blackhole', 80, 8080, 'http');
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitThroughWaypoint(mesh, client, `http://${vips.h1}/conn/probe`);
    // The blackhole pod drops every SYN to its HBONE port: a connect to it never completes.
    await hole.exec(['iptables', '-I', 'INPUT', ...DROP_SYN]);
  });

  after(async () => {
    await blackhole?.exec(['iptables', '-D', 'INPUT', ...DROP_SYN]).catch(() => undefined);
    await mesh?.stop();
  });

  test('gRPC: retryOn unavailable makes a fail-first backend succeed every call; attempts 0 leaves every first call failing', async () => {
    await mesh?.apply('vs-grpc.yaml', retrying('grpc', { attempts: 2, retryOn: 'unavailable' }));
    await waitForDump(mesh, 'the gRPC retry policy', (d) => d.includes('"unavailable"') && d.includes('grpc.shop.svc.cluster.local'));
    assert.deepEqual(await grpcCodes('retried', 20), Array.from({ length: 20 }, () => 0));
    await mesh?.apply('vs-grpc.yaml', retrying('grpc', { attempts: 0 }));
    await waitForDump(mesh, 'the gRPC route without retries', (d) => !d.includes('"unavailable"'));
    assert.deepEqual(await grpcCodes('unretried', 20), Array.from({ length: 20 }, () => 14));
    const text = await metrics();
    assert.ok(metricSum(text, 'istio_requests_total', { request_protocol: 'grpc', grpc_response_status: '14', destination_service_name: 'grpc' }) >= 20);
    await mesh?.delete('vs-grpc.yaml');
  });
  test('h2c: retryOn 5xx / reset make fail-first, reset-first and stall-first backends answer every request 200, with a body replayed; attempts 0 leaves each first request failing', async () => {
    const urls = (prefix: string): string[] => Array.from({ length: 20 }, (_, i) => `http://${vips.h2}/flaky/${prefix}-${i}`);
    await mesh?.apply('vs-h2.yaml', retrying('h2', { attempts: 2, retryOn: '5xx' }));
    await waitForDump(mesh, 'the h2c retry policy', (d) => d.includes('"5xx"'));
    assert.deepEqual(await h2Statuses(urls('retried')), { ok: 20, failed: 0 });
    // The body goes to the first attempt as it arrives and again, whole, to the retry.
    const posted = await client.exec(['sh', '-c', `head -c 40000 /dev/zero | curl -sS --max-time 20 --http2-prior-knowledge --data-binary @- -w ' %{http_code}' http://${vips.h2}/flaky/body`]);
    assert.equal(posted.stdout, '40000\n 200', posted.stderr);
    // A body past the 1 MiB copy is sent once and not retried: its 503 reaches the client.
    const big = await client.exec(['sh', '-c', `head -c 2000000 /dev/zero | curl -sS --max-time 20 --http2-prior-knowledge --data-binary @- -o /dev/null -w '%{http_code}' http://${vips.h2}/flaky/big`]);
    assert.equal(big.stdout, '503', big.stderr);
    // A reset before any answer, and a per-try timeout, are retried under `reset`.
    await mesh?.apply('vs-h2.yaml', retrying('h2', { attempts: 2, perTryTimeout: '300ms', retryOn: 'reset' }));
    await waitForDump(mesh, 'the h2c reset retry policy', (d) => d.includes('"reset"'));
    const keys = (path: string, prefix: string): string[] => Array.from({ length: 10 }, (_, i) => `http://${vips.h2}/${path}/${prefix}-${i}`);
    assert.deepEqual(await h2Statuses(keys('rst', 'retried')), { ok: 10, failed: 0 });
    assert.deepEqual(await h2Statuses(keys('stall', 'retried')), { ok: 10, failed: 0 });
    const text = await metrics();
    assert.ok(metricSum(text, 'istio_requests_total', { response_code: '200', destination_service_name: 'h2' }) >= 40);
    await mesh?.apply('vs-h2.yaml', retrying('h2', { attempts: 0 }));
    // The policy in force before this one retries on reset: wait until neither is left.
    await waitForDump(mesh, 'the h2c route without retries', (d) => !d.includes('"5xx"') && !d.includes('"reset"'));
    assert.deepEqual(await h2Statuses(urls('unretried')), { ok: 0, failed: 20 });
    assert.deepEqual(await h2Statuses(keys('rst', 'unretried')), { ok: 0, failed: 10 });
    await mesh?.delete('vs-h2.yaml');
  });

  test('maxRequestsPerConnection retires upstream connections: HTTP/2 after exactly n requests, HTTP/1.1 after at most n', async () => {
    // Without a limit, sequential requests share one HTTP/2 session.
    assert.deepEqual(await h2Statuses([`http://${vips.h2}/conn/unlimited`], 10), { ok: 10, failed: 0 });
    assert.deepEqual(await perConnection(8081, 'unlimited'), [10]);
    await mesh?.apply('dr-h2.yaml', destinationRule('h2', { connectionPool: { http: { maxRequestsPerConnection: 3 } } }));
    await mesh?.apply('dr-h1.yaml', destinationRule('h1', { connectionPool: { http: { maxRequestsPerConnection: 1 } } }));
    await waitForDump(mesh, 'the connection pool limits', (d) => d.includes('"maxRequestsPerConnection":3') && d.includes('"maxRequestsPerConnection":1'));
    assert.deepEqual(await h2Statuses([`http://${vips.h2}/conn/three`], 10), { ok: 10, failed: 0 });
    // ceil(10 / 3) connections.
    assert.deepEqual(await perConnection(8081, 'three'), [3, 3, 3, 1]);
    const h1 = await statuses(Array.from({ length: 10 }, () => `http://${vips.h1}/conn/one`));
    assert.deepEqual(h1, Array.from({ length: 10 }, () => 200));
    // No keep-alive: a connection per request.
    assert.deepEqual(await perConnection(8080, 'one'), Array.from({ length: 10 }, () => 1));
    await mesh?.apply('dr-h1.yaml', destinationRule('h1', { connectionPool: { http: { maxRequestsPerConnection: 3 } } }));
    await waitForDump(mesh, 'the HTTP/1.1 limit of 3', (d) => !d.includes('"maxRequestsPerConnection":1'));
    await statuses(Array.from({ length: 20 }, () => `http://${vips.h1}/conn/upto3`));
    const upTo3 = await perConnection(8080, 'upto3');
    assert.equal(upTo3.reduce((a, b) => a + b, 0), 20);
    assert.ok(upTo3.every((n) => n <= 3) && upTo3.length >= 7, `requests per connection: ${upTo3.join(',')}`);
    await mesh?.delete('dr-h2.yaml');
    await mesh?.delete('dr-h1.yaml');
  });

  test('connectTimeout bounds the connect to a pod that never answers SYN: 503 UF, not before the timeout', async () => {
    await mesh?.apply('dr-hole.yaml', destinationRule('hole', { connectionPool: { tcp: { connectTimeout: '1s' } } }));
    await waitForDump(mesh, 'the connect timeout', (d) => d.includes('"connectTimeout":1000'));
    const r = await client.exec(['curl', '-sS', '--max-time', '30', '-w', '\n%{http_code} %{time_total}', `http://${vips.hole}/`]);
    const [code, seconds] = (r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)).split(' ').map(Number);
    assert.equal(code, 503, r.stdout);
    assert.match(r.stdout, /connect timeout/);
    assert.ok((seconds ?? 0) >= 1, `answered after ${seconds} s, before the 1 s timeout`);
    // The waypoint's own default is 10 s: the answer came from the rule's bound, with room to spare.
    assert.ok((seconds ?? 99) < 4.5, `answered after ${seconds} s`);
    // connect-failure is a retry condition: two attempts, each bounded.
    await mesh?.apply('vs-hole.yaml', retrying('hole', { attempts: 1, retryOn: 'connect-failure' }));
    await waitForDump(mesh, 'the connect-failure retry', (d) => d.includes('"connect-failure"') && d.includes('hole.shop'));
    const retried = await client.exec(['curl', '-sS', '--max-time', '30', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', `http://${vips.hole}/`]);
    const [code2, seconds2] = retried.stdout.split(' ').map(Number);
    assert.equal(code2, 503);
    assert.ok((seconds2 ?? 0) >= 2, `two attempts of 1 s each, answered after ${seconds2} s`);
    const text = await metrics();
    assert.ok(metricSum(text, 'istio_requests_total', { response_code: '503', response_flags: 'UF', destination_service_name: 'hole' }) >= 1);
    assert.ok(metricSum(text, 'istio_requests_total', { response_code: '503', response_flags: 'URX', destination_service_name: 'hole' }) >= 1);
    await mesh?.delete('vs-hole.yaml');
    await mesh?.delete('dr-hole.yaml');
  });
});
