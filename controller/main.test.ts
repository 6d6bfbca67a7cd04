import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { createCsr } from '#core/ca/csr.ts';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import { ConfigClient } from '#core/config/client.ts';
import type { ConfigUpdate } from '#core/config/client.ts';
import type { Resource } from '#core/config/model.ts';
import { validateResources } from '#core/config/validate.ts';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig, parseControllerConfig } from './config.ts';
import { startController } from './main.ts';
import type { RunningController } from './main.ts';

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio.io/dataplane-mode: ambient
`;

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  uid: pod-uid-1
  labels:
    app: web
spec:
  nodeName: node-1
  serviceAccountName: web
status:
  phase: Running
  podIP: 10.1.0.5
  podIPs:
    - ip: 10.1.0.5
  hostIP: 192.168.50.1
  conditions:
    - type: Ready
      status: "True"
`;

let dir: string;
let controller: RunningController;
let client: ConfigClient;
const store = new Map<string, Resource>();
const updates: ConfigUpdate[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-controller-'));
  await writeFile(join(dir, 'namespace.yaml'), NAMESPACE);
  await writeFile(join(dir, 'pod.yaml'), POD);
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), manifestDirs: [dir], listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 20,
  }), { logger: silentLogger });
});

after(async () => {
  await client.close();
  await controller.close();
  await rm(dir, { recursive: true, force: true });
});

function waitForUpdate(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const t = setTimeout(() => reject(new Error('no matching update in time')), timeoutMs);
    const on = (): void => {
      if (!pred()) return;
      clearTimeout(t);
      client.off('update', on);
      resolve();
    };
    client.on('update', on);
  });
}

test('a ztunnel receives the pod as a workload, then its removal when the file is deleted', async () => {
  const node = { kind: 'ztunnel', node: 'node-1' } as const;
  // The token the local launcher would hand the node's ztunnel.
  const token = (await readFile(controller.tokenFile(node), 'utf8')).trim();
  assert.equal(token, controller.tokenFor(node));
  client = new ConfigClient({
    url: controller.pushUrl, client: node, token, rootsPem: controller.rootsPem,
    apply: (u) => {
      updates.push(u);
      if (u.snapshot) store.clear();
      for (const r of u.removed) store.delete(`${r.kind}/${r.key}`);
      const { valid, rejected } = validateResources(u.updated);
      for (const r of valid) store.set(`${r.kind}/${r.key}`, r);
      return { rejected };
    },
  }).start();
  await client.ready();
  const w = store.get('workload/pod-uid-1');
  assert.ok(w?.kind === 'workload', `got ${[...store.keys()].join(', ')}`);
  assert.deepEqual({ name: w.value.name, ns: w.value.namespace, node: w.value.node, sa: w.value.serviceAccount, addresses: w.value.addresses },
    { name: 'web-1', ns: 'shop', node: 'node-1', sa: 'web', addresses: ['10.1.0.5'] });

  await unlink(join(dir, 'pod.yaml'));
  await waitForUpdate(() => !store.has('workload/pod-uid-1'));
  const last = updates[updates.length - 1];
  assert.equal(last?.snapshot, false);
  assert.deepEqual(last?.removed, [{ kind: 'workload', key: 'pod-uid-1' }]);
  assert.equal(client.state().connected, true);
});

test('the CA signs for pods on the caller node only, from the live model', async () => {
  await writeFile(join(dir, 'pod.yaml'), POD);
  await waitForUpdate(() => store.has('workload/pod-uid-1'));
  const identity = 'spiffe://cluster.local/ns/shop/sa/web';
  const { csrPem } = await createCsr(identity);
  const fetch1 = httpsFetcher({ url: controller.caUrl, rootsPem: controller.rootsPem, token: controller.tokenFor({ kind: 'ztunnel', node: 'node-1' }) });
  const got = await fetch1(csrPem, identity);
  assert.equal(new X509Certificate(got.certPem).subjectAltName, `URI:${identity}`);
  const fetch2 = httpsFetcher({ url: controller.caUrl, rootsPem: controller.rootsPem, token: controller.tokenFor({ kind: 'ztunnel', node: 'node-2' }) });
  await assert.rejects(fetch2(csrPem, identity), /WEFT_ERR_CSR_UNAUTHORIZED|HTTP 403/);
});

