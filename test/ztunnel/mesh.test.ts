// End-to-end: two ztunnels (in-process, one per node of the embedded cluster) carrying pod
// traffic over HBONE, with capture in the pods' namespaces. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPki } from '#core/ca/testing.ts';
import type { Authorization, Resource } from '#core/config/model.ts';
import { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { LocalService } from '#local/service.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { connectInNetns, listenInNetns } from '#ztunnel/native/index.ts';
import { HboneServer } from '#core/hbone/server.ts';
import type { Ztunnel } from '#ztunnel/ztunnel.ts';
import { captureInstalled } from '#ztunnel/capture/index.ts';
import { pkiCertificates, res, serviceOf, startNodeZtunnel, workloadOf } from './fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const logger = new Logger({ level: process.env['WEFT_TEST_LOG'] === '1' ? 'debug' : 'off' });

const emptyMatch = {
  namespaces: [], notNamespaces: [], principals: [], notPrincipals: [], serviceAccounts: [], notServiceAccounts: [],
  sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [], destinationPorts: [], notDestinationPorts: [],
};

async function curl(from: LocalPod, url: string, timeoutS = 3): Promise<{ code: number; body: string; stderr: string }> {
  const r = await from.exec(['curl', '-sS', '--max-time', String(timeoutS), url]);
  return { code: r.code ?? -1, body: r.stdout, stderr: r.stderr };
}

async function curlJson(from: LocalPod, url: string): Promise<EchoReply> {
  const r = await curl(from, url);
  assert.equal(r.code, 0, `curl ${url} from ${from.name}: ${r.stderr}`);
  return JSON.parse(r.body) as EchoReply;
}

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ztunnel mesh on the embedded cluster', { skip }, () => {
  let cluster: LocalCluster | undefined;
  let client: LocalPod;
  let echo: LocalPod;
  let outsider: LocalPod;
  let svc: LocalService;
  const ztunnels: Ztunnel[] = [];
  let baseConfig: Resource[] = [];
  let version = 1;
  let tmp: string | undefined;
  let certs: ReturnType<typeof pkiCertificates>;
  const accessLog: string[] = [];

  const push = (extra: Resource[]): void => {
    const update = { snapshot: true, version: version++, updated: [...baseConfig, ...extra], removed: [] };
    for (const z of ztunnels) assert.deepEqual(z.apply(update).rejected, []);
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'weft-zt-e2e-'));
    cluster = await LocalCluster.start({ name: 'zte2e', nodes: 2 });
    [client, echo, outsider] = await Promise.all([
      cluster.addPod({ namespace: 'default', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'default', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
      cluster.addPod({ namespace: 'default', name: 'outsider', node: 'node1' }),
    ]);
    svc = await cluster.addService({ namespace: 'default', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }, { port: 9000, targetPort: 9000, name: 'tcp' }] });
    await Promise.all([startEcho(echo), startEcho(outsider)]);
    const pki = await testPki();
    certs = pkiCertificates(pki);
    for (const node of cluster.nodes) ztunnels.push(await startNodeZtunnel(node, certs, logger, accessLog));
    baseConfig = [
      res.workload(workloadOf(client, { mesh: true })),
      res.workload(workloadOf(echo, { mesh: true, services: [svc] })),
      res.workload(workloadOf(outsider, { mesh: false })),
      res.service(serviceOf(svc)),
    ];
    push([]);
    for (const z of ztunnels) await z.settled();
  });

  after(async () => {
    for (const z of ztunnels) await z.close({ removeCapture: true }).catch(() => undefined);
    await cluster?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  test('enrolls the mesh pods of each node and reports ready', async () => {
    const [z1, z2] = ztunnels as [Ztunnel, Ztunnel];
    assert.deepEqual(z1.enrolled().map((p) => p.ip), [client.ip]);
    assert.deepEqual(z2.enrolled().map((p) => p.ip), [echo.ip]);
    assert.equal(await captureInstalled(client.netnsPath), true);
    assert.equal(await captureInstalled(outsider.netnsPath), false);
    const node1 = cluster!.node('node1');
    await eventually('readiness', async () => (await fetch(`http://${node1.ip}:15021/healthz/ready`).catch(() => undefined))?.status === 200);
  });

  test('a pod reaches the echo service through the tunnel, and the echo sees its pod IP', async () => {
    const viaVip = await curlJson(client, `http://${svc.vip}/hello`);
    assert.equal(viaVip.remoteAddress, client.ip);
    assert.equal(viaVip.pod, 'echo');
    const viaPod = await curlJson(client, `http://${echo.ip}:8080/direct`);
    assert.equal(viaPod.remoteAddress, client.ip);
  });

  test('the underlay carries TLS only: no plaintext marker on the wire', async () => {
    const pcap = join(tmp!, 'underlay.pcap');
    // Everything leaving the client pod crosses node1 (its veth, then the underlay link).
    const dump: LocalProcess = cluster!.node('node1').spawn(['tcpdump', '-Z', 'root', '--immediate-mode', '-U', '-n', '-i', 'any', '-w', pcap, 'tcp'], { label: 'tcpdump' });
    try {
      await eventually('tcpdump to listen', () => dump.stderr.includes('listening on'));
      const marker = `weft-marker-${Math.random().toString(36).slice(2)}`;
      const r = await curlJson(client, `http://${svc.vip}/${marker}`);
      assert.equal(r.path, `/${marker}`, 'the marker did reach the app');
      await new Promise((res) => setTimeout(res, 300));
    } finally {
      dump.signal('SIGINT');
      await dump.exited;
    }
    const bytes = await readFile(pcap);
    assert.ok(bytes.length > 200, `tcpdump captured packets: ${dump.stderr}`);
    assert.equal(bytes.includes(Buffer.from('weft-marker-')), false, 'plaintext payload seen on the underlay');
    assert.ok(bytes.includes(Buffer.from([Ports.hbone >> 8, Ports.hbone & 0xff])), 'port 15008 traffic captured');
  });

  test('metrics on both sides carry Istio labels with the destination service', async () => {
    const node1 = cluster!.node('node1');
    const node2 = cluster!.node('node2');
    await curlJson(client, `http://${svc.vip}/`);
    const m1 = await (await fetch(`http://${node1.ip}:15020/metrics`)).text();
    const src = m1.split('\n').find((l) => l.startsWith('istio_tcp_connections_opened_total{reporter="source"') && l.includes('source_workload="client"'));
    assert.ok(src, m1);
    assert.match(src, /destination_service="echo\.default\.svc\.cluster\.local"/);
    assert.match(src, /destination_workload="echo"/);
    assert.match(src, /source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep"/);
    assert.match(src, /connection_security_policy="mutual_tls"/);
    assert.match(m1, /istio_build\{component="ztunnel",tag="[^"]+"\} 1/);
    assert.match(m1, /weft_ztunnel_enrolled_pods 1/);
    await eventually('inbound close metric', async () => {
      const m2 = await (await fetch(`http://${node2.ip}:15020/stats/prometheus`)).text();
      return m2.split('\n').some((l) => l.startsWith('istio_tcp_connections_closed_total{reporter="destination"') && l.includes('source_workload="client"')
        && l.includes('destination_service="echo.default.svc.cluster.local"'));
    });
  });

  test('non-mesh destinations: direct TCP to a pod outside the mesh, passthrough to an unknown address', async () => {
    const direct = await curlJson(client, `http://${outsider.ip}:8080/direct`);
    assert.equal(direct.remoteAddress, client.ip);
    const outside = http.createServer((req, res) => res.end(JSON.stringify({ from: req.socket.remoteAddress })));
    await new Promise<void>((r) => outside.listen(0, cluster!.hostIp, () => r()));
    try {
      const port = (outside.address() as net.AddressInfo).port;
      const r = await curl(client, `http://${cluster!.hostIp}:${port}/`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.body), { from: client.ip });
    } finally {
      outside.closeAllConnections();
      outside.close();
    }
    const m1 = await (await fetch(`http://${cluster!.node('node1').ip}:15020/metrics`)).text();
    assert.ok(m1.split('\n').some((l) => l.startsWith('istio_tcp_connections_opened_total{reporter="source",source_workload="client"')
      && l.includes('destination_workload="outsider"') && l.includes('connection_security_policy="none"')), 'direct TCP counted without mTLS');
  });

  test('a blocked port 15008 fails with a NetworkPolicy hint, counted and logged', async () => {
    const rule = ['INPUT', '-p', 'tcp', '--dport', String(Ports.hbone), '-j', 'DROP'];
    await echo.exec(['iptables', '-I', ...rule]);
    // A pooled session would carry the request without a new TCP connect to 15008.
    ztunnels[0]!.evictHbone(echo.ip);
    try {
      const r = await curl(client, `http://${echo.ip}:8080/blocked`, 4);
      assert.notEqual(r.code, 0);
      await eventually('the access log line', async () => {
        ztunnels.forEach((z) => z.flushAccessLog());
        return accessLog.some((l) => l.includes(`"${echo.ip}:8080"`) && l.includes('NetworkPolicy'));
      });
      const line = JSON.parse(accessLog.find((l) => l.includes('NetworkPolicy')) ?? '{}') as Record<string, unknown>;
      assert.equal(line['direction'], 'outbound');
      assert.equal(line['responseFlags'], 'CONNECT');
      assert.match(String(line['error']), /15008/);
      const m1 = await (await fetch(`http://${cluster!.node('node1').ip}:15020/metrics`)).text();
      assert.ok(m1.split('\n').some((l) => l.startsWith('istio_tcp_connections_failed_total{reporter="source",source_workload="client"') && l.includes('response_flags="CONNECT"')));
    } finally {
      await echo.exec(['iptables', '-D', ...rule]);
      ztunnels[0]!.evictHbone(echo.ip);
    }
    await curlJson(client, `http://${echo.ip}:8080/unblocked`);
  });

  test('PERMISSIVE lets a non-mesh client in; STRICT refuses it', async () => {
    const plain = await curlJson(outsider, `http://${echo.ip}:8080/plain`);
    assert.equal(plain.remoteAddress, outsider.ip);
    const strict: Authorization = {
      name: 'strict', namespace: 'default', scope: 'NAMESPACE', action: 'DENY', dryRun: false,
      rules: [{ clauses: [{ matches: [{ ...emptyMatch, notPrincipals: [{ presence: true }] }] }] }],
    };
    push([res.authorization(strict)]);
    try {
      const refused = await curl(outsider, `http://${echo.ip}:8080/plain`, 2);
      assert.notEqual(refused.code, 0, 'plaintext must be refused under STRICT');
      const mesh = await curlJson(client, `http://${echo.ip}:8080/mesh`);
      assert.equal(mesh.remoteAddress, client.ip, 'mesh traffic still flows under STRICT');
    } finally {
      push([]);
    }
  });

  test('a DENY policy blocks new connections and closes an open one', async () => {
    // A long-lived TCP connection from inside the client pod (unmarked, so it is captured).
    const sock: net.Socket = await connectInNetns(client.netnsPath, { host: svc.vip, port: 9000, timeoutMs: 3000 });
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    const echoed = new Promise<string>((r) => sock.once('data', (b: Buffer) => r(b.toString())));
    sock.write('ping');
    assert.equal(await echoed, 'ping');

    const deny: Authorization = {
      name: 'deny-sleep', namespace: 'default', scope: 'NAMESPACE', action: 'DENY', dryRun: false,
      rules: [{ clauses: [{ matches: [{ ...emptyMatch, principals: [{ suffix: '/sa/sleep' }] }] }] }],
    };
    push([res.authorization(deny)]);
    try {
      await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('open connection was not closed')), 3000))]);
      const blocked = await curl(client, `http://${svc.vip}/`, 2);
      assert.notEqual(blocked.code, 0, 'new connection must be denied');
      const m2 = await (await fetch(`http://${cluster!.node('node2').ip}:15020/metrics`)).text();
      assert.ok(m2.split('\n').some((l) => l.startsWith('istio_tcp_connections_failed_total{reporter="destination"') && l.includes('response_flags="DENY"')
        && l.includes('source_principal="spiffe://cluster.local/ns/default/sa/sleep"')), 'denied tunnel counted as failed with DENY');
      const plain = await curlJson(outsider, `http://${echo.ip}:8080/`);
      assert.equal(plain.remoteAddress, outsider.ip, 'the policy only names the sleep service account');
    } finally {
      sock.destroy();
      push([]);
    }
    const again = await curlJson(client, `http://${svc.vip}/`);
    assert.equal(again.remoteAddress, client.ip, 'allowed again once the policy is gone');
  });

  test('a service with a waypoint is reached through it, with the VIP as authority', async () => {
    const wpPod = await cluster!.addPod({ namespace: 'default', name: 'waypoint', node: 'node2', serviceAccount: 'waypoint' });
    const wpIdentity = 'spiffe://cluster.local/ns/default/sa/waypoint';
    const seen: { authority: string; peer: string }[] = [];
    // A stand-in waypoint: terminates HBONE and forwards as plain TCP from its own pod.
    const wp = new HboneServer({
      trustDomain: 'cluster.local',
      certificateFor: () => certs.get(wpIdentity),
      connectUpstream: async (target, ctx) => {
        seen.push({ authority: `${target.host}:${target.port}`, peer: ctx.peerIdentity });
        return connectInNetns(wpPod.netnsPath, { host: target.host, port: target.port, timeoutMs: 3000 });
      },
    });
    const listener = await listenInNetns(wpPod.netnsPath, { address: '0.0.0.0', port: Ports.hbone });
    listener.on('connection', (sock: net.Socket) => wp.handleConnection(sock));
    const withWaypoint = { ...serviceOf(svc), waypoint: { address: wpPod.ip, hbonePort: Ports.hbone, identity: wpIdentity } };
    push([res.workload(workloadOf(wpPod, { mesh: false })), res.service(withWaypoint)]);
    try {
      const r = await curlJson(client, `http://${svc.vip}/via-waypoint`);
      assert.equal(r.remoteAddress, wpPod.ip, 'the app is reached from the waypoint');
      assert.deepEqual(seen, [{ authority: `${svc.vip}:80`, peer: 'spiffe://cluster.local/ns/default/sa/sleep' }]);
      const direct = await curlJson(client, `http://${echo.ip}:8080/`);
      assert.equal(direct.remoteAddress, client.ip, 'a pod IP skips the service waypoint');
    } finally {
      push([]);
      await new Promise<void>((r) => listener.close(() => r()));
      await wp.close(0);
    }
  });

  test('a restarted ztunnel adopts captured pods without duplicating rules', async () => {
    const rules = async (): Promise<number> => (await client.exec(['iptables-save'])).stdout.split('\n').filter((l) => l.includes('WEFT_')).length;
    const before = await rules();
    assert.ok(before > 0);
    await ztunnels[0]!.close();
    assert.equal(await captureInstalled(client.netnsPath), true, 'capture stays while ztunnel restarts');
    ztunnels[0] = await startNodeZtunnel(cluster!.node('node1'), certs, logger, accessLog);
    push([]);
    await ztunnels[0].settled();
    assert.deepEqual(ztunnels[0].enrolled().map((p) => [p.ip, p.adopted]), [[client.ip, true]]);
    assert.equal(await rules(), before);
    const r = await curlJson(client, `http://${svc.vip}/after-restart`);
    assert.equal(r.remoteAddress, client.ip);
  });

  test('a pod leaving the mesh is unenrolled and its capture removed', async () => {
    baseConfig = baseConfig.map((r) => (r.kind === 'workload' && r.value.uid === client.uid ? res.workload(workloadOf(client, { mesh: false })) : r));
    push([]);
    await ztunnels[0]!.settled();
    assert.deepEqual(ztunnels[0]!.enrolled(), []);
    assert.equal(await captureInstalled(client.netnsPath), false);
  });
});
