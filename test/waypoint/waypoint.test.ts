// End-to-end: the waypoint as a user deploys it on the embedded cluster — a Gateway of class
// istio-waypoint written to the manifest folder, `istio.io/use-waypoint` on the namespace,
// the controller asking for the waypoint pod and local/ starting it — then real curl traffic
// across nodes through it: HTTPRoute splits and matches, filters, L7 AuthorizationPolicy,
// Istio's request metrics, and the Gateway's removal sending traffic direct again.
// Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ports } from '#core/ports.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { fileURLToPath } from 'node:url';
import { gateway, skip } from './fixture.ts';

const GRPC_APP = fileURLToPath(new URL('../../local/apps/grpc-echo.ts', import.meta.url));

function route(name: string, rules: object[]): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'shop' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules },
  };
}

const backend = (name: string, weight?: number): object => ({ name, port: 80, ...(weight === undefined ? {} : { weight }) });

interface CurlResult { code: number; status: number; body: string; headers: string; stderr: string }

async function curl(from: LocalPod, url: string, args: string[] = []): Promise<CurlResult> {
  const r = await from.exec(['curl', '-sS', '-i', '--max-time', '5', '-w', '\n%{http_code}', ...args, url]);
  const out = r.stdout;
  const nl = out.lastIndexOf('\n');
  const response = out.slice(0, nl);
  const split = response.indexOf('\r\n\r\n');
  return {
    code: r.code ?? -1, status: Number(out.slice(nl + 1)), stderr: r.stderr,
    headers: split === -1 ? response : response.slice(0, split), body: split === -1 ? '' : response.slice(split + 4),
  };
}

/** n GETs on one curl (one connection, kept alive); the pod names that answered, in order. */
async function podsAnswering(from: LocalPod, url: string, n: number, args: string[] = []): Promise<string[]> {
  const r = await from.exec(['curl', '-sS', '--max-time', '60', ...args, ...Array.from({ length: n }, () => url)]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => (JSON.parse(line) as EchoReply).pod);
}

