// The nginx/HAProxy half of the waypoint benchmark, in the same cluster as the mesh but in a
// namespace outside it (`proxybench`, so no ztunnel touches it): a client pod on node1, one
// proxy pod on the waypoint's node running both nginx and HAProxy (each on its own port, so
// the runner can interleave them), two backends on node2 running the echo handler over TLS
// (bench/waypoint/tls-echo.ts). Client → proxy is TLS 1.3 (h2load presents no certificate);
// proxy → backend is mutual TLS 1.3 with the backend's name checked, as HBONE is.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalCluster } from '#local/cluster.ts';
import { waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import { makeBenchCerts, type BenchCerts } from '#bench/waypoint/certs.ts';
import { processTree } from '#bench/waypoint/process-tree.ts';
import { renderHaproxyConfig, renderNginxConfig, type ProxyConfigInput } from '#bench/waypoint/proxy-configs.ts';

export const PROXY_NAMESPACE = 'proxybench';
const TLS_ECHO = fileURLToPath(new URL('./tls-echo.ts', import.meta.url));
const BACKEND_NAME = 'backend.bench';
export const PORTS = { nginx: 8443, haproxy: 9443, backendMtls: 8443, backendTls: 8444 } as const;

export interface RunningProxy {
  name: 'nginx' | 'haproxy';
  /** The two routed URLs (1 KiB answers). */
  urls: string[];
  /** The proxy's process tree (nginx: master and worker), read once it serves. */
  pids: number[];
}

export interface ProxyScene {
  client: LocalPod;
  /** What h2load dials for the no-proxy baseline: TLS straight to backend a. */
  directUrl: string;
  proxies: RunningProxy[];
  close(): Promise<void>;
}

async function waitServing(client: LocalPod, urls: readonly string[], proc: LocalProcess, what: string): Promise<void> {
  await waitUntil(async () => {
    if (proc.exitStatus !== undefined) throw new Error(`${what} exited: ${proc.stderr.slice(-1500)}${proc.stdout.slice(-500)}`);
    for (const url of urls) {
      const r = await client.exec(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', url]);
      if (r.stdout !== '200') return false;
    }
    return true;
  }, 15_000, () => `${what} did not serve ${urls.join(', ')}: ${proc.stderr.slice(-1500)}`);
}

export async function startProxyScene(cluster: LocalCluster, proxyNode: string): Promise<ProxyScene> {
  const workDir = await mkdtemp(join(tmpdir(), 'weft-wpbench-'));
  const procs: LocalProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const certs: BenchCerts = await makeBenchCerts(workDir, BACKEND_NAME);
    const [client, proxy, a, b] = await Promise.all([
      cluster.addPod({ namespace: PROXY_NAMESPACE, name: 'client', node: 'node1', labels: { app: 'client' } }),
      cluster.addPod({ namespace: PROXY_NAMESPACE, name: 'proxy', node: proxyNode, labels: { app: 'proxy' } }),
      cluster.addPod({ namespace: PROXY_NAMESPACE, name: 'backend-a', node: 'node2', labels: { app: 'backend', version: 'a' } }),
      cluster.addPod({ namespace: PROXY_NAMESPACE, name: 'backend-b', node: 'node2', labels: { app: 'backend', version: 'b' } }),
    ]);
    for (const pod of [a, b]) {
      const p = pod.spawn([
        process.execPath, TLS_ECHO, '--cert', certs.backend.certFile, '--key', certs.backend.keyFile, '--ca', certs.caFile,
        '--host', pod.ip, '--mtls-port', String(PORTS.backendMtls), '--tls-port', String(PORTS.backendTls),
      ], { label: `${pod.name}:tls-echo`, env: { POD_NAME: pod.name } });
      procs.push(p);
      await p.waitForLine('ready', 15_000);
    }
    const input = (port: number, dir: string): ProxyConfigInput => ({
      listen: `${proxy.ip}:${port}`,
      certFile: certs.proxy.certFile, keyFile: certs.proxy.keyFile,
      clientCertFile: certs.client.certFile, clientKeyFile: certs.client.keyFile, caFile: certs.caFile,
      backendName: BACKEND_NAME,
      routes: [{ prefix: '/a', backend: `${a.ip}:${PORTS.backendMtls}` }, { prefix: '/b', backend: `${b.ip}:${PORTS.backendMtls}` }],
      workDir: dir,
    });
    const start = async (name: RunningProxy['name'], argv: (conf: string, dir: string) => string[], render: (dir: string) => string): Promise<RunningProxy> => {
      const dir = join(workDir, name);
      await mkdir(dir, { recursive: true });
      const conf = join(dir, `${name}.conf`);
      await writeFile(conf, render(dir));
      const proc = proxy.spawn(argv(conf, dir), { label: name });
      procs.push(proc);
      const urls = ['/a', '/b'].map((p) => `https://${proxy.ip}:${PORTS[name]}${p}/bytes/1024`);
      await waitServing(client, urls, proc, name);
      return { name, urls, pids: await processTree(proc.pid) };
    };
    const nginx = await start('nginx', (conf, dir) => ['nginx', '-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', conf],
      (dir) => renderNginxConfig(input(PORTS.nginx, dir)));
    const haproxy = await start('haproxy', (conf) => ['haproxy', '-db', '-f', conf],
      (dir) => renderHaproxyConfig({ ...input(PORTS.haproxy, dir), certPemFile: certs.proxy.pemFile, clientPemFile: certs.client.pemFile }));
    return { client, directUrl: `https://${a.ip}:${PORTS.backendTls}/bytes/1024`, proxies: [nginx, haproxy], close };
  } catch (err) {
    await close();
    throw err;
  }
}
