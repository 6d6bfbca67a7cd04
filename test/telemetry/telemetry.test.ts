// End-to-end: Istio's Telemetry resource on the embedded cluster (cluster `tellog`), applied as
// a user would (a manifest in the controller's folder) and taken up live by the running proxies.
// - Access logging off for namespace `quiet`: both ztunnels stop writing lines for its pods'
//   connections (outbound at the client's node, inbound at the server's), while namespace
//   `loud` keeps logging and the quiet connections are still counted in the metrics; deleting
//   the Telemetry brings the lines back.
// - randomSamplingPercentage 100 on `loud`'s waypoint (targetRefs to its Gateway): the
//   waypoint, started at 0 %, samples every new trace, as spans arriving at the in-repo OTLP
//   receiver show; access logging off there stops the waypoint's request lines until the
//   Telemetry turns it back on.
// Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Ports } from '#core/ports.ts';
import { parseExposition } from '#controller/dashboard/exposition.ts';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { OtlpReceiver } from '#test/waypoint/otlp-receiver.ts';
import { skip, waypointGateway } from '#test/waypoint/fixture.ts';

const quietTelemetry = {
  apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'no-access-log', namespace: 'quiet' },
  spec: { accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] },
};

const tracedWaypoint = {
  apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'trace-everything', namespace: 'loud' },
  spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }], tracing: [{ randomSamplingPercentage: 100 }] },
};

interface Workloads { workloads?: { namespace: string; name: string; accessLog?: boolean }[] }

