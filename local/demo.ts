// `npm run demo`: a short guided tour of weft on the embedded cluster. Two nodes, a shop
// namespace enrolled by label while its pods run, encrypted cross-node traffic shown on the
// wire, an authorization policy denying a call, STRICT mTLS refusing a client outside the
// mesh, the metrics, then a waypoint for shop: a 90/10 canary, a header match and an L7
// policy. With a terminal attached the mesh stays up until Ctrl-C.
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '#core/errors.ts';
import { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { startEcho } from './echo.ts';
import { LocalMesh, waitUntil } from './mesh.ts';
import type { LocalPod } from './pod.ts';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;
const step = (title: string): void => console.log(`\n${bold(`${++stepNo}. ${title}`)}`);
const say = (s: string): void => console.log(`   ${s}`);
const cmd = (s: string): void => console.log(`   ${dim('$')} ${s}`);

interface CallResult { ok: boolean; remote?: string; pod?: string; detail: string }

async function call(from: LocalPod, url: string, header = ''): Promise<CallResult> {
  const args = ['curl', '-sS', '--max-time', '2', ...(header === '' ? [] : ['-H', header]), url];
  const r = await from.exec(args);
  if (r.code !== 0) return { ok: false, detail: r.stderr.trim().replace(/^curl: \(\d+\) /, '') };
  try {
    const body = JSON.parse(r.stdout) as { remoteAddress?: string; pod?: string };
    return { ok: true, detail: 'ok', ...(body.remoteAddress === undefined ? {} : { remote: body.remoteAddress }), ...(body.pod === undefined ? {} : { pod: body.pod }) };
  } catch {
    return { ok: true, detail: r.stdout.slice(0, 80) };
  }
}

async function expectCall(from: LocalPod, url: string, want: boolean, timeoutMs = 10_000): Promise<{ result: CallResult; ms: number }> {
  const t0 = Date.now();
  let result: CallResult = { ok: !want, detail: '' };
  await waitUntil(async () => (result = await call(from, url)).ok === want, timeoutMs,
    () => `expected the call ${from.namespace}/${from.name} → ${url} to ${want ? 'succeed' : 'fail'}; last: ${result.detail}`);
  return { result, ms: Date.now() - t0 };
}

/** Captures what crosses node2's interfaces while `traffic` runs; counts the marker in the bytes. */
async function onTheWire(mesh: LocalMesh, host: string, marker: string, traffic: () => Promise<unknown>): Promise<{ bytes: number; markers: number }> {
  const file = join(mesh.stateDir, `wire-${Date.now()}.pcap`);
  const node2 = mesh.cluster.node('node2');
  const dump = node2.spawn(['tcpdump', '-i', 'any', '-nn', '-U', '--immediate-mode', '-s', '0', '-w', file, 'tcp', 'and', 'host', host], { label: 'tcpdump' });
  await waitUntil(() => dump.stderr.includes('listening on'), 5000, () => `tcpdump did not start: ${dump.stderr}`);
  await traffic();
  await new Promise((r) => setTimeout(r, 500));
  await dump.stop(2000);
  const bytes = await readFile(file).catch(() => Buffer.alloc(0));
  await rm(file, { force: true });
  let markers = 0;
  for (let i = bytes.indexOf(marker); i >= 0; i = bytes.indexOf(marker, i + 1)) markers++;
  return { bytes: bytes.length, markers };
}

function metricLines(text: string, name: string, filter: (line: string) => boolean): string[] {
  return text.split('\n').filter((l) => l.startsWith(name) && filter(l)).map((l) => {
    const labels = /\{(.*)\}/.exec(l)?.[1] ?? '';
    const pick = (k: string): string => new RegExp(`${k}="([^"]*)"`).exec(labels)?.[1] ?? '';
    return `${name.replace('istio_tcp_', '')}{reporter=${pick('reporter')}, source=${pick('source_workload')}, destination=${pick('destination_service')}, flags=${pick('response_flags')}, security=${pick('connection_security_policy')}} ${l.split(' ').pop() ?? ''}`;
  });
}

/** n GETs on one curl connection; how many each pod answered. */
async function answeredBy(from: LocalPod, url: string, n: number, header?: string): Promise<Map<string, number>> {
  const r = await from.exec(['curl', '-sS', '--max-time', '60', ...(header === undefined ? [] : ['-H', header]), ...Array.from({ length: n }, () => url)]);
  const counts = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    try {
      const pod = (JSON.parse(line) as { pod?: string }).pod ?? '?';
      counts.set(pod, (counts.get(pod) ?? 0) + 1);
    } catch {
      counts.set('error', (counts.get('error') ?? 0) + 1);
    }
  }
  return counts;
}

