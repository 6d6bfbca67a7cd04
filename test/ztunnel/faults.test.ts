// End-to-end faults on the embedded cluster: resets mid-transfer in both directions,
// half-open peers and a silent reader (backpressure, RSS bound), unknown destinations, a pod
// whose namespace vanishes and whose IP is reused, malformed policies, malformed HBONE
// requests, and the controller going away. After each fault the ztunnels must still carry a
// good connection and hold nothing they held not before. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testPki } from '#core/ca/testing.ts';
import type { Authorization, Resource } from '#core/config/model.ts';
import { dialHboneTls } from '#core/hbone/dial.ts';
import { SecureContextCache } from '#core/hbone/tls-context.ts';
import { Logger } from '#core/log.ts';
import { Ports, ZTUNNEL_MARK } from '#core/ports.ts';
import { DEFAULT_MAX_STREAMS, SERVER_STREAM_HEADROOM } from '#core/hbone/settings.ts';
import { tokenFilePath } from '#controller/ca/tokens.ts';
import { LocalCluster } from '#local/cluster.ts';
import type { LocalPod } from '#local/pod.ts';
import { LocalProcess } from '#local/process.ts';
import { connectInNetns, listenInNetns } from '#ztunnel/native/index.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig, type RunningZtunnel } from '#ztunnel/start.ts';
import type { Ztunnel } from '#ztunnel/ztunnel.ts';
import { pkiCertificates, res, startNodeZtunnel, workloadOf } from './fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const verbose = process.env['WEFT_TEST_LOG'] === '1';
const MB = 1024 * 1024;
const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/main.ts', import.meta.url));
const CONTROLLER_IDENTITY = 'spiffe://cluster.local/ns/istio-system/sa/weft-controller';

const emptyMatch = {
  namespaces: [], notNamespaces: [], principals: [], notPrincipals: [], serviceAccounts: [], notServiceAccounts: [],
  sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [], destinationPorts: [], notDestinationPorts: [],
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Resolves when the socket closes, with the error it died of (if any). */
function closedWith(s: net.Socket): Promise<{ error: string | undefined; hadError: boolean }> {
  return new Promise((resolve) => {
    let error: string | undefined;
    s.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code ?? err.message; });
    s.once('close', (hadError) => resolve({ error, hadError }));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms))]);
}

/** Writes `total` bytes honouring backpressure; stops when the socket stalls for `stallMs` or after `stopAfter` bytes. */
async function pump(s: net.Socket, total: number, opts: { stallMs?: number; stopAfter?: number } = {}): Promise<{ written: number; stalled: boolean }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  while (written < total) {
    if (opts.stopAfter !== undefined && written >= opts.stopAfter) return { written, stalled: false };
    if (s.destroyed) return { written, stalled: false };
    written += chunk.length;
    if (!s.write(chunk)) {
      const drained = await Promise.race([
        new Promise<boolean>((r) => { s.once('drain', () => r(true)); s.once('close', () => r(false)); }),
        sleep(opts.stallMs ?? 10_000).then(() => false),
      ]);
      if (!drained) return { written, stalled: !s.destroyed };
    }
  }
  return { written, stalled: false };
}

function metricLines(text: string, name: string, ...parts: string[]): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && parts.every((p) => l.includes(p)));
}

/** TCP handles of this process (apps, clients and both ztunnels live in it). */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

