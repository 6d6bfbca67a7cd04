// `node-tls`: the stunnel mode's layout with bench/node/node-tls-tunnel.ts in place of stunnel
// — a bare mutual-TLS 1.3 pipe in Node.js (stream.pipe, no tuning), same suites, certificates
// and ports: what a figure costs in the runtime weft runs on before any of weft's own code.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { startTunnel, tunnelPair } from './tunnel-pair.ts';

const TUNNEL = fileURLToPath(new URL('../node-tls-tunnel.ts', import.meta.url));

async function startNodeTunnel(pod: LocalPod, config: object, file: string, label: string): Promise<LocalProcess> {
  await writeFile(file, JSON.stringify(config));
  return startTunnel(pod, [process.execPath, TUNNEL, file], 'ready', label);
}

export const nodeTlsMode: NodeBenchMode = {
  name: 'node-tls',
  description: 'a bare Node.js mutual-TLS 1.3 pipe in each pod (stream.pipe, no tuning)',
  setup: async (scene) => {
    const pair = await tunnelPair(scene);
    const server = await startNodeTunnel(scene.server, { client: false, ...pair.server }, join(scene.workDir, 'node-tls-server.json'), 'node-tls-server');
    let client: LocalProcess;
    try {
      client = await startNodeTunnel(scene.client, { client: true, ...pair.client }, join(scene.workDir, 'node-tls-client.json'), 'node-tls-client');
    } catch (err) {
      await server.stop();
      throw err;
    }
    return {
      targets: pair.targets,
      proxies: [{ label: 'node-tls-client', pid: client.pid }, { label: 'node-tls-server', pid: server.pid }],
      teardown: async () => {
        await Promise.all([client.stop(), server.stop()]);
      },
    };
  },
};
