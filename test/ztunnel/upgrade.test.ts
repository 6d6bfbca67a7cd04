// A ztunnel upgrade on a node with traffic in flight, with real ztunnel processes
// (ztunnel/main.ts, standalone) sharing a state folder: the new process takes over through
// the hand-off socket while an iperf3 transfer, a WebSocket and a stream of new HTTP
// connections run through the mesh. Once with client and server on the upgraded node (both
// ends of the tunnel hand over), once with the client on another node (its ztunnel's pooled
// HBONE session to the upgraded one gets GOAWAY and moves to the new process). A control
// runs the same traffic through a plain restart and sees it reset. Zero resets: iperf3 runs its full time and exits 0, the
// WebSocket echoes before and after and never closes, every new connection succeeds; new
// connections after the hand-off are served by the new process (its admin and metrics), and
// the old one exits cleanly once its connections are done. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import { res, workloadOf } from './fixtures.ts';
import { standaloneCluster, type StandaloneZtunnel } from './standalone.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const WS_ECHO = fileURLToPath(new URL('../waypoint/ws-echo.ts', import.meta.url));
const WS_HOLD = fileURLToPath(new URL('./ws-hold.ts', import.meta.url));
const IPERF_SECONDS = 10;

/** The last "echo <n>" line a ws-hold process printed. */
function echoes(p: LocalProcess): number {
  const all = [...p.stdout.matchAll(/^echo (\d+)$/gm)];
  return Number(all.at(-1)?.[1] ?? 0);
}