test('admin endpoint and status.json', async () => {
  const health = await fetch(`${controller.adminUrl}/healthz`);
  assert.equal(health.status, 200);
  const model = await (await fetch(`${controller.adminUrl}/debug/model`)).json() as { built: boolean; identitiesByNode: Record<string, string[]> };
  assert.equal(model.built, true);
  assert.deepEqual(model.identitiesByNode['node-1'], ['spiffe://cluster.local/ns/shop/sa/web']);
  const status = await (await fetch(`${controller.adminUrl}/status`)).json() as { clients: { id: string; connected: boolean }[] };
  assert.deepEqual(status.clients.map((c) => [c.id, c.connected]), [['ztunnel/node-1', true]]);
  const metrics = await (await fetch(`${controller.adminUrl}/metrics`)).text();
  assert.match(metrics, /weft_xds_clients\{kind="ztunnel"\} 1/);
  await controller.settled();
  await new Promise((r) => setTimeout(r, 100));
  const written = JSON.parse(await readFile(join(dir, 'state', 'status.json'), 'utf8')) as { objects: unknown[] };
  assert.ok(Array.isArray(written.objects));
});

test('config: flags win over environment; bad values are refused with the flag name', () => {
  const c = parseControllerConfig(['--state-dir', '/tmp/x', '--manifests', '/a', '--manifests', '/b', '--port', '1234'],
    { WEFT_CONTROLLER_PORT: '99', WEFT_TRUST_DOMAIN: 'example.org', WEFT_DEBOUNCE_MS: '10' });
  assert.deepEqual({ ...c, manifestDirs: [...c.manifestDirs], advertiseAddresses: [...c.advertiseAddresses] }, {
    stateDir: '/tmp/x', manifestDirs: ['/a', '/b'], listenAddress: '0.0.0.0', port: 1234, advertiseAddresses: [], adminAddress: '127.0.0.1',
    adminPort: 15014, trustDomain: 'example.org', clusterId: 'Kubernetes', rootNamespace: 'istio-system', debounceMs: 10, logLevel: 'info',
    source: 'local', kubeconfig: '', workloadCertTtlSeconds: 86_400, rootRotationGraceSeconds: 120, handshakeTimeoutMs: 10_000, maxConnectionsPerSource: 128,
    leaderElect: false, leaseName: 'weft-controller', leaseDurationMs: 10_000, identity: hostname(), waypointRateLimitRedis: '', meshConfigFile: '',
    clientAuth: 'hmac', insecureAllowHmacAuth: false,
  });
  assert.ok(Object.isFrozen(c));
  assert.equal(parseControllerConfig(['--state-dir', 'x'], { WEFT_MESH_CONFIG: 'mesh.yaml' }).meshConfigFile, resolve('mesh.yaml'));
  const bad: [string[], RegExp][] = [
    [[], /--state-dir: required/],
    [['--state-dir', 'x', '--port', 'http'], /--port: not a number/],
    [['--state-dir', 'x', '--port', '70000'], /--port: not a port/],
    [['--state-dir', 'x', '--address', 'localhost'], /--address: not an IP/],
    [['--state-dir', 'x', '--trust-domain', 'Bad Domain'], /--trust-domain/],
    [['--state-dir', 'x', '--log-level', 'loud'], /--log-level/],
    [['--state-dir', 'x', '--debounce-ms', '999999'], /--debounce-ms/],
    [['--state-dir', 'x', '--frobnicate'], /Unknown option/],
    [['--state-dir', 'x', '--source', 'etcd'], /--source: one of local, kubernetes/],
  ];
  for (const [argv, want] of bad) assert.throws(() => parseControllerConfig(argv, {}), want, argv.join(' '));
});

test('close() returns promptly while push clients are connected', { timeout: 15_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ctl-close-'));
  const c = await startController(makeControllerConfig({ stateDir: dir, listenAddress: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'off' }), { logger: silentLogger });
  const who = { kind: 'ztunnel' as const, node: 'node1' };
  const client = new ConfigClient({
    url: c.pushUrl, client: who, token: c.tokenFor(who), rootsPem: c.rootsPem, servername: 'weft-controller',
    apply: () => ({ rejected: [] }), logger: silentLogger,
  }).start();
  try {
    await client.ready();
    assert.equal(c.push.clients().length, 1);
    // Before the push server was closed first, the HTTPS server waited on the upgraded socket.
    await c.close();
    assert.equal(c.push.clients().length, 0);
  } finally {
    await client.close();
    await rm(dir, { recursive: true, force: true });
  }
});
