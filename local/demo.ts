// `npm run demo`: a short guided tour of weft on the embedded cluster. Two nodes, a shop
// namespace enrolled by label while its pods run, encrypted cross-node traffic shown on the
// wire, an authorization policy denying a call, STRICT mTLS refusing a client outside the
// mesh, and the metrics. With a terminal attached the mesh stays up until Ctrl-C.
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

    step('Where to look');
    const n1 = c.node('node1');
    say(`ztunnel metrics     http://${n1.ip}:${Ports.metrics}/metrics   (node2: http://${c.node('node2').ip}:${Ports.metrics}/metrics)`);
    say(`ztunnel readiness   http://${n1.ip}:${Ports.readiness}/healthz/ready`);
    say(`ztunnel admin       ip netns exec ${n1.netns} curl localhost:${Ports.admin}/config_dump`);
    say(`controller          ${mesh.controllerAdminUrl}/debug/model   ${mesh.controllerAdminUrl}/status`);
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