const tally = (m: Map<string, number>): string => [...m].sort().map(([k, v]) => `${k} ${v}`).join(', ');

async function waypointAct(mesh: LocalMesh, frontend: LocalPod, backend: LocalPod): Promise<void> {
  const c = mesh.cluster;
  step('A waypoint for shop: L7 routing and policy (Gateway of class istio-waypoint)');
  const v2 = await c.addPod({ namespace: 'shop', name: 'backend-v2', node: 'node2', serviceAccount: 'backend', labels: { app: 'backend', version: 'v2' } });
  await startEcho(v2);
  const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
  await c.addService({ namespace: 'shop', name: 'backend-v1', selector: { app: 'backend', version: 'v1' }, ports });
  await c.addService({ namespace: 'shop', name: 'backend-v2', selector: { app: 'backend', version: 'v2' }, ports });
  const url = `http://${c.service('shop', 'backend')?.vip ?? ''}/hello`;
  cmd('kubectl apply -f waypoint.yaml && kubectl label namespace shop istio.io/use-waypoint=waypoint');
  const t0 = Date.now();
  await mesh.apply('waypoint.yaml', {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'shop', labels: { 'istio.io/waypoint-for': 'service' } },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  await c.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
  let via = '';
  await waitUntil(async () => {
    const r = await frontend.exec(['curl', '-sS', '--max-time', '2', url]);
    const headers = r.code === 0 ? (JSON.parse(r.stdout) as { headers?: Record<string, string> }).headers : undefined;
    via = headers?.['x-envoy-attempt-count'] === undefined ? '' : headers['x-request-id'] ?? '';
    return via !== '';
  }, 30_000, () => 'traffic never went through the waypoint');
  const wp = mesh.waypoints.running.get('shop/waypoint');
  say(`waypoint pod ${wp?.pod.name ?? '?'} (${wp?.pod.ip ?? '?'}, ${wp?.pod.node ?? '?'}) serving after ${Date.now() - t0} ms; calls now carry x-request-id ${via}`);
  say(`${backend.name} and ${v2.name} both back shop/backend; without a route the waypoint balances across them`);

  cmd('kubectl apply -f canary.yaml   (HTTPRoute: x-user: tester → v2; everyone else 90/10 v1/v2)');
  await mesh.apply('canary.yaml', {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'backend-canary', namespace: 'shop' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'backend', port: 80 }],
      rules: [
        { matches: [{ headers: [{ name: 'x-user', value: 'tester' }] }], backendRefs: [{ name: 'backend-v2', port: 80 }] },
        { backendRefs: [{ name: 'backend-v1', port: 80, weight: 90 }, { name: 'backend-v2', port: 80, weight: 10 }] },
      ],
    },
  });
  await waitUntil(async () => (await answeredBy(frontend, url, 5, 'x-user: tester')).get('backend-v2') === 5, 10_000, () => 'the route never applied');
  say(`200 calls from frontend: ${tally(await answeredBy(frontend, url, 200))}`);
  say(`20 calls with x-user: tester: ${tally(await answeredBy(frontend, url, 20, 'x-user: tester'))}`);

  cmd('kubectl apply -f get-only.yaml   (AuthorizationPolicy on the waypoint: ALLOW GET)');
  await mesh.apply('get-only.yaml', {
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'get-only', namespace: 'shop' },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }], action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
  });
  const post = async (): Promise<string> => (await frontend.exec(['curl', '-sS', '--max-time', '2', '-X', 'POST', '-d', 'order=1', '-w', ' %{http_code}', url])).stdout.trim();
  let posted = '';
  await waitUntil(async () => (posted = await post()).endsWith(' 403'), 10_000, () => `POST was not denied: ${posted}`);
  const got = await call(frontend, url);
  say(`GET → ${got.ok ? `ok (${got.pod ?? '?'})` : got.detail}; POST → ${posted}`);

  if (wp !== undefined) {
    const text = await (await fetch(`http://${wp.pod.ip}:${Ports.metrics}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('source_workload="frontend"'));
    for (const l of lines.slice(0, 4)) {
      const pick = (k: string): string => new RegExp(`${k}="([^"]*)"`).exec(l)?.[1] ?? '';
      say(`requests_total{reporter=${pick('reporter')}, destination=${pick('destination_workload')}, code=${pick('response_code')}, flags=${pick('response_flags')}} ${l.split(' ').pop() ?? ''}`);
    }
    cmd(`curl http://${wp.pod.ip}:${Ports.metrics}/metrics`);
  }
  await mesh.delete('get-only.yaml');
  await mesh.delete('canary.yaml');
}