/** The scenario on a cluster of `nodes` nodes, the client on clientNode, the server on node1 (upgraded). */
function upgradeScenario(name: string, nodes: number, clientNode: string): void {
  let cluster: LocalCluster | undefined;
  let dir: string | undefined;
  const procs: LocalProcess[] = [];
  let zt: StandaloneZtunnel;
  let zts: Map<string, StandaloneZtunnel>;
  let [client, server] = [] as unknown as [LocalPod, LocalPod];
  /** The node1 ztunnel serving now. */
  let current: LocalProcess | undefined;

  before(async () => {
    const made = await standaloneCluster(name, { client: ['sleep', clientNode], server: 'server' }, nodes);
    ({ cluster, dir, zt, zts } = made);
    [client, server] = made.pods as [LocalPod, LocalPod];
    procs.push(await startEcho(server));
    const ws = server.spawn([process.execPath, WS_ECHO, 'serve', '--port', '8090'], { env: { POD_NAME: server.name }, label: 'ws-echo' });
    procs.push(ws);
    await ws.waitForLine('ready', 10_000);
    const iperf = server.spawn(['iperf3', '-s', '-1', '--forceflush'], { label: 'iperf3-server' });
    procs.push(iperf);
    await iperf.waitForLine(/Server listening/, 10_000);
    for (const z of zts.values()) await z.config([client, server].map((p) => res.workload(workloadOf(p, { mesh: true }))));
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop(5000);
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('iperf3, a WebSocket and new connections run through an upgrade with zero resets', async (t) => {
    // The CA folder is shared: the first process creates it, the others read it.
    const old = await zt.start();
    procs.push(old);
    for (const [node, z] of zts) if (node !== 'node1') procs.push(await z.start());
    assert.equal((await zt.configDump()).pid, old.pid);
    for (const pod of [client, server]) {
      const migrate = await pod.exec(['cat', '/proc/sys/net/ipv4/tcp_migrate_req']);
      assert.equal(migrate.stdout.trim(), '1', 'queued connections of a closing listener migrate within its SO_REUSEPORT group');
    }

    const ws = client.spawn([process.execPath, WS_HOLD, `ws://${server.ip}:8090/`], { label: 'ws-hold' });
    procs.push(ws);
    await ws.waitForLine('echo 3', 10_000);
    const iperf = client.spawn(['iperf3', '-c', server.ip, '-t', String(IPERF_SECONDS), '-i', '1', '--forceflush'], { label: 'iperf3' });
    procs.push(iperf);
    await iperf.waitForLine(/\] +1\.\d+-2\.\d+ +sec/, 15_000).catch((err: unknown) => {
      throw new Error(`iperf3 did not report its second interval: ${iperf.stdout}`, { cause: err });
    });
    const stopFile = join(dir!, 'stop-loop');
    const loop = client.spawn(['sh', '-c',
      `n=0; while [ ! -e ${stopFile} ]; do curl -sS --max-time 5 -o /dev/null http://${server.ip}:8080/ || { echo "failed after $n"; exit 1; }; n=$((n+1)); echo "ok $n"; done; echo "done $n"`],
    { label: 'curl-loop' });
    procs.push(loop);
    await loop.waitForLine('ok 3', 10_000);

    // The upgrade, mid-transfer.
    const before = echoes(ws);
    const next = await zt.start();
    procs.push(next);
    current = next;
    assert.equal(iperf.exitStatus, undefined, 'the upgrade happened while iperf3 ran');
    const dump = await zt.configDump();
    assert.equal(dump.pid, next.pid, 'the admin port is the new process\'s');
    assert.deepEqual(dump.enrolledPods.map((p) => [p.ip, p.adopted]).sort(), [client, server].filter((p) => p.node === 'node1').map((p) => [p.ip, true]).sort());

    // New connections after the hand-off: served, and by the new process.
    const loopAt = Number(/ok (\d+)\n(?![\s\S]*ok)/.exec(loop.stdout)?.[1] ?? 0);
    await loop.waitForLine(`ok ${loopAt + 5}`, 15_000);
    const r = await client.exec(['curl', '-sS', '--max-time', '5', `http://${server.ip}:8080/proc`]);
    assert.equal(r.code, 0, r.stderr);
    const metrics = await zt.metrics();
    const opened = /istio_tcp_connections_opened_total\{reporter="destination",[^}]*destination_workload="server"[^}]*\} (\d+)/.exec(metrics);
    assert.ok(opened !== null && Number(opened[1]) >= 6, `the new process counted the new connections: ${opened?.[0] ?? 'none'}`);

    // The WebSocket opened before the upgrade goes on echoing.
    await ws.waitForLine(`echo ${before + 10}`, 10_000);
    assert.equal(ws.exitStatus, undefined, `the WebSocket is open: ${ws.stdout.split('\n').filter((l) => !l.startsWith('echo')).join(' ')}`);

    const iperfExit = await iperf.exited;
    assert.equal(iperfExit.code, 0, `iperf3 ran to the end: ${iperf.stdout.slice(-1500)} ${iperf.stderr}`);
    assert.match(iperf.stdout, new RegExp(`0\\.00-${IPERF_SECONDS}\\.\\d+ +sec .* sender`), 'full duration, sender side');
    assert.match(iperf.stdout, new RegExp(`0\\.00-${IPERF_SECONDS}\\.\\d+ +sec .* receiver`), 'full duration, receiver side');

    await writeFile(stopFile, '');
    const loopExit = await loop.exited;
    assert.equal(loopExit.code, 0, `every new connection succeeded: ${loop.stdout.split('\n').slice(-3).join(' ')}`);

    ws.signal('SIGTERM');
    assert.equal((await ws.exited).code, 0, ws.stdout.slice(-500));
    const summary = JSON.parse(ws.stdout.trim().split('\n').at(-1) ?? '{}') as { sent: number; echoed: number; intact: boolean };
    assert.equal(summary.intact, true, 'every echo in order');
    assert.ok(summary.echoed >= before + 10 && summary.sent - summary.echoed <= 1, JSON.stringify(summary));
    const sent = /0\.00-\S+ +sec +(\S+ \S+) +(\S+ \S+) .*sender/.exec(iperf.stdout);
    const sender = sent === null ? '?' : `${sent[1] ?? ''} at ${sent[2] ?? ''}`;
    t.diagnostic(`iperf3 across the upgrade: ${sender}; new HTTP connections: ${/done (\d+)/.exec(loop.stdout)?.[1] ?? '?'}; WebSocket echoes: ${summary.echoed}`);

    // The old process has nothing left to drain: it exits at once when stopped, cleanly.
    const oldExit = await old.stop(10_000);
    assert.equal(oldExit.code, 0, old.stderr);
    assert.match(old.stderr, /"msg":"drained after the hand-off; exiting once stopped"/);
    assert.equal((await zt.configDump()).pid, next.pid);
  });

  // The control: the same traffic through a plain restart (stop, then start) is reset, so the
  // checks above can tell a hand-off from a restart.
  if (nodes === 1) {
    test('control: a plain restart resets the same traffic', async () => {
      assert.ok(current !== undefined, 'the upgrade test left a ztunnel running');
      const iperfServer = server.spawn(['iperf3', '-s', '-1', '-p', '5202', '--forceflush'], { label: 'iperf3-server-2' });
      procs.push(iperfServer);
      await iperfServer.waitForLine(/Server listening/, 10_000);
      const ws = client.spawn([process.execPath, WS_HOLD, `ws://${server.ip}:8090/`], { label: 'ws-hold-2' });
      procs.push(ws);
      await ws.waitForLine('echo 3', 10_000);
      const iperf = client.spawn(['iperf3', '-c', server.ip, '-p', '5202', '-t', String(IPERF_SECONDS), '-i', '1', '--forceflush'], { label: 'iperf3-2' });
      procs.push(iperf);
      await iperf.waitForLine(/\] +1\.\d+-2\.\d+ +sec/, 15_000);
      assert.equal((await current.stop(10_000)).code, 0, current.stderr);
      procs.push(await zt.start());
      assert.notEqual((await iperf.exited).code, 0, 'iperf3 was cut off');
      assert.equal((await ws.exited).code, 1, 'the WebSocket was closed under its client');
      assert.match(ws.stdout, /^closed /m);
    });
  }
}

describe('ztunnel upgrade hand-off, both ends on the upgraded node', { skip }, () => upgradeScenario('upgr', 1, 'node1'));
describe('ztunnel upgrade hand-off, the client on another node', { skip }, () => upgradeScenario('upx', 2, 'node2'));