describe('Telemetry on the embedded cluster', { skip }, () => {
  let mesh: LocalMesh;
  let receiver: OtlpReceiver | undefined;
  const pods: Record<string, { client: LocalPod; echo: LocalPod; vip: string }> = {};

  before(async () => {
    receiver = await OtlpReceiver.start('0.0.0.0');
    const port = new URL(receiver.url).port;
    mesh = await LocalMesh.start({
      name: 'tellog', nodes: 2,
      // 0 %: without the Telemetry no new trace is sampled.
      waypointEnv: (hostIp) => ({ WEFT_OTLP_ENDPOINT: `http://${hostIp}:${port}/v1/traces`, WEFT_TRACE_SAMPLING_PERCENTAGE: '0' }),
    });
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('quiet', { 'istio.io/dataplane-mode': 'ambient' });
    await cluster.setNamespaceLabels('loud', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    for (const ns of ['quiet', 'loud']) {
      const [client, echo] = await Promise.all([
        cluster.addPod({ namespace: ns, name: 'client', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }),
        cluster.addPod({ namespace: ns, name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
      ]);
      await startEcho(echo);
      const { vip } = await cluster.addService({ namespace: ns, name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] });
      pods[ns] = { client, echo, vip };
      await mesh.waitForEnrollment(client);
      await mesh.waitForEnrollment(echo);
    }
    await mesh.apply('waypoint.yaml', waypointGateway('loud'));
    // Through the waypoint once it serves: it adds Envoy's attempt count.
    await waitUntil(async () => (await call('loud').catch(() => ''))?.includes('x-envoy-attempt-count') === true, 30_000, () => 'loud requests never went through the waypoint');
  });

  after(async () => {
    await mesh?.stop();
    await receiver?.close();
  });

  const at = (ns: string): { client: LocalPod; echo: LocalPod; vip: string } => {
    const p = pods[ns];
    assert.ok(p, ns);
    return p;
  };

  /**
   * One HTTP call from the namespace's client to its echo Service (through `loud`'s waypoint),
   * or with `direct` to the echo pod itself: one connection from ztunnel to ztunnel, which
   * ends with the call (the waypoint keeps its upstream connections open).
   */
  async function call(ns: string, headers: Record<string, string> = {}, direct = false): Promise<string> {
    const { client, echo, vip } = at(ns);
    const url = direct ? `http://${echo.ip}:8080/` : `http://${vip}/`;
    const r = await client.exec(['curl', '-sS', '--fail', '--max-time', '5', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url]);
    if (r.code !== 0) throw new Error(`curl from ${ns}/client failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Access log lines a ztunnel wrote after `from` characters of its output, about one namespace's echo. */
  const linesAbout = (node: string, ns: string, from: number): string[] => {
    const { echo, vip } = at(ns);
    return mesh.ztunnel(node).process.stdout.slice(from).split('\n').filter((l) => l.includes(`"${vip}:80"`) || l.includes(`"${echo.ip}:8080"`));
  };

  const offsets = (): { node1: number; node2: number } => ({ node1: mesh.ztunnel('node1').process.stdout.length, node2: mesh.ztunnel('node2').process.stdout.length });

  /** Connections to `ns`'s echo that its ztunnel (node2, reporter destination) has counted closed. */
  const closedAtServer = async (ns: string): Promise<number> => parseExposition(await mesh.metrics('node2')).samples
    .filter((s) => s.name === 'istio_tcp_connections_closed_total' && s.labels['reporter'] === 'destination' && s.labels['destination_workload_namespace'] === ns)
    .reduce((n, s) => n + s.value, 0);

  /** Waits until both ztunnels hold the access-log setting for the quiet pods. */
  const quietAccessLogIs = async (want: boolean | undefined): Promise<void> => {
    await waitUntil(async () => {
      for (const node of ['node1', 'node2']) {
        const dump = (await mesh.configDump(node)) as Workloads;
        const quiet = (dump.workloads ?? []).filter((w) => w.namespace === 'quiet');
        if (quiet.length !== 2 || !quiet.every((w) => w.accessLog === want)) return false;
      }
      return true;
    }, 15_000, () => `the ztunnels never held accessLog=${String(want)} for the quiet pods`);
  };

  /** Waits until the waypoint's /config_dump (admin, on its pod's localhost) holds these Telemetry settings. */
  const waypointTelemetryIs = async (want: unknown): Promise<void> => {
    let last: unknown;
    await waitUntil(async () => {
      const pod = mesh.waypoints.running.get('loud/waypoint')?.pod;
      const r = await pod?.exec(['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${Ports.admin}/config_dump`]);
      if (r?.code !== 0) return false;
      last = (JSON.parse(r.stdout) as { telemetry?: unknown }).telemetry;
      return JSON.stringify(last) === JSON.stringify(want);
    }, 15_000, () => `the waypoint holds telemetry ${JSON.stringify(last)}, not ${JSON.stringify(want)}`);
  };

  test('before any Telemetry, both namespaces are access-logged at both ends', async () => {
    const from = offsets();
    await call('quiet');
    await call('loud', {}, true);
    await waitUntil(() => linesAbout('node1', 'quiet', from.node1).length > 0 && linesAbout('node2', 'quiet', from.node2).length > 0 &&
      linesAbout('node1', 'loud', from.node1).length > 0 && linesAbout('node2', 'loud', from.node2).length > 0,
    10_000, () => `missing access log lines:\n${mesh.ztunnel('node1').process.stdout.slice(from.node1)}\n${mesh.ztunnel('node2').process.stdout.slice(from.node2)}`);
    const line = JSON.parse(linesAbout('node2', 'quiet', from.node2)[0] ?? '{}') as { direction?: string; dst?: { identity?: string } };
    assert.equal(line.direction, 'inbound');
    assert.equal(line.dst?.identity, 'spiffe://cluster.local/ns/quiet/sa/echo');
  });

  test('access logging disabled for one namespace: its connections go unlogged, still counted; the other namespace keeps logging', async () => {
    await mesh.apply('telemetry-quiet.yaml', quietTelemetry);
    await quietAccessLogIs(false);
    const from = offsets();
    const closedBefore = await closedAtServer('quiet');
    for (let i = 0; i < 3; i++) await call('quiet');
    // Every quiet connection has closed at the server's ztunnel (where its line would have been queued) ...
    await waitUntil(async () => (await closedAtServer('quiet')) >= closedBefore + 3, 10_000, () => 'the quiet connections were not counted closed');
    // ... and then loud connections, whose lines come after any quiet one in each ztunnel's log.
    await call('loud', {}, true);
    await waitUntil(() => linesAbout('node1', 'loud', from.node1).length > 0 && linesAbout('node2', 'loud', from.node2).length > 0,
      10_000, () => 'loud connections were not logged');
    assert.deepEqual(linesAbout('node1', 'quiet', from.node1), [], 'no outbound line for quiet/client');
    assert.deepEqual(linesAbout('node2', 'quiet', from.node2), [], 'no inbound line for quiet/echo');
  });

  test('deleting the Telemetry brings the quiet namespace\'s lines back, live', async () => {
    await mesh.delete('telemetry-quiet.yaml');
    await quietAccessLogIs(undefined);
    const from = offsets();
    await call('quiet');
    await waitUntil(() => linesAbout('node1', 'quiet', from.node1).length > 0 && linesAbout('node2', 'quiet', from.node2).length > 0,
      10_000, () => 'quiet connections are still not logged');
  });

  test('randomSamplingPercentage 100 on the waypoint: every new trace is sampled and its span exported', async () => {
    const r = receiver;
    assert.ok(r);
    const spanFor = (requestId: string): boolean => r.spans.some((s) => s.attributes['guid:x-request-id'] === requestId);
    // At the configured 0 %, a trace the caller did not start is not sampled; a caller-sampled
    // one is, and its arrival shows the earlier (unsampled) request would have been sent by now.
    const unsampled = randomUUID();
    await call('loud', { 'x-request-id': unsampled });
    const barrier = randomUUID();
    await call('loud', { 'x-request-id': barrier, traceparent: `00-${randomUUID().replaceAll('-', '')}-${'1'.repeat(16)}-01` });
    await waitUntil(() => spanFor(barrier), 15_000, () => `the caller-sampled span never arrived (${r.spans.length} spans, rejected: ${r.rejected.join('; ')})`);
    assert.equal(spanFor(unsampled), false, 'no span at 0 %');

    await mesh.apply('telemetry-loud.yaml', tracedWaypoint);
    await waypointTelemetryIs({ waypoint: 'loud/waypoint', tracing: { randomSamplingPercentage: 100 } });
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) await call('loud', { 'x-request-id': id });
    await waitUntil(() => ids.every(spanFor), 15_000, () => `spans arrived for ${ids.filter(spanFor).length} of ${ids.length} requests`);
    const span = r.spans.find((s) => s.attributes['guid:x-request-id'] === ids[0]);
    assert.equal(span?.resource['service.name'], 'waypoint.loud');
    assert.equal(span.parentSpanId, '', 'a trace the waypoint started');
  });

  test('access logging off on the waypoint: its requests go unlogged until the Telemetry turns it back on', async () => {
    const r = receiver;
    assert.ok(r);
    const spanFor = (requestId: string): boolean => r.spans.some((s) => s.attributes['guid:x-request-id'] === requestId);
    const waypointOut = (): string => mesh.waypoints.running.get('loud/waypoint')?.process.stdout ?? '';
    const quietSpec = { ...tracedWaypoint.spec, accessLogging: [{ disabled: true }] };
    await mesh.apply('telemetry-loud.yaml', { ...tracedWaypoint, spec: quietSpec });
    await waypointTelemetryIs({ waypoint: 'loud/waypoint', accessLog: false, tracing: { randomSamplingPercentage: 100 } });
    const from = waypointOut().length;
    const ids = Array.from({ length: 3 }, () => randomUUID());
    // A request's span ends as its log line would be queued: all three are finished after this.
    for (const id of ids) await call('loud', { 'x-request-id': id });
    await waitUntil(() => ids.every(spanFor), 15_000, () => 'spans of the unlogged requests');
    await mesh.apply('telemetry-loud.yaml', tracedWaypoint);
    await waypointTelemetryIs({ waypoint: 'loud/waypoint', tracing: { randomSamplingPercentage: 100 } });
    const back = randomUUID();
    await waitUntil(async () => {
      await call('loud', { 'x-request-id': back });
      return waypointOut().slice(from).includes(back);
    }, 30_000, () => 'the waypoint never logged again');
    const logged = waypointOut().slice(from);
    for (const id of ids) assert.equal(logged.includes(id), false, `request ${id} was access-logged`);
  });
});
