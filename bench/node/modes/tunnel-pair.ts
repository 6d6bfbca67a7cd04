// What the two TLS tunnel reference modes (stunnel, node-tls) share: a server-side instance in
// the server pod in front of each backend, a client-side one in the client pod that the tools
// dial on loopback, one service per tunnelled port, and SPIFFE certificates from a test mesh CA
// written to the mode's folder.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testPki } from '#core/ca/testing.ts';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { Scene, Targets } from '#bench/node/mode.ts';

const TLS_PORTS = { iperf: 15443, http: 15444, tcp: 15445 } as const;
const LOCAL_PORTS = { iperf: 15001, http: 15002, tcp: 15003 } as const;

export interface TunnelService {
  name: string;
  /** `ip:port` the instance listens on. */
  accept: string;
  /** `ip:port` it forwards to. */
  connect: string;
}

export interface TunnelIdentity {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface TunnelPair {
  server: TunnelIdentity & { services: TunnelService[] };
  client: TunnelIdentity & { services: TunnelService[] };
  /** Where the client tools connect. */
  targets: Targets;
}

async function writeIdentity(dir: string, name: string, cert: WorkloadCertificate): Promise<TunnelIdentity> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const caFile = join(dir, 'roots.pem');
  await writeFile(certFile, [cert.certPem, ...cert.chainPem].join('\n'));
  await writeFile(keyFile, cert.keyPem, { mode: 0o600 });
  await writeFile(caFile, cert.rootsPem.join('\n'));
  return { certFile, keyFile, caFile };
}

export async function tunnelPair(scene: Scene): Promise<TunnelPair> {
  const pki = await testPki();
  const serverIds = await writeIdentity(scene.workDir, 'server', await pki.issue('spiffe://cluster.local/ns/bench/sa/server'));
  const clientIds = await writeIdentity(scene.workDir, 'client', await pki.issue('spiffe://cluster.local/ns/bench/sa/client'));
  const serverIp = scene.server.ip;
  const names = ['iperf', 'http', 'tcp'] as const;
  return {
    server: { ...serverIds, services: names.map((n) => ({ name: n, accept: `${serverIp}:${TLS_PORTS[n]}`, connect: `127.0.0.1:${scene.backends[n].port}` })) },
    client: { ...clientIds, services: names.map((n) => ({ name: n, accept: `127.0.0.1:${LOCAL_PORTS[n]}`, connect: `${serverIp}:${TLS_PORTS[n]}` })) },
    targets: {
      iperf: { host: '127.0.0.1', port: LOCAL_PORTS.iperf },
      http: { host: '127.0.0.1', port: LOCAL_PORTS.http },
      tcp: { host: '127.0.0.1', port: LOCAL_PORTS.tcp },
    },
  };
}

/** Starts one tunnel instance in a pod; resolves once it printed `ready`, stops it otherwise. */
export async function startTunnel(pod: LocalPod, argv: readonly string[], ready: string | RegExp, label: string): Promise<LocalProcess> {
  const proc = pod.spawn(argv, { label });
  try {
    await proc.waitForLine(ready, 10_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
