// `stunnel`: Debian's stunnel4 as the C reference for a TLS tunnel — a client-side stunnel in
// the client pod (the tools connect to it on loopback) and a server-side one in the server pod
// in front of iperf3 and the echo app, mutual TLS 1.3 with AES-GCM, certificates from a test
// mesh CA with SPIFFE identities, as HBONE uses.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testPki } from '#core/ca/testing.ts';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { renderStunnelConfig, type StunnelService } from './stunnel-config.ts';

const TLS_PORTS = { iperf: 15443, http: 15444, tcp: 15445 } as const;
const LOCAL_PORTS = { iperf: 15001, http: 15002, tcp: 15003 } as const;

async function writeIdentity(dir: string, name: string, cert: WorkloadCertificate): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const caFile = join(dir, 'roots.pem');
  await writeFile(certFile, [cert.certPem, ...cert.chainPem].join('\n'));
  await writeFile(keyFile, cert.keyPem, { mode: 0o600 });
  await writeFile(caFile, cert.rootsPem.join('\n'));
  return { certFile, keyFile, caFile };
}

async function startStunnel(pod: LocalPod, configFile: string, label: string): Promise<LocalProcess> {
  // stunnel logs to stderr in the foreground; folded into stdout so readiness can be awaited.
  const proc = pod.spawn(['sh', '-c', `exec stunnel ${configFile} 2>&1`], { label });
  try {
    await proc.waitForLine(/Configuration successful/, 10_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

export const stunnelMode: NodeBenchMode = {
  name: 'stunnel',
  description: 'stunnel4 in each pod, mutual TLS 1.3 AES-GCM (C reference)',
  setup: async (scene) => {
    const pki = await testPki();
    const serverIds = await writeIdentity(scene.workDir, 'server', await pki.issue('spiffe://cluster.local/ns/bench/sa/server'));
    const clientIds = await writeIdentity(scene.workDir, 'client', await pki.issue('spiffe://cluster.local/ns/bench/sa/client'));
    const serverIp = scene.server.ip;
    const serverServices: StunnelService[] = [
      { name: 'iperf', accept: `${serverIp}:${TLS_PORTS.iperf}`, connect: `127.0.0.1:${scene.backends.iperf.port}` },
      { name: 'http', accept: `${serverIp}:${TLS_PORTS.http}`, connect: `127.0.0.1:${scene.backends.http.port}` },
      { name: 'tcp', accept: `${serverIp}:${TLS_PORTS.tcp}`, connect: `127.0.0.1:${scene.backends.tcp.port}` },
    ];
    const clientServices: StunnelService[] = [
      { name: 'iperf', accept: `127.0.0.1:${LOCAL_PORTS.iperf}`, connect: `${serverIp}:${TLS_PORTS.iperf}` },
      { name: 'http', accept: `127.0.0.1:${LOCAL_PORTS.http}`, connect: `${serverIp}:${TLS_PORTS.http}` },
      { name: 'tcp', accept: `127.0.0.1:${LOCAL_PORTS.tcp}`, connect: `${serverIp}:${TLS_PORTS.tcp}` },
    ];
    const serverConf = join(scene.workDir, 'stunnel-server.conf');
    const clientConf = join(scene.workDir, 'stunnel-client.conf');
    await writeFile(serverConf, renderStunnelConfig({ client: false, ...serverIds, services: serverServices }));
    await writeFile(clientConf, renderStunnelConfig({ client: true, ...clientIds, services: clientServices }));
    const server = await startStunnel(scene.server, serverConf, 'stunnel-server');
    let client: LocalProcess;
    try {
      client = await startStunnel(scene.client, clientConf, 'stunnel-client');
    } catch (err) {
      await server.stop();
      throw err;
    }
    return {
      targets: {
        iperf: { host: '127.0.0.1', port: LOCAL_PORTS.iperf },
        http: { host: '127.0.0.1', port: LOCAL_PORTS.http },
        tcp: { host: '127.0.0.1', port: LOCAL_PORTS.tcp },
      },
      proxies: [{ label: 'stunnel-client', pid: client.pid }, { label: 'stunnel-server', pid: server.pid }],
      teardown: async () => {
        await Promise.all([client.stop(), server.stop()]);
      },
    };
  },
};
