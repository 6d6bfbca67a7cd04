// End-to-end: Istio's traffic API at the waypoint on the embedded cluster. A VirtualService
// with a DestinationRule's v1/v2 subsets on the echo Service: a 90/10 canary by subsets, a
// header match to v2, sourceLabels restricting a rule to its clients, an abort fault (HTTP
// and gRPC), a delay fault ahead of a request timeout (504), retryOn conditions, and the
// DI / FI flags in Istio's request metrics. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Ports } from '#core/ports.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { gateway, skip } from './fixture.ts';

const GRPC_APP = fileURLToPath(new URL('../../local/apps/grpc-echo.ts', import.meta.url));

const all = { value: 100 };
const to = (subset: string, weight?: number): object => ({ destination: { host: 'echo', subset }, ...(weight === undefined ? {} : { weight }) });

const destinationRule = {
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'echo', namespace: 'shop' },
  spec: { host: 'echo', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
};

const virtualService = {
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'echo', namespace: 'shop' },
  spec: {
    hosts: ['echo'],
    http: [
      { name: 'retry-reset', match: [{ headers: { 'x-retry': { exact: 'reset' } } }], retries: { attempts: 2, retryOn: 'reset' }, route: [to('v1')] },
      { name: 'retry-gateway', match: [{ headers: { 'x-retry': { exact: 'gateway' } } }], retries: { attempts: 2, retryOn: 'gateway-error' }, route: [to('v1')] },
      { name: 'tester', match: [{ headers: { 'x-user': { exact: 'tester' } } }], route: [to('v2')] },
      { name: 'mine', match: [{ uri: { prefix: '/mine' }, sourceLabels: { app: 'sleep' } }], route: [to('v2')] },
      { name: 'theirs', match: [{ uri: { prefix: '/theirs' }, sourceLabels: { app: 'other' } }], fault: { abort: { httpStatus: 418, percentage: all } }, route: [to('v1')] },
      { name: 'abort', match: [{ uri: { prefix: '/abort' } }], fault: { abort: { httpStatus: 418, percentage: all } }, route: [to('v1')] },
      { name: 'slow', match: [{ uri: { prefix: '/delay' } }], fault: { delay: { fixedDelay: '300ms', percentage: all } }, timeout: '500ms', route: [to('v1')] },
      { name: 'canary', route: [to('v1', 90), to('v2', 10)] },
    ],
  },
};

const grpcVirtualService = {
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'grpc', namespace: 'shop' },
  spec: { hosts: ['grpc'], http: [{ fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: all } }, route: [{ destination: { host: 'grpc' } }] }] },
};

interface CurlResult { status: number; body: string; seconds: number; stderr: string }

async function curl(from: LocalPod, url: string, args: string[] = []): Promise<CurlResult> {
  const r = await from.exec(['curl', '-sS', '--max-time', '5', '-w', '\n%{http_code} %{time_total}', ...args, url]);
  const nl = r.stdout.lastIndexOf('\n');
  const [status, seconds] = r.stdout.slice(nl + 1).split(' ');
  return { status: Number(status), seconds: Number(seconds), body: r.stdout.slice(0, nl), stderr: r.stderr };
}

