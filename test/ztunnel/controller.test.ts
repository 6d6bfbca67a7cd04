// The whole control path: embedded cluster manifests → controller (in-process) → push stream
// and CA over TLS → two ztunnels started from their controller-mode config, with Istio
// resources (ambient namespace label, AuthorizationPolicy, PeerAuthentication) as the input.
// Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController, type RunningController } from '#controller/main.ts';
import { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalService } from '#local/service.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { listenInNetns } from '#ztunnel/native/index.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig, type RunningZtunnel } from '#ztunnel/start.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const logger = new Logger({ level: process.env['WEFT_TEST_LOG'] === '1' ? 'debug' : 'off' });

async function curl(from: LocalPod, url: string, timeoutS = 2): Promise<{ code: number; body: string; stderr: string }> {
  const r = await from.exec(['curl', '-sS', '--max-time', String(timeoutS), url]);
  return { code: r.code ?? -1, body: r.stdout, stderr: r.stderr };
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ztunnels driven by the controller', { skip }, () => {
  let dir: string | undefined;
  let cluster: LocalCluster | undefined;
  let controller: RunningController | undefined;
  const ztunnels: RunningZtunnel[] = [];
  let client: LocalPod;
  let echo: LocalPod;
  let outsider: LocalPod;
  let svc: LocalService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-zt-ctl-'));
    const manifests = join(dir, 'manifests');
    cluster = await LocalCluster.start({ name: 'ztctl', nodes: 2, manifestDir: manifests });
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient' });
    [client, echo, outsider] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
      cluster.addPod({ namespace: 'legacy', name: 'outsider', node: 'node1' }),
    ]);
    svc = await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] });
    await startEcho(echo);
    controller = await startController(makeControllerConfig({
      stateDir: join(dir, 'state'), manifestDirs: [manifests], listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 20, logLevel: 'off',
    }), { logger });
    const rootFile = join(dir, 'root.pem');
    await writeFile(rootFile, controller.rootPem);
    for (const node of cluster.nodes) {
      const cfg = parseZtunnelConfig([
        '--node', node.name, '--controller', controller.url, '--root-cert', rootFile,
        '--token-file', controller.tokenFile({ kind: 'ztunnel', node: node.name }), '--admin-host', node.ip, '--remove-capture-on-exit',
      ], {});
      ztunnels.push(await startFromConfig(cfg, logger, { admin: { listen: (host, port) => listenInNetns(node.netnsPath, { address: host, port }) } }));
    }
  });

  after(async () => {
    for (const z of ztunnels) await z.close().catch(() => undefined);
    await controller?.close();
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('ambient pods are enrolled and their traffic is tunnelled with certificates from the controller CA', async () => {
    await eventually('both ztunnels ready', async () => {
      const codes = await Promise.all(cluster!.nodes.map(async (n) => (await fetch(`http://${n.ip}:15021/healthz/ready`).catch(() => undefined))?.status));
      return codes.every((c) => c === 200) && ztunnels.every((z) => z.ztunnel.enrolled().length === 1);
    });
    assert.deepEqual(ztunnels.map((z) => z.ztunnel.enrolled().map((p) => p.ip)), [[client.ip], [echo.ip]]);
    const r = await curl(client, `http://${svc.vip}/`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.body) as EchoReply).remoteAddress, client.ip);
  });

  test('an AuthorizationPolicy DENY from the cluster blocks the client', async () => {
    const file = join(cluster!.manifestDir!, 'zz-policy-deny.yaml');
    await writeFile(file, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-sleep
  namespace: shop
spec:
  selector:
    matchLabels:
      app: echo
  action: DENY
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/shop/sa/sleep"]
`);
    try {
      await eventually('the deny to apply', async () => (await curl(client, `http://${svc.vip}/`, 1)).code !== 0);
    } finally {
      await unlink(file);
    }
    await eventually('the deny to go away', async () => (await curl(client, `http://${svc.vip}/`, 1)).code === 0);
  });

  test('PeerAuthentication STRICT refuses plaintext; PERMISSIVE lets it in', async () => {
    const plain = await curl(outsider, `http://${echo.ip}:8080/`);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal((JSON.parse(plain.body) as EchoReply).remoteAddress, outsider.ip);
    const file = join(cluster!.manifestDir!, 'zz-peerauth-strict.yaml');
    await writeFile(file, `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: shop
spec:
  mtls:
    mode: STRICT
`);
    try {
      await eventually('STRICT to apply', async () => (await curl(outsider, `http://${echo.ip}:8080/`, 1)).code !== 0);
      const mesh = await curl(client, `http://${svc.vip}/`);
      assert.equal(mesh.code, 0, `mesh traffic under STRICT: ${mesh.stderr}`);
    } finally {
      await unlink(file);
    }
  });
});