async function main(): Promise<void> {
  console.log(bold('weft — an ambient service mesh, on an embedded two-node cluster'));
  console.log(dim('nodes and pods are Linux network namespaces; the controller and one ztunnel per node run as processes'));

  step('Start the cluster, the controller and a ztunnel per node');
  const t0 = Date.now();
  const mesh = await LocalMesh.start({ name: 'demo', nodes: 2, logger: new Logger({ level: 'warn' }) });
  mesh.installSignalHandlers();
  try {
    const c = mesh.cluster;
    const [frontend, backend, legacy] = await Promise.all([
      c.addPod({ namespace: 'shop', name: 'frontend', node: 'node1', serviceAccount: 'frontend', labels: { app: 'frontend' } }),
      c.addPod({ namespace: 'shop', name: 'backend', node: 'node2', serviceAccount: 'backend', labels: { app: 'backend', version: 'v1' } }),
      c.addPod({ namespace: 'legacy', name: 'client', node: 'node1', serviceAccount: 'default', labels: { app: 'client' } }),
    ]);
    const echo = await startEcho(backend);
    const svc = await c.addService({ namespace: 'shop', name: 'backend', selector: { app: 'backend' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] });
    const url = `http://${svc.vip}/hello`;
    say(`up in ${Date.now() - t0} ms: node1 ${c.node('node1').ip}, node2 ${c.node('node2').ip}, controller ${mesh.controllerUrl}`);
    say(`pods: shop/frontend ${frontend.ip} (node1), shop/backend ${backend.ip} (node2, echo app), legacy/client ${legacy.ip} (node1)`);
    say(`dashboard: ${mesh.controllerAdminUrl}/dashboard (live: open it to watch the tour's traffic)`);
    say(`service shop/backend → VIP ${svc.vip}:80`);

    step('Before the mesh: a cross-node call travels in plaintext');
    const marker1 = `weft-demo-${randomBytes(6).toString('hex')}`;
    const plain = await onTheWire(mesh, frontend.ip, marker1, () => call(frontend, `${url}?secret=${marker1}`));
    say(`frontend → ${url}: the request's secret appears ${plain.markers}× in ${plain.bytes} bytes captured on node2`);

    step('Enroll the shop namespace: label it, no pod restarts');
    cmd(`kubectl label namespace shop istio.io/dataplane-mode=ambient   ${dim('(here: a Namespace manifest the controller watches)')}`);
    const t1 = Date.now();
    await mesh.enrollNamespace('shop');
    await Promise.all([mesh.waitForEnrollment(frontend), mesh.waitForEnrollment(backend)]);
    say(`both running pods enrolled in ${Date.now() - t1} ms; the echo app kept its pid ${echo.pid} (${echo.exitStatus === undefined ? 'still running' : 'exited!'})`);

    step('In the mesh: the same call goes through HBONE (mTLS, HTTP/2 CONNECT to :15008)');
    const marker2 = `weft-demo-${randomBytes(6).toString('hex')}`;
    let meshed: CallResult = { ok: false, detail: '' };
    const wire = await onTheWire(mesh, frontend.ip, marker2, async () => { meshed = await call(frontend, `${url}?secret=${marker2}`); });
    say(`frontend → ${url}: ${meshed.ok ? 'ok' : `failed (${meshed.detail})`}, answered by ${meshed.pod ?? '?'}, which saw the caller as ${meshed.remote ?? '?'} (frontend is ${frontend.ip}: source preserved)`);
    say(`on the wire at node2: ${wire.bytes} bytes captured, the secret appears ${wire.markers}× — only TLS crossed the underlay`);

    step('Metrics: Istio-standard names and labels, from each ztunnel on :15020');
    const m2 = await mesh.metrics('node2');
    for (const l of metricLines(m2, 'istio_tcp_connections_opened_total', (x) => x.includes('reporter="destination"')).slice(0, 3)) say(l);
    cmd(`curl http://${c.node('node2').ip}:${Ports.metrics}/metrics`);

    step('Authorization: deny shop/frontend at the backend (AuthorizationPolicy, enforced by ztunnel at L4)');
    const policy = {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy',
      metadata: { name: 'deny-frontend', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'backend' } }, action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }] }] },
    };
    await mesh.apply('deny-frontend.yaml', policy);
    const denied = await expectCall(frontend, url, false);
    say(`frontend → backend: refused (${denied.result.detail}) — in force ${denied.ms} ms after the policy was written`);
    const m2b = await mesh.metrics('node2');
    for (const l of metricLines(m2b, 'istio_tcp_connections_failed_total', (x) => x.includes('response_flags="DENY"')).slice(0, 1)) say(l);
    await mesh.delete('deny-frontend.yaml');
    const allowed = await expectCall(frontend, url, true);
    say(`policy deleted: frontend → backend works again (${allowed.ms} ms)`);

    step('mTLS mode: a client outside the mesh, PERMISSIVE (default) then STRICT (PeerAuthentication)');
    const before = await call(legacy, url);
    say(`legacy/client (not enrolled) → backend: ${before.ok ? 'allowed (plaintext accepted in PERMISSIVE mode)' : `refused (${before.detail})`}`);
    await mesh.apply('strict.yaml', {
      apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication',
      metadata: { name: 'strict', namespace: 'shop' }, spec: { mtls: { mode: 'STRICT' } },
    });
    const strict = await expectCall(legacy, url, false);
    say(`STRICT applied: legacy/client refused (${strict.result.detail}) after ${strict.ms} ms`);
    const still = await call(frontend, url);
    say(`shop/frontend, with a mesh identity, still gets through: ${still.ok ? 'ok' : still.detail}`);
    await mesh.delete('strict.yaml');

    await waypointAct(mesh, frontend, backend);

    step('Where to look');
    const n1 = c.node('node1');
    say(`ztunnel metrics     http://${n1.ip}:${Ports.metrics}/metrics   (node2: http://${c.node('node2').ip}:${Ports.metrics}/metrics)`);
    say(`ztunnel readiness   http://${n1.ip}:${Ports.readiness}/healthz/ready`);
    say(`ztunnel admin       ip netns exec ${n1.netns} curl localhost:${Ports.admin}/config_dump`);
    say(`controller          ${mesh.controllerAdminUrl}/debug/model   ${mesh.controllerAdminUrl}/status`);
    say(`dashboard           ${mesh.controllerAdminUrl}/dashboard   (or: weft dashboard --controller ${mesh.controllerAdminUrl})`);
    say(`call through mesh   ip netns exec ${frontend.netns} curl ${url}`);
    say(`your manifests      ${mesh.manifestDir}  (AuthorizationPolicy, PeerAuthentication: applied on write)`);

    if (process.stdin.isTTY && process.env['CI'] === undefined) {
      console.log(`\n${bold('The mesh stays up; Ctrl-C stops it and removes everything.')}`);
      await new Promise<never>(() => { /* until a signal */ });
    }
  } finally {
    await mesh.stop();
  }
  console.log(`\n${bold('Stopped; no namespaces, links, rules or processes left behind.')}`);
}

main().catch((err: unknown) => {
  console.error(`\ndemo failed: ${errorMessage(err)}`);
  process.exitCode = 1;
});
