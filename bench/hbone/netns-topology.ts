// Where the two ends of the HBONE benchmark run. The netns topology starts an embedded
// cluster: the servers run in a pod on node2 (their own process, under `ip netns exec`) and
// the client opens its sockets inside a pod on node1, so traffic crosses both pods' veths,
// both nodes and the underlay bridge.
import type { WorkloadCertificate } from '#core/certs/types.ts';
import type { Dialer } from '#core/hbone/dial.ts';
import type { HboneTuning } from '#core/hbone/settings.ts';
import { LocalCluster } from '#local/cluster.ts';
import { connectInNetns } from '#ztunnel/native/index.ts';
import { startServerProcess, type Endpoints } from '#bench/hbone/server-process.ts';

export interface Topology {
  /** Address the servers listen on, as the client dials it. */
  host: string;
  /** Opens the client's TCP connections. */
  dial: Dialer;
  startEndpoints(cert: WorkloadCertificate, tuning?: Partial<HboneTuning>): Promise<Endpoints>;
  describe: string;
  stop(): Promise<void>;
}

export async function startNetnsTopology(name = 'hbbench'): Promise<Topology> {
  const cluster = await LocalCluster.start({ name, nodes: 2 });
  cluster.installSignalHandlers();
  try {
    const [client, server] = await Promise.all([
      cluster.addPod({ namespace: 'bench', name: 'client', node: 'node1', serviceAccount: 'client' }),
      cluster.addPod({ namespace: 'bench', name: 'server', node: 'node2', serviceAccount: 'server' }),
    ]);
    const clientNetns = client.netnsPath;
    const running = new Set<Endpoints>();
    return {
      host: server.ip,
      dial: async (host, port) => {
        const s = await connectInNetns(clientNetns, { host, port });
        s.setNoDelay(true);
        return s;
      },
      startEndpoints: async (cert, tuning) => {
        const ep = await startServerProcess({ cert, host: server.ip, tuning, prefix: ['ip', 'netns', 'exec', server.netns] });
        running.add(ep);
        return { ports: ep.ports, stop: async () => { running.delete(ep); await ep.stop(); } };
      },
      describe: `client in pod ${client.ip} on node1, servers in pod ${server.ip} on node2`,
      stop: async () => {
        for (const ep of running) await ep.stop();
        await cluster.stop();
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
