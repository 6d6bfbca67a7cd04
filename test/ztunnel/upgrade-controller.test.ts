// A ztunnel upgrade the way the chart runs ztunnel: config and certificates from the controller
// (push over WebSocket, CA over HTTPS with a token), new pods from the node folder, a state
// folder per node. On the embedded cluster (LocalMesh with ztunnelStateDirs), each node's
// ztunnel in turn is upgraded as a surge rollout does it (LocalMesh.upgradeZtunnel: the new
// process starts beside the old, takes over through the hand-off socket, the old one gets
// SIGTERM and drains) while an iperf3 transfer, a WebSocket and a stream of new connections
// cross the two nodes. Zero resets: iperf3 runs its full time, the WebSocket never closes,
// every new connection succeeds; the old processes exit 0 once drained; a pod created after
// the upgrade is enrolled by the new process. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const WS_ECHO = fileURLToPath(new URL('../waypoint/ws-echo.ts', import.meta.url));
const WS_HOLD = fileURLToPath(new URL('./ws-hold.ts', import.meta.url));
// Inside the old process's drain time (--drain-ms, 25 s by default, within the chart's
// terminationGracePeriodSeconds): what it still carries when that ends is closed.
const IPERF_SECONDS = 12;

describe('ztunnel upgrade hand-off with config from the controller', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let server: LocalPod;
  const procs: LocalProcess[] = [];
  const stopFile = join(tmpdir(), `weft-upctl-stop-${process.pid}`);

  before(async () => {
    mesh = await LocalMesh.start({ name: 'upctl', nodes: 2, ztunnelStateDirs: true, logLevel: 'info' });
    await mesh.enrollNamespace('apps');
    client = await mesh.cluster.addPod({ namespace: 'apps', name: 'client', node: 'node1', serviceAccount: 'sleep' });
    server = await mesh.cluster.addPod({ namespace: 'apps', name: 'server', node: 'node2', serviceAccount: 'server' });
    await Promise.all([mesh.waitForEnrollment(client), mesh.waitForEnrollment(server)]);
    procs.push(await startEcho(server));
    const ws = server.spawn([process.execPath, WS_ECHO, 'serve', '--port', '8090'], { env: { POD_NAME: server.name }, label: 'ws-echo' });
    procs.push(ws);
    await ws.waitForLine('ready', 10_000);
    const iperf = server.spawn(['iperf3', '-s', '-1', '--forceflush'], { label: 'iperf3-server' });
    procs.push(iperf);
    await iperf.waitForLine(/Server listening/, 10_000);
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop(5000);
    await mesh?.stop();
    await rm(stopFile, { force: true });
  });

  test('both nodes upgraded in turn under iperf3, a WebSocket and new connections: zero resets', async (t) => {
    assert.ok(mesh !== undefined);
    // Traffic through the mesh, not around it: the server's ztunnel counts the client's connection.
    const probe = await client.exec(['curl', '-sS', '--max-time', '5', `http://${server.ip}:8080/`]);
    assert.equal(probe.code, 0, probe.stderr);
    const ws = client.spawn([process.execPath, WS_HOLD, `ws://${server.ip}:8090/`], { label: 'ws-hold' });
    procs.push(ws);
    await ws.waitForLine('echo 3', 10_000);
    const iperf = client.spawn(['iperf3', '-c', server.ip, '-t', String(IPERF_SECONDS), '-i', '1', '--forceflush'], { label: 'iperf3' });
    procs.push(iperf);
    await iperf.waitForLine(/\] +1\.\d+-2\.\d+ +sec/, 15_000).catch((err: unknown) => {
      throw new Error(`iperf3 did not report its second interval: ${iperf.stdout}`, { cause: err });
    });
    const loop = client.spawn(['sh', '-c',
      `n=0; while [ ! -e ${stopFile} ]; do curl -sS --max-time 5 -o /dev/null http://${server.ip}:8080/ || { echo "failed after $n"; exit 1; }; n=$((n+1)); echo "ok $n"; done; echo "done $n"`],
    { label: 'curl-loop' });
    procs.push(loop);
    await loop.waitForLine('ok 3', 10_000);

    const predecessors: LocalProcess[] = [];
    for (const node of ['node2', 'node1']) {
      const { handle, predecessor } = await mesh.upgradeZtunnel(node);
      predecessors.push(predecessor);
      procs.push(handle.process);
      assert.equal(iperf.exitStatus, undefined, `the upgrade of ${node} happened while iperf3 ran`);
      const dump = await mesh.configDump(node) as { pid?: number };
      assert.equal(dump.pid, handle.process.pid, `${node}'s admin port is the new process's`);
      const at = Number(/ok (\d+)\n(?![\s\S]*ok)/.exec(loop.stdout)?.[1] ?? 0);
      await loop.waitForLine(`ok ${at + 5}`, 15_000);
    }

    const echoed = Number([...ws.stdout.matchAll(/^echo (\d+)$/gm)].at(-1)?.[1] ?? 0);
    await ws.waitForLine(`echo ${echoed + 5}`, 10_000);
    const iperfExit = await iperf.exited;
    assert.equal(iperfExit.code, 0, `iperf3 ran to the end: ${iperf.stdout.slice(-1500)} ${iperf.stderr}`);
    assert.match(iperf.stdout, new RegExp(`0\\.00-${IPERF_SECONDS}\\.\\d+ +sec .* receiver`), 'full duration, receiver side');
    await writeFile(stopFile, '');
    const loopExit = await loop.exited;
    assert.equal(loopExit.code, 0, `every new connection succeeded: ${loop.stdout.split('\n').slice(-3).join(' ')}`);
    ws.signal('SIGTERM');
    assert.equal((await ws.exited).code, 0, `the WebSocket stayed open: ${ws.stdout.slice(-500)}`);

    // The old processes drained what they carried and exited cleanly on their SIGTERM. Old and
    // new subscribe to the controller as the same client: the old one stepped aside, so neither
    // was ever replaced by the other.
    for (const old of predecessors) {
      assert.equal((await old.exited).code, 0, old.stderr.slice(-2000));
      assert.match(old.stderr, /"msg":"drained after the hand-off; exiting once stopped"/);
    }
    for (const p of [...predecessors, ...mesh.ztunnels.map((z) => z.process)]) {
      assert.doesNotMatch(p.stderr, /WEFT_ERR_PUSH_REPLACED/, `${p.label} fought over the controller stream`);
    }

    // The new processes own the node folder: a pod created now is enrolled and reached.
    const late = await mesh.cluster.addPod({ namespace: 'apps', name: 'late', node: 'node1', serviceAccount: 'sleep' });
    await mesh.waitForEnrollment(late);
    const r = await late.exec(['curl', '-sS', '--max-time', '5', `http://${server.ip}:8080/`]);
    assert.equal(r.code, 0, r.stderr);
    t.diagnostic(`new HTTP connections across two upgrades: ${/done (\d+)/.exec(loop.stdout)?.[1] ?? '?'}`);
  });
});
