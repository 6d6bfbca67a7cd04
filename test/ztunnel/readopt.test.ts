// A ztunnel restart on a node, with a real ztunnel process (ztunnel/main.ts, standalone:
// config from a file, its state folder kept across runs): the pods still in the mesh are
// adopted with their capture rules untouched (packet counters keep counting, one copy of each
// hook), the pod that left the mesh while no ztunnel ran has its rules and route swept, and
// the ledger ends up listing exactly the served pods. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { captureInstalled } from '#ztunnel/capture/index.ts';
import { recordFileName } from '#ztunnel/enroll/node-dir.ts';
import { res, workloadOf } from './fixtures.ts';
import { standaloneCluster, type StandaloneZtunnel } from './standalone.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

/** Packets counted on the nat OUTPUT hook into weft's chain (iptables-save -c). */
async function hookPackets(pod: LocalPod): Promise<{ packets: number; hooks: number }> {
  const r = await pod.exec(['iptables-save', '-c', '-t', 'nat']);
  assert.equal(r.code, 0, r.stderr);
  const hooks = [...r.stdout.matchAll(/^\[(\d+):\d+\] -A OUTPUT -j WEFT_OUTPUT$/gm)];
  return { packets: hooks.reduce((n, m) => n + Number(m[1]), 0), hooks: hooks.length };
}

describe('ztunnel restart: re-adopt and sweep', { skip }, () => {
  let cluster: LocalCluster | undefined;
  let dir: string | undefined;
  const procs: LocalProcess[] = [];
  let zt: StandaloneZtunnel;
  let [client, echo, leaver] = [] as unknown as [LocalPod, LocalPod, LocalPod];

  before(async () => {
    const made = await standaloneCluster('upre', { client: 'sleep', echo: 'echo', leaver: 'leaver' });
    ({ cluster, dir, zt } = made);
    [client, echo, leaver] = made.pods as [LocalPod, LocalPod, LocalPod];
    await Promise.all([startEcho(echo), startEcho(leaver)]);
  });

  after(async () => {
    for (const p of procs) await p.stop(3000);
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const curl = async (to: LocalPod): Promise<EchoReply> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '5', `http://${to.ip}:8080/proc`]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as EchoReply;
  };

  test('pods still meshed are adopted untouched; the one that left while ztunnel was down is swept', async () => {
    await zt.config([client, echo, leaver].map((p) => res.workload(workloadOf(p, { mesh: true }))));
    const first = await zt.start();
    procs.push(first);
    for (const p of [client, echo, leaver]) assert.equal(await captureInstalled(p.netnsPath), true);
    assert.equal((await curl(echo)).remoteAddress, client.ip);
    assert.equal((await curl(leaver)).remoteAddress, client.ip);
    const before = await hookPackets(client);
    assert.ok(before.packets > 0, 'the hook counted the client\'s connections');
    assert.equal(before.hooks, 1);

    const exit = await first.stop(5000);
    assert.equal(exit.code, 0, first.stderr);
    for (const p of [client, echo, leaver]) assert.equal(await captureInstalled(p.netnsPath), true, 'capture stays while no ztunnel runs');
    // The leaver leaves the mesh while no ztunnel runs.
    await zt.config([res.workload(workloadOf(client, { mesh: true })), res.workload(workloadOf(echo, { mesh: true })), res.workload(workloadOf(leaver, { mesh: false }))]);

    const second = await zt.start();
    procs.push(second);
    const dump = await zt.configDump();
    assert.equal(dump.pid, second.pid);
    assert.deepEqual(dump.enrolledPods.map((p) => [p.ip, p.adopted]).sort(), [[client.ip, true], [echo.ip, true]].sort());
    assert.equal(dump.sweptCaptures, 1);
    assert.equal(await captureInstalled(leaver.netnsPath), false);
    const leaverRules = await leaver.exec(['iptables-save']);
    assert.doesNotMatch(leaverRules.stdout, /WEFT_/, 'no weft chain or hook left in the departed pod');
    assert.doesNotMatch((await leaver.exec(['ip', 'rule', 'show'])).stdout, /fwmark 0x111/);
    const after_ = await hookPackets(client);
    assert.equal(after_.hooks, 1, 'one hook, not a second copy');
    assert.ok(after_.packets >= before.packets, `counters kept (rules not re-created): ${before.packets} → ${after_.packets}`);
    assert.deepEqual((await readdir(join(zt.stateDir, 'captured'))).sort(), [client.uid, echo.uid].map(recordFileName).sort());

    // The adopted pods keep working through the mesh; the departed one is reached as a plain pod.
    assert.equal((await curl(echo)).remoteAddress, client.ip);
    assert.match(await zt.metrics(), /istio_tcp_connections_opened_total\{reporter="destination",[^}]*destination_workload="echo"[^}]*connection_security_policy="mutual_tls"[^}]*\} 1/);
    assert.equal((await curl(leaver)).remoteAddress, client.ip);
    assert.equal((await second.stop(5000)).code, 0, second.stderr);
  });
});