describe('waypoint on the embedded cluster', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let vip: string;
  let grpcVip: string;

  const viaWaypoint = async (): Promise<boolean> => {
    const r = await curl(client, `http://${vip}/`).catch(() => undefined);
    if (r?.status !== 200) return false;
    return (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] !== undefined;
  };

  before(async () => {
    mesh = await LocalMesh.start({ name: 'wpt', nodes: 2 });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, v1, v2] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-v1', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'v1' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-v2', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'v2' } }),
    ]);
    client = c;
    await Promise.all([startEcho(v1), startEcho(v2)]);
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    const svc = await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports });
    await cluster.addService({ namespace: 'shop', name: 'echo-v1', selector: { app: 'echo', version: 'v1' }, ports });
    await cluster.addService({ namespace: 'shop', name: 'echo-v2', selector: { app: 'echo', version: 'v2' }, ports });
    vip = svc.vip;
    const grpcServer = v1.spawn([process.execPath, GRPC_APP, 'serve', '--port', '9090'], { env: { POD_NAME: v1.name }, label: 'grpc-echo' });
    await grpcServer.waitForLine('ready', 15_000);
    grpcVip = (await cluster.addService({
      namespace: 'shop', name: 'grpc', selector: { app: 'echo', version: 'v1' }, ports: [{ port: 9090, targetPort: 9090, name: 'grpc', appProtocol: 'grpc' }],
    })).vip;
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitUntil(viaWaypoint, 30_000, () => 'requests never went through the waypoint');
  });

  after(async () => {
    await mesh?.stop();
  });

  test('the Gateway becomes a waypoint pod, a Service and a programmed address', async () => {
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp, 'a waypoint pod runs');
    assert.equal(wp.pod.labels['gateway.networking.k8s.io/gateway-name'], 'waypoint');
    const status = await (await fetch(`${mesh?.controllerAdminUrl}/status`)).json() as { objects: { kind: string; name: string; conditions: { type: string; status: string }[] }[] };
    const gw = status.objects.find((o) => o.kind === 'Gateway' && o.name === 'waypoint');
    assert.equal(gw?.conditions.find((c) => c.type === 'Programmed')?.status, 'True');
  });

  test('requests cross the waypoint with the client address and a request id', async () => {
    const r = await curl(client, `http://${vip}/hello?x=1`);
    assert.equal(r.status, 200, r.stderr);
    const reply = JSON.parse(r.body) as EchoReply;
    assert.equal(reply.path, '/hello?x=1');
    // The destination ztunnel connects from the original client's address.
    assert.equal(reply.remoteAddress, client.ip);
    assert.match(String(reply.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(reply.headers['x-forwarded-for'], client.ip);
  });

  test('a 90/10 HTTPRoute split holds over 500 requests, and a header match picks v2', async () => {
    await mesh?.apply('route-split.yaml', route('split', [
      { matches: [{ headers: [{ name: 'x-user', value: 'tester' }] }], backendRefs: [backend('echo-v2')] },
      { backendRefs: [backend('echo-v1', 90), backend('echo-v2', 10)] },
    ]));
    await waitUntil(async () => (await podsAnswering(client, `http://${vip}/`, 1, ['-H', 'x-user: tester']))[0] === 'echo-v2', 10_000, () => 'the header route never applied');
    const n = 500;
    const pods = await podsAnswering(client, `http://${vip}/`, n);
    const v2 = pods.filter((p) => p === 'echo-v2').length;
    const v1 = pods.filter((p) => p === 'echo-v1').length;
    assert.equal(v1 + v2, n);
    // Binomial(500, 0.1): mean 50, sd 6.7; ±5 sd keeps a false failure below one in a million.
    assert.ok(Math.abs(v2 - 50) <= 34, `v2 got ${v2} of ${n}`);
    const tester = await podsAnswering(client, `http://${vip}/`, 20, ['-H', 'x-user: tester']);
    assert.deepEqual(new Set(tester), new Set(['echo-v2']));
    await mesh?.delete('route-split.yaml');
  });

  test('path match, header modifier, rewrite and redirect', async () => {
    await mesh?.apply('route-filters.yaml', route('filters', [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
        filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }],
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [
          { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'api' }] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'waypoint' }] } },
        ],
        backendRefs: [backend('echo-v1')],
      },
      { backendRefs: [backend('echo')] },
    ]));
    await waitUntil(async () => (await curl(client, `http://${vip}/old/thing`)).status === 301, 10_000, () => 'the redirect never applied');
    const redirect = await curl(client, `http://${vip}/old/thing?q=1`);
    assert.match(redirect.headers, /location: http:\/\/[^/]+\/new\/thing\?q=1/i);
    const api = await curl(client, `http://${vip}/api/items`);
    assert.equal(api.status, 200);
    const reply = JSON.parse(api.body) as EchoReply;
    assert.equal(reply.path, '/v2/items');
    assert.equal(reply.headers['x-route'], 'api');
    assert.equal(reply.pod, 'echo-v1');
    assert.match(api.headers, /x-served-by: waypoint/i);
    await mesh?.delete('route-filters.yaml');
  });

  test('an L7 AuthorizationPolicy allows GET and denies POST with 403', async () => {
    await mesh?.apply('policy.yaml', {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'get-only', namespace: 'shop' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }],
        action: 'ALLOW',
        rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
      },
    });
    await waitUntil(async () => (await curl(client, `http://${vip}/`, ['-X', 'POST', '-d', 'x'])).status === 403, 10_000, () => 'the policy never applied');
    const denied = await curl(client, `http://${vip}/`, ['-X', 'POST', '-d', 'x']);
    assert.equal(denied.body, 'RBAC: access denied');
    assert.equal((await curl(client, `http://${vip}/`)).status, 200);
    await mesh?.delete('policy.yaml');
    await waitUntil(async () => (await curl(client, `http://${vip}/`, ['-X', 'POST', '-d', 'x'])).status === 200, 10_000, () => 'the policy never went away');
  });

  test('istio_requests_total is reported by the waypoint with Istio labels', async () => {
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp);
    const text = await (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"') && l.includes('destination_service_name="echo'));
    assert.ok(line, 'a 200 series for echo');
    assert.match(line, /reporter="waypoint"/);
    assert.match(line, /source_workload="client"/);
    assert.match(line, /source_principal="spiffe:\/\/cluster.local\/ns\/shop\/sa\/sleep"/);
    assert.match(line, /request_protocol="http"/);
    assert.match(text, /istio_request_duration_milliseconds_bucket\{/);
    assert.match(text, /response_code="403"[^\n]*response_flags="RBAC"|response_flags="RBAC"[^\n]*response_code="403"/);
  });

  test('malformed and oversized requests get protocol errors and the waypoint keeps serving', async () => {
    const big = await curl(client, `http://${vip}/`, ['-H', `x-big: ${'a'.repeat(70_000)}`]);
    assert.equal(big.status, 431);
    const garbage = await client.exec(['sh', '-c', `printf 'GET / HTTP/1.1\\r\\nbad header line\\r\\n\\r\\n' | socat -t 2 - TCP:${vip}:80`]);
    assert.match(garbage.stdout, /^HTTP\/1\.1 400/);
    assert.equal((await curl(client, `http://${vip}/`)).status, 200);
  });

  test('gRPC unary and server-streaming calls cross the waypoint with their trailers', async () => {
    const grpcCall = async (method: string, arg: string): Promise<string[]> => {
      const r = await client.exec([process.execPath, GRPC_APP, 'call', `${grpcVip}:9090`, method, arg]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n');
    };
    const unary = await grpcCall('echo', 'hello');
    assert.deepEqual(JSON.parse(unary[0] ?? ''), { text: 'hello', pod: 'echo-v1' });
    assert.deepEqual(JSON.parse(unary[1] ?? ''), { status: 0, details: '' });
    const stream = await grpcCall('count', '50');
    assert.equal(stream.length, 51);
    assert.deepEqual(JSON.parse(stream[49] ?? ''), { n: 50, pod: 'echo-v1' });
    assert.equal((JSON.parse(stream[50] ?? '') as { status: number }).status, 0);
    // A status in the trailers reaches the client, and the waypoint counts it.
    const failed = await grpcCall('fail', '5');
    assert.deepEqual(JSON.parse(failed[0] ?? ''), { status: 5, details: 'failed on request' });
    const wp = mesh?.waypoints.running.get('shop/waypoint');
    assert.ok(wp);
    const text = await (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
    assert.match(text, /istio_requests_total\{[^}]*request_protocol="grpc"[^}]*grpc_response_status="5"/);
  });

  test('HTTP/2 with prior knowledge: h2load gets every response', async () => {
    const r = await client.exec(['h2load', '-n', '400', '-c', '4', '-m', '10', `http://${vip}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored/);
    assert.match(r.stdout, /status codes: 400 2xx/);
  });

  test('deleting the Gateway removes the waypoint and traffic goes direct again', async () => {
    await mesh?.delete('waypoint.yaml');
    await waitUntil(async () => mesh?.waypoints.running.size === 0, 15_000, () => 'the waypoint pod stayed');
    await waitUntil(async () => {
      const r = await curl(client, `http://${vip}/`);
      return r.status === 200 && (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] === undefined;
    }, 15_000, () => 'traffic did not go direct');
  });
});
