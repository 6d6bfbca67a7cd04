// End-to-end: traces from the waypoint on the embedded cluster. The waypoint exports over
// OTLP/HTTP to the in-repo receiver on the host link; a request carrying a traceparent
// produces a span in that trace with Istio's attributes, and the backend sees a traceparent
// whose parent is the waypoint's span, a WebSocket upgrade's too. A Telemetry naming an extension provider of the mesh
// config (a file the controller watches) moves the namespace's spans to a second receiver,
// with the provider's headers; deleting it moves them back. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { OtlpGrpcReceiver } from './otlp-grpc-receiver.ts';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';
import { gateway, skip, waypointDump } from './fixture.ts';
import type { WsCallResult } from './ws-echo.ts';

const WS_APP = fileURLToPath(new URL('./ws-echo.ts', import.meta.url));

interface CurlResult { status: number; body: string; stderr: string }

async function curl(from: LocalPod, url: string, args: string[] = []): Promise<CurlResult> {
  const r = await from.exec(['curl', '-sS', '--max-time', '5', '-w', '\n%{http_code}', ...args, url]);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl), stderr: r.stderr };
}

const header = (reply: EchoReply, name: string): string | undefined => {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

describe('traces from the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let receiver: OtlpReceiver | undefined;
  /** The collector of the mesh config's `tenant-collector` provider. */
  let tenant: OtlpReceiver | undefined;
  /** The collector of its `tenant-grpc` provider (OTLP/gRPC). */
  let tenantGrpc: OtlpGrpcReceiver | undefined;
  let configDir: string | undefined;
  let meshConfig: string;
  let client: LocalPod;
  let vip: string;
  let wsVip: string;

  before(async () => {
    // On every address: the host link's exists only once the cluster is up, so the waypoint
    // is given that address with this port.
    receiver = await OtlpReceiver.start('0.0.0.0');
    tenant = await OtlpReceiver.start('0.0.0.0');
    tenantGrpc = await OtlpGrpcReceiver.start('0.0.0.0');
    const port = new URL(receiver.url).port;
    // Empty at start; the provider is written once the host link's address is known.
    configDir = await mkdtemp(join(tmpdir(), 'weft-meshconfig-'));
    meshConfig = join(configDir, 'mesh');
    await writeFile(meshConfig, '');
    mesh = await LocalMesh.start({
      name: 'wptr', nodes: 2, controllerArgs: ['--mesh-config', meshConfig],
      waypointEnv: (hostIp) => ({ WEFT_OTLP_ENDPOINT: `http://${hostIp}:${port}/v1/traces` }),
    });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    client = c;
    await startEcho(echo);
    const ws = echo.spawn([process.execPath, WS_APP, 'serve', '--port', '8090'], { env: { POD_NAME: echo.name }, label: 'ws-echo' });
    await ws.waitForLine('ready', 15_000);
    vip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    wsVip = (await cluster.addService({
      namespace: 'shop', name: 'ws', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8090, name: 'ws', appProtocol: 'kubernetes.io/ws' }],
    })).vip;
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitUntil(async () => {
      const r = await curl(client, `http://${vip}/`).catch(() => undefined);
      if (r?.status !== 200) return false;
      return (JSON.parse(r.body) as EchoReply).headers['x-envoy-attempt-count'] !== undefined;
    }, 30_000, () => 'requests never went through the waypoint');
  });

  after(async () => {
    await mesh?.stop();
    await receiver?.close();
    await tenant?.close();
    await tenantGrpc?.close();
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  });

  const spanOf = async (traceId: string, at: OtlpReceiver | OtlpGrpcReceiver | undefined = receiver): Promise<ReceivedSpan> => {
    let found: ReceivedSpan | undefined;
    await waitUntil(() => {
      found = at?.spans.find((s) => s.traceId === traceId);
      return found !== undefined;
    }, 15_000, () => `no span of trace ${traceId} reached the receiver (${at?.spans.length ?? 0} spans, rejected: ${at?.rejected.join('; ') ?? ''})`);
    assert.ok(found);
    return found;
  };

  /** A sampled request with a fresh trace; its trace id. */
  const tracedRequest = async (path: string): Promise<string> => {
    const traceId = randomBytes(16).toString('hex');
    const r = await curl(client, `http://${vip}${path}`, ['-H', `traceparent: 00-${traceId}-${randomBytes(8).toString('hex')}-01`]);
    assert.equal(r.status, 200, r.stderr);
    return traceId;
  };

  const waitForProvider = (provider: string): Promise<void> => waitUntil(async () => {
    const dump = await waypointDump(mesh).catch(() => undefined);
    return (dump?.['tracing'] as { provider?: string } | null | undefined)?.provider === provider;
  }, 30_000, () => `the waypoint never traced to ${provider}`);

  test('a sampled traceparent: the span continues the trace with Istio attributes, and the backend is its child', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const requestId = randomUUID();
    const r = await curl(client, `http://${vip}/traced?x=1`, ['-H', `traceparent: 00-${traceId}-${callerSpan}-01`, '-H', `x-request-id: ${requestId}`]);
    assert.equal(r.status, 200, r.stderr);
    const reply = JSON.parse(r.body) as EchoReply;

    const span = await spanOf(traceId);
    assert.equal(span.parentSpanId, callerSpan, 'the caller’s span is the parent');
    assert.equal(span.name, 'echo.shop.svc.cluster.local:80/*');
    const a = span.attributes;
    assert.equal(a['upstream_cluster'], 'outbound|80||echo.shop.svc.cluster.local');
    assert.equal(a['http.method'], 'GET');
    assert.equal(a['http.url'], `http://${vip}/traced?x=1`);
    assert.equal(a['http.status_code'], '200');
    assert.equal(a['response_flags'], '-');
    assert.equal(a['guid:x-request-id'], requestId);
    assert.equal(a['source.principal'], 'spiffe://cluster.local/ns/shop/sa/sleep');
    assert.equal(a['destination.principal'], 'spiffe://cluster.local/ns/shop/sa/echo');
    assert.equal(span.resource['service.name'], 'waypoint.shop');

    assert.equal(header(reply, 'traceparent'), `00-${traceId}-${span.spanId}-01`, 'the backend’s parent is the waypoint’s span');

    // The access log line of the request names its trace.
    let line: { traceId?: string; requestId?: string; status?: number } | undefined;
    await waitUntil(() => {
      const out = mesh?.waypoints.running.get('shop/waypoint')?.process.stdout ?? '';
      const found = out.split('\n').find((l) => l.includes(requestId));
      line = found === undefined ? undefined : JSON.parse(found) as typeof line;
      return line !== undefined;
    }, 15_000, () => 'the waypoint logged no line for the request');
    assert.equal(line?.traceId, traceId);
    assert.equal(line?.status, 200);
  });

  test('a B3 parent is continued, and a request with no trace starts one', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const r = await curl(client, `http://${vip}/b3`, ['-H', `x-b3-traceid: ${traceId}`, '-H', `x-b3-spanid: ${callerSpan}`, '-H', 'x-b3-sampled: 1']);
    assert.equal(r.status, 200, r.stderr);
    const reply = JSON.parse(r.body) as EchoReply;
    const span = await spanOf(traceId);
    assert.equal(span.parentSpanId, callerSpan);
    assert.equal(header(reply, 'x-b3-spanid'), span.spanId);
    assert.equal(header(reply, 'traceparent'), `00-${traceId}-${span.spanId}-01`);

    const fresh = await curl(client, `http://${vip}/untraced`);
    const tp = header(JSON.parse(fresh.body) as EchoReply, 'traceparent');
    assert.match(tp ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'the waypoint started a trace');
  });

  test('a WebSocket upgrade continues the trace: its span ends with the connection, and the backend’s parent is that span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const r = await client.exec([process.execPath, WS_APP, 'call', `ws://${wsVip}/chat`, '--traceparent', `00-${traceId}-${callerSpan}-01`], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as WsCallResult;
    assert.equal(result.closeCode, 1000);
    const span = await spanOf(traceId);
    assert.equal(span.parentSpanId, callerSpan);
    assert.equal(span.name, 'ws.shop.svc.cluster.local:80/*');
    assert.equal(span.attributes['http.status_code'], '101');
    assert.equal(span.attributes['upstream_cluster'], 'outbound|80||ws.shop.svc.cluster.local');
    assert.equal(result.hello.traceparent, `00-${traceId}-${span.spanId}-01`, 'the backend’s parent is the waypoint’s span');
  });

  test('a Telemetry naming a mesh config provider sends the spans there (OTLP/HTTP or gRPC), with its headers; deleting it sends them back', async () => {
    assert.ok(mesh && tenant && tenantGrpc);
    const hostIp = mesh.cluster.hostIp;
    assert.ok(hostIp !== undefined);
    // Written after start: the controller reads the file again when it changes.
    await writeFile(meshConfig, [
      'extensionProviders:',
      '- name: tenant-collector',
      '  opentelemetry:',
      `    service: ${hostIp}`,
      `    port: ${new URL(tenant.url).port}`,
      '    http:',
      '      path: /v1/traces',
      '      headers:',
      '      - name: x-tenant',
      '        value: shop',
      // Without http: OTLP/gRPC, Istio's default for the kind.
      '- name: tenant-grpc',
      '  opentelemetry:',
      `    service: ${hostIp}`,
      `    port: ${tenantGrpc.port}`,
      '    grpc:',
      '      initialMetadata:',
      '      - name: x-tenant',
      '        value: shop-grpc',
      '',
    ].join('\n'));
    await mesh.apply('telemetry.yaml', {
      apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'traced', namespace: 'shop' },
      spec: { tracing: [{ providers: [{ name: 'tenant-collector' }], randomSamplingPercentage: 100 }] },
    });
    await waitForProvider('tenant-collector');

    const toTenant = await tracedRequest('/tenant');
    const span = await spanOf(toTenant, tenant);
    assert.equal(span.resource['service.name'], 'waypoint.shop');
    assert.ok(tenant.headers.some((h) => h['x-tenant'] === 'shop'), 'the provider’s header rode on the export');
    assert.equal(receiver?.spans.some((s) => s.traceId === toTenant), false, 'the default collector did not get it');
    const tracing = (await waypointDump(mesh))['tracing'] as { headers: string[] };
    assert.deepEqual(tracing.headers, ['x-tenant'], 'the dump names the header and leaves its value out');

    // A mesh config that is not YAML keeps the provider in force, and says so.
    await writeFile(meshConfig, 'extensionProviders: [unclosed\n');
    await waitUntil(async () => {
      const status = await (await fetch(`${mesh?.controllerAdminUrl}/status`)).json() as { objects: { kind: string; conditions: { status: string; message?: string }[] }[] };
      const c = status.objects.find((o) => o.kind === 'MeshConfig')?.conditions[0];
      return c?.status === 'False' && c.message?.includes('last good mesh config') === true;
    }, 15_000, () => 'the controller never reported the broken mesh config');
    assert.equal((await spanOf(await tracedRequest('/still-tenant'), tenant)).resource['service.name'], 'waypoint.shop');

    // The same Telemetry naming the gRPC provider: protobuf over gRPC, the metadata with it.
    await mesh.apply('telemetry.yaml', {
      apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'traced', namespace: 'shop' },
      spec: { tracing: [{ providers: [{ name: 'tenant-grpc' }], randomSamplingPercentage: 100 }] },
    });
    await waitForProvider('tenant-grpc');
    const overGrpc = await tracedRequest('/grpc');
    assert.equal((await spanOf(overGrpc, tenantGrpc)).resource['service.name'], 'waypoint.shop');
    assert.ok(tenantGrpc.headers.some((h) => h['x-tenant'] === 'shop-grpc'), 'the provider’s metadata rode on the export');
    assert.equal(tenant.spans.some((s) => s.traceId === overGrpc), false);

    await mesh.delete('telemetry.yaml');
    await waitForProvider('otlp-endpoint');
    const back = await tracedRequest('/default');
    await spanOf(back, receiver);
    assert.equal(tenant.spans.some((s) => s.traceId === back) || tenantGrpc.spans.some((s) => s.traceId === back), false, 'the tenant collectors did not get it');
  });
});
