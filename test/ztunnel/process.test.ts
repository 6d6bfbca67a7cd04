// ztunnel as its own process (ztunnel/main.ts) in a node's namespace, standalone: config
// from a local file, certificates from a local CA. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { captureInstalled } from '#ztunnel/capture/index.ts';
import { res, serviceOf, workloadOf } from './fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const MAIN = fileURLToPath(new URL('../../ztunnel/main.ts', import.meta.url));

describe('ztunnel process, standalone', { skip }, () => {
  let cluster: LocalCluster | undefined;
  let dir: string | undefined;
  let proc: LocalProcess | undefined;
  let client: LocalPod;
  let echo: LocalPod;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-zt-proc-'));
    cluster = await LocalCluster.start({ name: 'ztproc', nodes: 1 });
    [client, echo] = await Promise.all([
      cluster.addPod({ namespace: 'default', name: 'client', node: 'node1', serviceAccount: 'sleep' }),
      cluster.addPod({ namespace: 'default', name: 'echo', node: 'node1', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    const svc = await cluster.addService({ namespace: 'default', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] });
    await startEcho(echo);
    const file = join(dir, 'mesh.json');
    await writeFile(file, JSON.stringify({
      resources: [res.workload(workloadOf(client, { mesh: true })), res.workload(workloadOf(echo, { mesh: true, services: [svc] })), res.service(serviceOf(svc))],
    }));
    const node = cluster.node('node1');
    proc = node.spawn([process.execPath, MAIN, '--node', 'node1', '--config-file', file, '--ca-dir', join(dir, 'ca'), '--admin-host', node.ip, '--remove-capture-on-exit', '--log-level', 'warn'], { label: 'ztunnel', echo: process.env['WEFT_TEST_LOG'] === '1' });
    await proc.waitForLine('ready', 15_000);
  });

  after(async () => {
    await proc?.stop(3000);
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('enrolls, tunnels pod traffic, reports ready, and removes capture on SIGTERM', async () => {
    const node = cluster!.node('node1');
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await fetch(`http://${node.ip}:15021/healthz/ready`).catch(() => undefined))?.status ?? 0;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'ready');
    const r = await client.exec(['curl', '-sS', '--max-time', '3', `http://${echo.ip}:8080/proc`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as EchoReply).remoteAddress, client.ip);
    const metrics = await (await fetch(`http://${node.ip}:15020/metrics`)).text();
    assert.match(metrics, /istio_tcp_connections_opened_total\{reporter="source",source_workload="client".*connection_security_policy="mutual_tls"\} 1/);
    const dump = await node.exec(['curl', '-sS', 'http://127.0.0.1:15000/config_dump']);
    const parsed = JSON.parse(dump.stdout) as { enrolledPods: { ip: string }[]; certificates: { identity: string; state: string }[] };
    assert.deepEqual(parsed.enrolledPods.map((p) => p.ip).sort(), [client.ip, echo.ip].sort());
    assert.ok(parsed.certificates.some((c) => c.identity.endsWith('/sa/echo') && c.state === 'ready'));
    assert.equal(await captureInstalled(client.netnsPath), true);
    const exit = await proc!.stop(3000);
    assert.equal(exit.code, 0, proc!.stderr);
    assert.equal(await captureInstalled(client.netnsPath), false, 'capture removed on exit when asked');
  });
});
