// `weft`: the mesh itself. The mesh launcher (LocalMesh) owns the cluster, so this mode brings
// its own; the scene's pods (namespace `bench`) are enrolled by labelling the namespace, and
// the client tools dial the server pod's own address: capture is transparent, so the targets
// are the backends unchanged and the proxies are the two ztunnel processes.
// WEFT_ZTUNNEL_NODE_OPTIONS (whitespace-separated) passes extra node flags to the ztunnels,
// e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where their time goes.
import { LocalMesh } from '#local/mesh.ts';
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { BENCH_NAMESPACE } from '#bench/node/scene.ts';

/** Extra node flags for the ztunnel processes, from the environment. */
export function ztunnelNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env['WEFT_ZTUNNEL_NODE_OPTIONS'] ?? '').split(/\s+/).filter((a) => a !== '');
}

export function createWeftMode(): NodeBenchMode {
  let mesh: LocalMesh | undefined;
  return {
    name: 'weft',
    description: 'weft ztunnel on each node, HBONE (mutual TLS 1.3 + HTTP/2 CONNECT) between them',
    startCluster: async (name) => {
      const started = await LocalMesh.start({ name, nodes: 2, nodeArgs: ztunnelNodeArgs() });
      started.installSignalHandlers();
      mesh = started;
      return { cluster: started.cluster, stop: () => started.stop() };
    },
    setup: async (scene) => {
      if (mesh === undefined) throw new Error('weft mode: setup before startCluster');
      const m = mesh;
      await m.enrollNamespace(BENCH_NAMESPACE);
      await Promise.all([m.waitForEnrollment(scene.client), m.waitForEnrollment(scene.server)]);
      return {
        targets: scene.backends,
        proxies: m.ztunnels.map((z) => ({ label: `ztunnel-${z.node.name}`, pid: z.process.pid })),
        teardown: async () => {
          await m.enrollNamespace(BENCH_NAMESPACE, false);
        },
      };
    },
  };
}

export const weftMode: NodeBenchMode = createWeftMode();