/** Whether some istio_requests_total series carries all these labels, in whatever order they are printed. */
function hasSeries(text: string, labels: Record<string, string>): boolean {
  return text.split('\n').some((l) => l.startsWith('istio_requests_total{') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
}

/** n GETs on one curl (one connection, kept alive); the pod names that answered, in order. */
async function podsAnswering(from: LocalPod, url: string, n: number, args: string[] = []): Promise<string[]> {
  const r = await from.exec(['curl', '-sS', '--max-time', '60', ...args, ...Array.from({ length: n }, () => url)]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => (JSON.parse(line) as EchoReply).pod);
}

describe('VirtualService and DestinationRule at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let vip: string;
  let grpcVip: string;

  const viaWaypoint = async (): Promise<boolean> => {
    const r = await curl(client, `http://${vip}/`).catch(() => undefined);
    if (r?.status !== 200) return false;
    return (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] !== undefined;
  };

  const metrics = async (): Promise<string> => {
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp, 'a waypoint pod runs');
    return (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
  };

  before(async () => {
    mesh = await LocalMesh.start({ name: 'wpvs', nodes: 2 });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, v1, v2] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-v1', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'v1' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-v2', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'v2' } }),
    ]);
    client = c;
    await Promise.all([startEcho(v1), startEcho(v2)]);
    vip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    const grpcServer = v1.spawn([process.execPath, GRPC_APP, 'serve', '--port', '9090'], { env: { POD_NAME: v1.name }, label: 'grpc-echo' });
    await grpcServer.waitForLine('ready', 15_000);
    grpcVip = (await cluster.addService({
      namespace: 'shop', name: 'grpc', selector: { app: 'echo', version: 'v1' }, ports: [{ port: 9090, targetPort: 9090, name: 'grpc', appProtocol: 'grpc' }],
    })).vip;
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitUntil(viaWaypoint, 30_000, () => 'requests never went through the waypoint');
    await mesh.apply('destination-rule.yaml', destinationRule);
    await mesh.apply('virtual-service.yaml', virtualService);
    await waitUntil(async () => (await curl(client, `http://${vip}/abort`)).status === 418, 15_000, () => 'the VirtualService never applied');
  });

  after(async () => {
    await mesh?.stop();
  });

  test('a 90/10 canary by subsets holds over 500 requests, and a header match picks v2', async () => {
    const n = 500;
    const pods = await podsAnswering(client, `http://${vip}/`, n);
    const v2 = pods.filter((p) => p === 'echo-v2').length;
    const v1 = pods.filter((p) => p === 'echo-v1').length;
    assert.equal(v1 + v2, n);
    // Binomial(500, 0.1): mean 50, sd 6.7; ±5 sd keeps a false failure below one in a million.
    assert.ok(Math.abs(v2 - 50) <= 34, `v2 got ${v2} of ${n}`);
    const tester = await podsAnswering(client, `http://${vip}/`, 20, ['-H', 'x-user: tester']);
    assert.deepEqual(new Set(tester), new Set(['echo-v2']));
  });

  test('sourceLabels: a rule applies to the clients it selects and to no other', async () => {
    assert.deepEqual(new Set(await podsAnswering(client, `http://${vip}/mine`, 20)), new Set(['echo-v2']));
    const theirs = await curl(client, `http://${vip}/theirs`);
    assert.equal(theirs.status, 200, 'the abort is only for app=other clients');
  });

  test('an abort fault answers every request with its status, flagged FI', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await curl(client, `http://${vip}/abort/${i}`);
      assert.equal(r.status, 418);
      assert.equal(r.body, 'fault filter abort');
    }
    assert.ok(hasSeries(await metrics(), { response_code: '418', response_flags: 'FI' }));
  });

  test('a delay fault holds the request before it is sent; a slow backend after it still meets the timeout (504)', async () => {
    const quick = await curl(client, `http://${vip}/delay/0`);
    assert.equal(quick.status, 200, quick.stderr);
    assert.ok(quick.seconds >= 0.3, `answered after ${quick.seconds}s, before the 300ms delay`);
    const slow = await curl(client, `http://${vip}/delay/2000`);
    assert.equal(slow.status, 504, slow.body);
    // The delay is not counted in the route's timeout: 300ms held, then 500ms waiting.
    assert.ok(slow.seconds >= 0.75 && slow.seconds < 2, `504 after ${slow.seconds}s`);
    const text = await metrics();
    assert.ok(hasSeries(text, { response_code: '200', response_flags: 'DI' }), 'a delayed 200 is flagged DI');
    assert.ok(hasSeries(text, { response_code: '504', response_flags: 'UT,DI' }), 'a delayed timeout is flagged UT,DI');
  });

  test('retryOn: reset retries a broken connection and not a 503; gateway-error retries the 503', async () => {
    const attempts = (r: CurlResult): string | undefined => (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] as string | undefined;
    const reset = ['-H', 'x-retry: reset'];
    const gatewayError = ['-H', 'x-retry: gateway'];
    assert.equal((await curl(client, `http://${vip}/flaky/${randomUUID()}/1`, reset)).status, 503, 'a 503 is no reset');
    const afterResets = await curl(client, `http://${vip}/flaky/${randomUUID()}/2?fail=reset`, reset);
    assert.equal(afterResets.status, 200, afterResets.body);
    assert.equal(attempts(afterResets), '3');
    const after503 = await curl(client, `http://${vip}/flaky/${randomUUID()}/1`, gatewayError);
    assert.equal(after503.status, 200, after503.body);
    assert.equal(attempts(after503), '2');
  });

  test('a gRPC abort fault ends the call with its grpc-status', async () => {
    await mesh?.apply('grpc-virtual-service.yaml', grpcVirtualService);
    const call = async (): Promise<string[]> => {
      const r = await client.exec([process.execPath, GRPC_APP, 'call', `${grpcVip}:9090`, 'echo', 'hello']);
      return r.stdout.trim().split('\n');
    };
    await waitUntil(async () => (await call()).some((l) => l.includes('"status":14')), 15_000, () => 'the gRPC fault never applied');
    const lines = await call();
    assert.deepEqual(JSON.parse(lines.at(-1) ?? ''), { status: 14, details: 'fault filter abort' });
    assert.ok(hasSeries(await metrics(), { request_protocol: 'grpc', response_flags: 'FI', grpc_response_status: '14' }));
  });
});