describe('ztunnel faults on the embedded cluster', { skip }, () => {
  let cluster: LocalCluster | undefined;
  let client: LocalPod;
  let server: LocalPod;
  const ztunnels: Ztunnel[] = [];
  let certs: ReturnType<typeof pkiCertificates>;
  const logs: string[] = [];
  const accessLog: string[] = [];
  const logger = new Logger({ level: verbose ? 'debug' : 'info', sink: { write: (l) => { logs.push(l); if (verbose) process.stderr.write(l); } } });
  const apps: net.Server[] = [];
  const appSockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let baseConfig: Resource[] = [];
  let version = 1;
  // What the apps saw, per test.
  const sinkClosed: { bytes: number; error: string | undefined }[] = [];
  const serverFirstGot: string[] = [];
  const silent: net.Socket[] = [];

  const z1 = (): Ztunnel => ztunnels[0]!;
  const z2 = (): Ztunnel => ztunnels[1]!;

  const push = (extra: Resource[], opts: { expectRejected?: number } = {}): ReturnType<Ztunnel['apply']>['rejected'] => {
    const update = { snapshot: true, version: version++, updated: [...baseConfig, ...extra], removed: [] };
    let rejected: ReturnType<Ztunnel['apply']>['rejected'] = [];
    for (const z of ztunnels) rejected = z.apply(update).rejected;
    assert.equal(rejected.length, opts.expectRejected ?? 0, JSON.stringify(rejected));
    return rejected;
  };

  async function app(pod: LocalPod, port: number, onConn: (s: net.Socket) => void): Promise<net.Server> {
    const srv = await listenInNetns(pod.netnsPath, { address: '0.0.0.0', port, server: { allowHalfOpen: true } });
    srv.on('connection', (s: net.Socket) => {
      appSockets.add(s);
      s.once('close', () => appSockets.delete(s));
      s.on('error', () => undefined);
      onConn(s);
    });
    apps.push(srv);
    return srv;
  }

  const echoApp = (s: net.Socket): void => { s.pipe(s); };

  /** A connection from the client pod (captured, so it rides the mesh). */
  async function dial(port: number, host = server.ip): Promise<net.Socket> {
    const s = await connectInNetns(client.netnsPath, { host, port, timeoutMs: 3000 });
    s.allowHalfOpen = true;
    clients.add(s);
    s.once('close', () => clients.delete(s));
    return s;
  }

  /** A short echo exchange through both ztunnels. */
  async function assertServing(host = server.ip, what = 'a good connection after the fault'): Promise<void> {
    const s = await dial(7000, host);
    const done = closedWith(s);
    const got = new Promise<string>((resolve) => {
      let text = '';
      s.on('data', (b: Buffer) => { text += b.toString(); if (text.length >= 4) resolve(text); });
      void done.then((r) => resolve(`${text} (closed: ${JSON.stringify(r)})`));
    });
    s.write('ping');
    assert.equal(await withTimeout(got, 3000, what), 'ping', what);
    s.destroy();
  }

  interface Held { poolStreams: number; poolSessions: number; serverStreams: number; serverConnections: number; inbound: number; handles: number }
  function held(): Held {
    const d1 = z1().configDump() as { hbone: { pool: { sessions: number; streams: number } } };
    const d2 = z2().configDump() as { hbone: { server: { streamsActive: number; connectionsActive: number } }; openInboundConnections: number };
    return {
      poolStreams: d1.hbone.pool.streams, poolSessions: d1.hbone.pool.sessions,
      serverStreams: d2.hbone.server.streamsActive, serverConnections: d2.hbone.server.connectionsActive,
      inbound: d2.openInboundConnections, handles: tcpHandles(),
    };
  }
  /** Waits until the ztunnels hold no more than they did in `idle`. */
  async function assertNothingHeld(idle: Held, what: string): Promise<void> {
    let now = held();
    const ok = (): boolean => now.poolStreams === 0 && now.serverStreams === 0 && now.inbound === 0
      && now.poolSessions <= idle.poolSessions && now.serverConnections <= idle.serverConnections && now.handles <= idle.handles;
    await eventually(`${what}: nothing held (idle ${JSON.stringify(idle)})`, () => { now = held(); return ok(); }, 4000)
      .catch(() => assert.fail(`${what}: still held ${JSON.stringify(now)}, idle was ${JSON.stringify(idle)}`));
  }

  async function metrics(node: string): Promise<string> {
    return (await fetch(`http://${cluster!.node(node).ip}:15020/metrics`)).text();
  }

  function accessEntries(pred: (e: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    for (const z of ztunnels) z.flushAccessLog();
    return accessLog.map((l) => JSON.parse(l) as Record<string, unknown>).filter(pred);
  }

  before(async () => {
    cluster = await LocalCluster.start({ name: 'ztflt', nodes: 2 });
    [client, server] = await Promise.all([
      cluster.addPod({ namespace: 'default', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'default', name: 'server', node: 'node2', serviceAccount: 'echo', labels: { app: 'server' } }),
    ]);
    await app(server, 7000, echoApp);
    // Sends 8 MB once asked, resetting the connection halfway.
    await app(server, 7001, (s) => {
      s.once('data', () => {
        const chunk = Buffer.alloc(64 * 1024, 0x62);
        let sent = 0;
        const more = (): void => {
          while (sent < 8 * MB) {
            if (sent >= 4 * MB) {
              s.resetAndDestroy();
              return;
            }
            sent += chunk.length;
            if (!s.write(chunk)) {
              s.once('drain', more);
              return;
            }
          }
        };
        more();
      });
    });
    // Reads everything; remembers how the connection ended.
    await app(server, 7002, (s) => {
      let bytes = 0;
      let error: string | undefined;
      s.on('data', (b: Buffer) => { bytes += b.length; });
      s.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code; });
      s.once('close', () => sinkClosed.push({ bytes, error }));
    });
    // Echo after the client's half-close: the whole request comes back, then FIN.
    await app(server, 7003, (s) => {
      const got: Buffer[] = [];
      s.on('data', (b: Buffer) => got.push(b));
      s.once('end', () => s.end(Buffer.concat(got)));
    });
    // Speaks first and half-closes; keeps reading what the client still sends.
    await app(server, 7004, (s) => {
      const got: Buffer[] = [];
      s.on('data', (b: Buffer) => got.push(b));
      s.once('end', () => { serverFirstGot.push(Buffer.concat(got).toString()); s.end(); });
      s.end('hello, I am done talking');
    });
    // Never reads.
    await app(server, 7005, (s) => { s.pause(); silent.push(s); });

    certs = pkiCertificates(await testPki());
    for (const node of cluster.nodes) ztunnels.push(await startNodeZtunnel(node, certs, logger, accessLog));
    baseConfig = [res.workload(workloadOf(client, { mesh: true })), res.workload(workloadOf(server, { mesh: true }))];
    push([]);
    for (const z of ztunnels) await z.settled();
    await assertServing(server.ip, 'the first connection');
  });

  after(async () => {
    for (const s of [...clients, ...appSockets]) s.destroy();
    await Promise.all(apps.map((a) => new Promise<void>((r) => a.close(() => r()))));
    for (const z of ztunnels) await z.close({ removeCapture: true }).catch(() => undefined);
    await cluster?.stop();
  });

  test('the destination app resets halfway through a transfer', async () => {
    const idle = held();
    const s = await dial(7001);
    let received = 0;
    s.on('data', (b: Buffer) => { received += b.length; });
    const end = closedWith(s);
    s.write('go');
    const r = await withTimeout(end, 5000, 'the client to see its connection end').catch((err: unknown) => {
      throw new Error(`${String(err)}; received ${received}, held ${JSON.stringify(held())}, app sockets ${appSockets.size}`);
    });
    assert.ok(received > 0 && received < 8 * MB, `received ${received} bytes of 8 MB`);
    // A reset, not a FIN: a clean end would pass the truncated transfer off as complete.
    assert.equal(r.error, 'ECONNRESET', JSON.stringify(r));
    await eventually('both access log lines with a reset flag', () =>
      accessEntries((e) => String((e['dst'] as { addr?: string }).addr) === `${server.ip}:7001` && e['responseFlags'] === 'UR').length === 2);
    const m1 = await metrics('node1');
    assert.equal(metricLines(m1, 'istio_tcp_connections_closed_total', 'reporter="source"', 'response_flags="UR"').length, 1, m1);
    await eventually('the inbound close to be counted', async () =>
      metricLines(await metrics('node2'), 'istio_tcp_connections_closed_total', 'reporter="destination"', 'response_flags="UR"').length === 1);
    await assertNothingHeld(idle, 'after the app reset');
    await assertServing();
  });

  test('the client resets halfway through a transfer', async () => {
    const idle = held();
    const before = sinkClosed.length;
    const s = await dial(7002);
    const end = closedWith(s);
    const w = await pump(s, 8 * MB, { stopAfter: 4 * MB });
    assert.equal(w.written, 4 * MB);
    s.resetAndDestroy();
    await end;
    await eventually('the app to see its connection end', () => sinkClosed.length > before);
    const seen = sinkClosed[before]!;
    assert.ok(seen.bytes <= 4 * MB, JSON.stringify(seen));
    assert.equal(seen.error, 'ECONNRESET', `the app sees a reset: ${JSON.stringify(seen)}`);
    await eventually('both access log lines with a downstream flag', () =>
      accessEntries((e) => String((e['dst'] as { addr?: string }).addr) === `${server.ip}:7002` && e['responseFlags'] === 'DC').length === 2);
    await eventually('the inbound close to be counted', async () =>
      metricLines(await metrics('node2'), 'istio_tcp_connections_closed_total', 'reporter="destination"', 'response_flags="DC"').length === 1);
    assert.equal(metricLines(await metrics('node1'), 'istio_tcp_connections_closed_total', 'reporter="source"', 'response_flags="DC"').length, 1);
    await assertNothingHeld(idle, 'after the client reset');
    await assertServing();
  });

  test('half-close: the client shuts down writing and still reads the whole reply', async () => {
    const s = await dial(7003);
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    const ended = new Promise<void>((r) => s.once('end', () => r()));
    const request = Buffer.alloc(512 * 1024);
    for (let i = 0; i < request.length; i++) request[i] = i % 251;
    s.end(request);
    await withTimeout(ended, 5000, 'the echoed reply after half-close');
    assert.equal(Buffer.compare(Buffer.concat(got), request), 0, `reply of ${Buffer.concat(got).length} bytes`);
    s.destroy();
    await assertServing();
  });

  test('half-close: the server shuts down first and the client can still send', async () => {
    const before = serverFirstGot.length;
    const s = await dial(7004);
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    await withTimeout(new Promise<void>((r) => s.once('end', () => r())), 3000, 'the server FIN');
    assert.equal(Buffer.concat(got).toString(), 'hello, I am done talking');
    assert.equal(s.writable, true, 'the client may still write');
    const closed = closedWith(s);
    s.end('and here is my answer');
    await eventually('the server to read the answer', () => serverFirstGot.length > before, 3000);
    assert.equal(serverFirstGot[before], 'and here is my answer');
    await withTimeout(closed, 3000, 'the connection to close once both sides are done');
    await assertServing();
  });

  test('a peer that stops reading: backpressure bounds what the ztunnels buffer', async () => {
    const idle = held();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 50);
    try {
      const s = await dial(7005);
      const w = await pump(s, 64 * MB, { stallMs: 1500 });
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      const growthMb = (rssPeak - rssBefore) / MB;
      const d1 = z1().configDump() as { hbone: { pool: { streams: number } } };
      // Reported for the record (the README of this test quotes it).
      process.stdout.write(`# silent reader: ${(w.written / MB).toFixed(1)} MB accepted of 64 MB before the sender stalled; RSS +${growthMb.toFixed(1)} MB\n`);
      assert.equal(w.stalled, true, `the sender never stalled: ${w.written} bytes went in`);
      assert.ok(w.written < 48 * MB, `${(w.written / MB).toFixed(1)} MB accepted: something buffers without bound`);
      assert.ok(growthMb < 40, `RSS grew by ${growthMb.toFixed(1)} MB`);
      assert.equal(d1.hbone.pool.streams, 1);
      s.destroy();
    } finally {
      clearInterval(sampler);
      for (const a of silent.splice(0)) a.destroy();
    }
    await assertNothingHeld(idle, 'after the silent reader');
    await assertServing();
  });

  test('an address in the pod CIDR that no pod has fails cleanly, counted and logged', async () => {
    const nobody = server.ip.replace(/\.\d+$/, '.200');
    assert.equal(cluster!.podByIp(nobody), undefined);
    const s = await dial(7000, nobody);
    const end = closedWith(s);
    s.write('anyone?');
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    const r = await withTimeout(end, 5000, 'the connection to an unknown address to end');
    assert.equal(got.length, 0);
    assert.equal(r.error, 'ECONNRESET', JSON.stringify(r));
    const m1 = await metrics('node1');
    assert.equal(metricLines(m1, 'istio_tcp_connections_failed_total', 'reporter="source"', 'response_flags="CONNECT"').length, 1, m1);
    assert.ok(logs.some((l) => l.includes('outbound connection failed') && l.includes(`${nobody}:7000`)), 'a log line names the destination');
    await assertServing();
  });

  test('a pod whose network namespace vanishes is unenrolled; its IP reused by another pod works', async () => {
    const victim = await cluster!.addPod({ namespace: 'default', name: 'victim', node: 'node2', serviceAccount: 'echo' });
    const victimApp = await app(victim, 7000, echoApp);
    baseConfig.push(res.workload(workloadOf(victim, { mesh: true })));
    push([]);
    await z2().settled();
    assert.ok(z2().enrolled().some((p) => p.ip === victim.ip));
    await assertServing(victim.ip, 'the victim before it goes');
    await new Promise<void>((r) => victimApp.close(() => r()));
    for (const a of appSockets) if (a.localAddress === victim.ip) a.destroy();

    await cluster!.removePod(victim);
    // The config still lists the victim (no controller here): ztunnel must notice on its own.
    await eventually('the victim to be unenrolled', () => !z2().enrolled().some((p) => p.uid === victim.uid), 4000);
    assert.ok(logs.some((l) => l.includes('network namespace vanished') && l.includes(victim.uid)), 'a log line says why');
    await eventually('the unenrolled log line', () => logs.some((l) => l.includes('pod unenrolled') && l.includes(victim.uid)), 2000);
    assert.ok(z2().enrolled().some((p) => p.uid === server.uid), 'other pods stay enrolled');
    await assertServing();

    const reborn = await cluster!.addPod({ namespace: 'default', name: 'reborn', node: 'node2', serviceAccount: 'other' });
    assert.equal(reborn.ip, victim.ip, 'the embedded cluster reuses the lowest free address');
    await app(reborn, 7000, echoApp);
    baseConfig = baseConfig.filter((r) => !(r.kind === 'workload' && r.value.uid === victim.uid));
    baseConfig.push(res.workload(workloadOf(reborn, { mesh: true })));
    push([]);
    await z2().settled();
    assert.deepEqual(z2().enrolled().filter((p) => p.ip === reborn.ip).map((p) => [p.uid, p.identity]),
      [[reborn.uid, 'spiffe://cluster.local/ns/default/sa/other']]);
    await assertServing(reborn.ip, 'the new pod at the old address');
    await eventually('the inbound access log line of the new pod, under its own identity', () =>
      accessEntries((e) => e['direction'] === 'inbound' && (e['dst'] as { addr?: string }).addr === `${reborn.ip}:7000`
        && (e['dst'] as { identity?: string }).identity === 'spiffe://cluster.local/ns/default/sa/other').length === 1);
  });

  test('malformed authorization policies are NACKed with a reason; the rest applies', async () => {
    const policy = (name: string, match: Partial<typeof emptyMatch>, action: 'ALLOW' | 'DENY' = 'DENY'): Authorization => ({
      name, namespace: 'default', scope: 'NAMESPACE', action, dryRun: false, rules: [{ clauses: [{ matches: [{ ...emptyMatch, ...match }] }] }],
    });
    const badCidr = policy('bad-cidr', { sourceIps: ['10.0.0.0/33'] as never[] });
    const badPort = policy('bad-port', { destinationPorts: [70000] as never[] });
    const good = policy('deny-7009', { destinationPorts: [7009] as never[] });
    const rejected = push([res.authorization(badCidr), res.authorization(badPort), res.authorization(good)], { expectRejected: 2 });
    const reasons = Object.fromEntries(rejected.map((r) => [r.key, r.reason]));
    assert.match(reasons['default/bad-cidr'] ?? '', /sourceIps\[0\].*CIDR/, JSON.stringify(rejected));
    assert.match(reasons['default/bad-port'] ?? '', /destinationPorts\[0\].*port/, JSON.stringify(rejected));
    const m2 = await metrics('node2');
    assert.ok(metricLines(m2, 'weft_ztunnel_config_rejected_total', 'kind="authorization"').some((l) => / [2-9]\d*$/.test(l)), m2);
    assert.deepEqual(z2().state.authorizations().map((a) => a.name), ['deny-7009'], 'the valid policy applied');
    try {
      await assertServing(server.ip, 'traffic under the rest of the config');
      const denied = await dial(7009);
      await withTimeout(closedWith(denied), 3000, 'the denied connection to end');
    } finally {
      push([]);
    }
  });

  test('malformed HBONE requests straight to 15008 get 400s and refusals; the ztunnel keeps serving', async () => {
    const idle = held();
    const cert = await certs.get('spiffe://cluster.local/ns/default/sa/sleep');
    const contexts = new SecureContextCache();
    const open = async (): Promise<http2.ClientHttp2Session> => {
      const tlsSocket = await dialHboneTls({
        cert, destinationIdentity: 'spiffe://cluster.local/ns/default/sa/echo', address: { host: server.ip, port: Ports.hbone }, contexts, timeoutMs: 3000,
        dial: (host, port) => connectInNetns(client.netnsPath, { host, port, mark: ZTUNNEL_MARK, timeoutMs: 3000 }),
      });
      // The default limit is lifted so requests go out before the server's SETTINGS arrive.
      const session = http2.connect(`https://${server.ip}:${Ports.hbone}`, { createConnection: () => tlsSocket, peerMaxConcurrentStreams: 1000 });
      session.on('error', () => undefined);
      return session;
    };
    const outcome = (session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<string> => new Promise((resolve) => {
      const st = session.request(headers, { endStream: false });
      st.on('response', (h) => resolve(String(h[':status'])));
      st.on('error', () => undefined);
      st.on('close', () => resolve(`rst:${st.rstCode}`));
    });
    const s1 = await open();
    try {
      const answers = await Promise.all([
        outcome(s1, { ':method': 'GET', ':path': '/' }),
        outcome(s1, { ':method': 'CONNECT', ':authority': 'not-an-address' }),
        outcome(s1, { ':method': 'CONNECT', ':authority': `${server.ip}:99999` }),
        outcome(s1, { ':method': 'CONNECT', ':authority': server.ip }),
        // An address that is not the destination pod's is a bad request (Istio answers 400), not a denial.
        outcome(s1, { ':method': 'CONNECT', ':authority': `${client.ip}:7000` }),
      ]);
      assert.deepEqual(answers, ['400', '400', '400', '400', '400']);
    } finally {
      s1.destroy();
    }
    const s2 = await open();
    try {
      const flood = await Promise.all(Array.from({ length: 500 }, () => outcome(s2, { ':method': 'CONNECT', ':authority': `${server.ip}:7000` })));
      const counts: Record<string, number> = {};
      for (const a of flood) counts[a] = (counts[a] ?? 0) + 1;
      const limit = DEFAULT_MAX_STREAMS + SERVER_STREAM_HEADROOM;
      assert.ok((counts['200'] ?? 0) <= limit && (counts['200'] ?? 0) > 0, JSON.stringify(counts));
      assert.equal(counts['rst:7'] ?? 0, 500 - (counts['200'] ?? 0), `the rest refused (REFUSED_STREAM): ${JSON.stringify(counts)}`);
    } finally {
      s2.destroy();
    }
    await assertServing();
    await assertNothingHeld(idle, 'after the malformed requests');
  });

  test('self-calls to ztunnel ports (15001, 15006, 15008) are refused at once; no loop, fds stay flat', async () => {
    const idle = held();
    // Both ztunnels live in this process, so its fd table is theirs.
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const fdsBefore = await fds();
    let fdsPeak = fdsBefore;
    const sampler = setInterval(() => void fds().then((n) => { fdsPeak = Math.max(fdsPeak, n); }), 20);
    /** Like `curl --max-time 1 http://host:port/`: the connection must end with no reply. */
    const refused = async (netnsPath: string, host: string, port: number): Promise<void> => {
      let s: net.Socket;
      try {
        s = await connectInNetns(netnsPath, { host, port, timeoutMs: 3000 });
      } catch (err) {
        // The reset can beat the connect callback: refused just the same.
        assert.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET', `connect to ${host}:${port}: ${String(err)}`);
        return;
      }
      clients.add(s);
      s.once('close', () => clients.delete(s));
      const got: Buffer[] = [];
      s.on('data', (b: Buffer) => got.push(b));
      const end = closedWith(s);
      s.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
      await withTimeout(end, 1000, `the connection to ${host}:${port} to be refused`);
      assert.equal(Buffer.concat(got).length, 0, `no reply from ${host}:${port}`);
    };
    const cert = await certs.get('spiffe://cluster.local/ns/default/sa/sleep');
    try {
      // From another pod to the enrolled pod's own ports.
      await refused(client.netnsPath, server.ip, Ports.outbound);
      await refused(client.netnsPath, server.ip, Ports.inboundPlaintext);
      // From inside the enrolled pod: loopback is not captured, so these reach the listeners unredirected.
      await refused(server.netnsPath, '127.0.0.1', Ports.outbound);
      await refused(server.netnsPath, '127.0.0.1', Ports.inboundPlaintext);
      await refused(server.netnsPath, server.ip, Ports.outbound);
      await eventually('log lines naming each refused self-call', () =>
        [`${server.ip}:${Ports.outbound}`, `${server.ip}:${Ports.inboundPlaintext}`].every((d) => logs.some((l) => l.includes('outbound connection refused') && l.includes(d) && l.includes('self-call')))
        && logs.some((l) => l.includes('outbound connection refused') && l.includes(`127.0.0.1:${Ports.outbound}`) && l.includes('self-call'))
        && logs.some((l) => l.includes('inbound plaintext refused') && l.includes(`127.0.0.1:${Ports.inboundPlaintext}`) && l.includes('self-call')), 3000);

      // An HBONE CONNECT to the pod's own ztunnel ports: 503, while an app port still opens.
      const tlsSocket = await dialHboneTls({
        cert, destinationIdentity: 'spiffe://cluster.local/ns/default/sa/echo', address: { host: server.ip, port: Ports.hbone }, contexts: new SecureContextCache(), timeoutMs: 3000,
        dial: (host, port) => connectInNetns(client.netnsPath, { host, port, mark: ZTUNNEL_MARK, timeoutMs: 3000 }),
      });
      const session = http2.connect(`https://${server.ip}:${Ports.hbone}`, { createConnection: () => tlsSocket });
      session.on('error', () => undefined);
      try {
        const status = (authority: string): Promise<string> => new Promise((resolve) => {
          const st = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
          st.on('response', (h) => { resolve(String(h[':status'])); st.close(); });
          st.on('error', () => undefined);
          st.on('close', () => resolve(`rst:${st.rstCode}`));
        });
        const answers = await withTimeout(Promise.all([
          status(`${server.ip}:${Ports.hbone}`), status(`${server.ip}:${Ports.outbound}`), status(`${server.ip}:${Ports.inboundPlaintext}`), status(`${server.ip}:7000`),
        ]), 3000, 'the CONNECT answers');
        assert.deepEqual(answers, ['503', '503', '503', '200']);
      } finally {
        session.destroy();
      }
      assert.ok(logs.some((l) => l.includes('HBONE request rejected') && l.includes('self-call') && l.includes(`${server.ip}:${Ports.outbound}`)), 'the 503 is logged with its reason');

      const m1 = await metrics('node1');
      assert.ok(metricLines(m1, 'istio_tcp_connections_failed_total', 'reporter="source"', 'response_flags="CONNECT"').length > 0, m1);
      const m2 = await metrics('node2');
      assert.ok(metricLines(m2, 'istio_tcp_connections_failed_total', 'reporter="source"', 'response_flags="CONNECT"', 'source_workload="server"').length > 0, m2);
      assert.ok(metricLines(m2, 'istio_tcp_connections_failed_total', 'reporter="destination"', 'response_flags="CONNECT"').length > 0, m2);
      assert.ok(accessEntries((e) => typeof e['error'] === 'string' && e['error'].includes('self-call')).length >= 5, 'access log lines carry the reason');

      await eventually('the fd count to settle', async () => (await fds()) <= fdsBefore + 30, 4000)
        .catch(async () => assert.fail(`fds ${fdsBefore} before, ${await fds()} now`));
      assert.ok(fdsPeak <= fdsBefore + 50, `fds peaked at ${fdsPeak}, ${fdsBefore} before: a self-call loop`);
    } finally {
      clearInterval(sampler);
    }
    await assertServing(server.ip, 'a normal request after the self-calls');
    await assertNothingHeld(idle, 'after the self-calls');
  });
});

