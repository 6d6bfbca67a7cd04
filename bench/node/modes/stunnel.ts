// `stunnel`: Debian's stunnel4 as the C reference for a TLS tunnel — a client-side stunnel in
// the client pod (the tools connect to it on loopback) and a server-side one in the server pod
// in front of iperf3 and the echo app, mutual TLS 1.3 with AES-GCM, certificates from a test
// mesh CA with SPIFFE identities, as HBONE uses.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { renderStunnelConfig } from './stunnel-config.ts';
import { startTunnel, tunnelPair } from './tunnel-pair.ts';

// stunnel logs to stderr in the foreground; folded into stdout so readiness can be awaited.
const startStunnel = (pod: LocalPod, configFile: string, label: string): Promise<LocalProcess> =>
  startTunnel(pod, ['sh', '-c', `exec stunnel ${configFile} 2>&1`], /Configuration successful/, label);

export const stunnelMode: NodeBenchMode = {
  name: 'stunnel',
  description: 'stunnel4 in each pod, mutual TLS 1.3 AES-GCM (C reference)',
  setup: async (scene) => {
    const pair = await tunnelPair(scene);
    const serverConf = join(scene.workDir, 'stunnel-server.conf');
    const clientConf = join(scene.workDir, 'stunnel-client.conf');
    await writeFile(serverConf, renderStunnelConfig({ client: false, ...pair.server }));
    await writeFile(clientConf, renderStunnelConfig({ client: true, ...pair.client }));
    const server = await startStunnel(scene.server, serverConf, 'stunnel-server');
    let client: LocalProcess;
    try {
      client = await startStunnel(scene.client, clientConf, 'stunnel-client');
    } catch (err) {
      await server.stop();
      throw err;
    }
    return {
      targets: pair.targets,
      proxies: [{ label: 'stunnel-client', pid: client.pid }, { label: 'stunnel-server', pid: server.pid }],
      teardown: async () => {
        await Promise.all([client.stop(), server.stop()]);
      },
    };
  },
};
