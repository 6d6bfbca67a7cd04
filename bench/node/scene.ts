// The fixed part of every node benchmark run: a client pod on node1, a server pod on node2
// running `iperf3 -s` and the echo app (HTTP and plain TCP echo), and a scratch folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalCluster } from '#local/cluster.ts';
import { ECHO_HTTP_PORT, ECHO_TCP_PORT, startEcho } from '#local/echo.ts';
import type { LocalProcess } from '#local/process.ts';
import type { Scene } from '#bench/node/mode.ts';

export const IPERF_PORT = 5201;
export const BENCH_NAMESPACE = 'bench';

export async function createScene(cluster: LocalCluster): Promise<{ scene: Scene; close(): Promise<void> }> {
  const workDir = await mkdtemp(join(tmpdir(), 'weft-node-bench-'));
  const procs: LocalProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const [client, server] = await Promise.all([
      cluster.addPod({ namespace: BENCH_NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }),
      cluster.addPod({ namespace: BENCH_NAMESPACE, name: 'server', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } }),
    ]);
    const iperf = server.spawn(['iperf3', '-s', '-p', String(IPERF_PORT), '--forceflush'], { label: 'iperf3-server' });
    procs.push(iperf);
    await iperf.waitForLine(/Server listening/, 10_000);
    procs.push(await startEcho(server));
    return {
      scene: {
        cluster, client, server, workDir,
        backends: {
          iperf: { host: server.ip, port: IPERF_PORT }, http: { host: server.ip, port: ECHO_HTTP_PORT }, tcp: { host: server.ip, port: ECHO_TCP_PORT },
        },
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