describe('controller going away', { skip }, () => {
  let dir: string | undefined;
  let cluster: LocalCluster | undefined;
  let controller: LocalProcess | undefined;
  let startControllerProcess: () => Promise<LocalProcess>;
  const ztunnels: RunningZtunnel[] = [];
  let client: LocalPod;
  let echo: LocalPod;
  let echoApp: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  const logger = new Logger({ level: verbose ? 'debug' : 'off' });

  async function exchange(s: net.Socket, text: string): Promise<void> {
    const got = new Promise<string>((r) => s.once('data', (b: Buffer) => r(b.toString())));
    s.write(text);
    assert.equal(await withTimeout(got, 3000, `echo of ${text}`), text);
  }
  async function dial(): Promise<net.Socket> {
    const s = await connectInNetns(client.netnsPath, { host: echo.ip, port: 7000, timeoutMs: 3000 });
    s.on('error', () => undefined);
    sockets.add(s);
    return s;
  }
  async function freePort(): Promise<number> {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    return port;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-zt-faults-'));
    const manifests = join(dir, 'manifests');
    const stateDir = join(dir, 'state');
    cluster = await LocalCluster.start({ name: 'ztfc', nodes: 2, manifestDir: manifests });
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient' });
    [client, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep' }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo' }),
    ]);
    echoApp = await listenInNetns(echo.netnsPath, { address: '0.0.0.0', port: 7000 });
    echoApp.on('connection', (s: net.Socket) => { sockets.add(s); s.on('error', () => undefined); s.pipe(s); });
    // A process, so it can die like one (SIGKILL); fixed ports, so the restarted one is where
    // the ztunnels look for it.
    const [port, adminPort] = [await freePort(), await freePort()];
    startControllerProcess = async () => {
      const p = new LocalProcess(process.execPath, [
        CONTROLLER_MAIN, '--state-dir', stateDir, '--manifests', manifests, '--address', '127.0.0.1', '--port', String(port),
        '--admin-address', '127.0.0.1', '--admin-port', String(adminPort), '--debounce-ms', '20', '--log-level', verbose ? 'debug' : 'warn',
      ], 'controller', { echo: verbose });
      await eventually('the controller to be healthy', async () =>
        (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.ok === true, 10_000)
        .catch((err: unknown) => { p.killSync(); throw new Error(`${String(err)}: ${p.stderr.slice(-1500)}`); });
      return p;
    };
    controller = await startControllerProcess();
    for (const node of cluster.nodes) {
      const tokenFile = tokenFilePath(stateDir, { kind: 'ztunnel', node: node.name });
      await eventually(`a token for ${node.name}`, () => access(tokenFile).then(() => true, () => false));
      const cfg = parseZtunnelConfig([
        '--node', node.name, '--controller', `https://127.0.0.1:${port}`, '--root-cert', join(stateDir, 'ca', 'root-cert.pem'),
        '--token-file', tokenFile, '--controller-identity', CONTROLLER_IDENTITY, '--admin-host', node.ip, '--remove-capture-on-exit',
      ], {});
      ztunnels.push(await startFromConfig(cfg, logger, { admin: { listen: (host, p) => listenInNetns(node.netnsPath, { address: host, port: p }) } }));
    }
    await eventually('both pods enrolled', () => ztunnels.every((z) => z.ztunnel.enrolled().length === 1), 8000);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    if (echoApp !== undefined) await new Promise<void>((r) => echoApp!.close(() => r()));
    for (const z of ztunnels) await z.close().catch(() => undefined);
    await controller?.stop(1000);
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('with the controller gone, old and new connections work on the last good config; a restart resumes', async () => {
    const long = await dial();
    await exchange(long, 'before');
    const versionBefore = ztunnels[1]!.ztunnel.state.version;
    controller!.signal('SIGKILL');
    await controller!.exited;
    controller = undefined;
    await sleep(300);
    await exchange(long, 'during');
    const fresh = await dial();
    await exchange(fresh, 'new during');
    fresh.destroy();
    // A new HBONE session too, not only a new stream on the pooled one.
    ztunnels[0]!.ztunnel.evictHbone(echo.ip);
    const fresher = await dial();
    await exchange(fresher, 'new session during');
    fresher.destroy();
    assert.equal(ztunnels[1]!.ztunnel.state.version, versionBefore, 'the last good config is kept');
    assert.ok(ztunnels.every((z) => z.ztunnel.enrolled().length === 1), 'nothing unenrolled');
    const ready = await fetch(`http://${cluster!.node('node1').ip}:15021/healthz/ready`);
    assert.equal(ready.status, 200, 'still ready without the controller');
    const m = await (await fetch(`http://${cluster!.node('node1').ip}:15020/metrics`)).text();
    assert.ok(metricLines(m, 'istio_xds_connection_terminations_total').length > 0, m);

    controller = await startControllerProcess();
    // The restarted controller's config reaches the ztunnels: a new pod gets enrolled.
    const late = await cluster!.addPod({ namespace: 'shop', name: 'late', node: 'node2', serviceAccount: 'echo' });
    await eventually('the new pod to be enrolled after the restart', () => ztunnels[1]!.ztunnel.enrolled().some((p) => p.ip === late.ip), 10_000);
    await exchange(long, 'after');
    const later = await dial();
    await exchange(later, 'new after');
    later.destroy();
    long.destroy();
  });
});
