// End-to-end: traces from the waypoint on the embedded cluster. The waypoint exports over
// OTLP/HTTP to the in-repo receiver on the host link; a request carrying a traceparent
// produces a span in that trace with Istio's attributes, and the backend sees a traceparent
// whose parent is the waypoint's span. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';
import { gateway, skip } from './fixture.ts';

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
  let client: LocalPod;
  let vip: string;

  before(async () => {
    // On every address: the host link's exists only once the cluster is up, so the waypoint
    // is given that address with this port.
    receiver = await OtlpReceiver.start('0.0.0.0');
    const port = new URL(receiver.url).port;
    mesh = await LocalMesh.start({ name: 'wptr', nodes: 2, waypointEnv: (hostIp) => ({ WEFT_OTLP_ENDPOINT: `http://${hostIp}:${port}/v1/traces` }) });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    const [c, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    client = c;
    await startEcho(echo);
    vip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
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
  });

  const spanOf = async (traceId: string): Promise<ReceivedSpan> => {
    let found: ReceivedSpan | undefined;
    await waitUntil(() => {
      found = receiver?.spans.find((s) => s.traceId === traceId);
      return found !== undefined;
    }, 15_000, () => `no span of trace ${traceId} reached the receiver (${receiver?.spans.length ?? 0} spans, rejected: ${receiver?.rejected.join('; ') ?? ''})`);
    assert.ok(found);
    return found;
  };

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
});
