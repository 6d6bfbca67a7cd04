// The Kubernetes deployer against the in-repo API server over real HTTPS, through the real
// client library: server-side apply of a waypoint's objects, clean-up, retries and the status
// it reports; last, the controller wiring from a Gateway to its status address.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Logger, silentLogger } from '#core/log.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { APPLY_FAILED, KubernetesDeployer, inClusterControllerUrl } from '#controller/deploy/kubernetes-deployer.ts';
import { startController } from '#controller/main.ts';
import { parseObject } from '#controller/source/parse.ts';
import { startApiServerHarness, waitFor } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import type { TestApiServer } from '#controller/source/testing/apiserver.ts';
import type { ClusterObjects, Gateway, Service } from '#controller/source/types.ts';
import { KubernetesStatusWriter } from '#controller/status/kubernetes-writer.ts';
import { StatusStore } from '#controller/status/store.ts';

type Obj = Record<string, unknown>;

const harnesses: ApiServerHarness[] = [];
const deployers: KubernetesDeployer[] = [];
after(async () => {
  for (const d of deployers) await d.stop();
  for (const h of harnesses) await h.close();
});

async function cluster(): Promise<ApiServerHarness> {
  const h = await startApiServerHarness();
  harnesses.push(h);
  return h;
}

const gateway = (name: string, ns = 'shop', gatewayClassName = 'istio-waypoint'): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: ns },
  spec: { gatewayClassName, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

/** What a source would hand the deployer: the server's Gateways and Services, parsed. */
function objectsOf(server: TestApiServer, keys: { gateways: string[]; services?: string[] }): Pick<ClusterObjects, 'gateways' | 'services'> {
  const read = <T>(kind: string, key: string): T | undefined => {
    const [ns = '', name = ''] = key.split('/');
    const raw = server.get(kind, ns, name);
    if (raw === undefined) return undefined;
    const parsed = parseObject(raw);
    if (!parsed.ok) throw new Error(`${kind} ${key}: ${parsed.reason}`);
    return parsed.object as T;
  };
  const gateways = new Map<string, Gateway>();
  for (const k of keys.gateways) {
    const g = read<Gateway>('Gateway', k);
    if (g !== undefined) gateways.set(k, g);
  }
  const services = new Map<string, Service>();
  for (const k of keys.services ?? []) {
    const s = read<Service>('Service', k);
    if (s !== undefined) services.set(k, s);
  }
  return { gateways, services };
}

function deployer(h: ApiServerHarness, status: StatusStore, logger: Logger = silentLogger, rateLimitRedis?: string): KubernetesDeployer {
  const d = new KubernetesDeployer({
    kubeConfig: h.kubeConfig, status, logger, trustDomain: 'example.org',
    controllerUrl: 'wss://weft-controller.istio-system.svc:15010', retry: { initialMs: 20, maxMs: 80 },
    ...(rateLimitRedis === undefined ? {} : { rateLimitRedis }),
  });
  deployers.push(d);
  return d;
}


const meta = (o: Obj | undefined): Obj => (o?.['metadata'] ?? {}) as Obj;
const envOf = (deployment: Obj | undefined): Record<string, string> => {
  const containers = ((deployment?.['spec'] as { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } | undefined)?.template.spec.containers) ?? [];
  return Object.fromEntries((containers[0]?.env ?? []).map((e) => [e.name, e.value]));
};
const conditionsOf = (status: StatusStore, name: string): string[] =>
  (status.list().find((o) => o.kind === 'Gateway' && o.name === name)?.conditions ?? []).map((c) => `${c.type}=${c.status}:${c.reason}`);

test('a waypoint Gateway gets its ServiceAccount, Service and Deployment by server-side apply, owned by the Gateway', async () => {
  const h = await cluster();
  const uid = meta(h.server.create(gateway('waypoint')))['uid'];
  const status = new StatusStore();
  const d = deployer(h, status);
  await d.sync(objectsOf(h.server, { gateways: ['shop/waypoint'] }));

  const patches = h.server.requests.filter((r) => r.method === 'PATCH');
  assert.deepEqual(patches.map((r) => r.path), [
    '/api/v1/namespaces/shop/serviceaccounts/waypoint',
    '/api/v1/namespaces/shop/services/waypoint',
    '/apis/apps/v1/namespaces/shop/deployments/waypoint',
  ]);
  for (const p of patches) {
    assert.equal(p.contentType, 'application/apply-patch+yaml', p.path);
    assert.equal(p.query['fieldManager'], 'weft-controller', p.path);
    assert.equal(p.query['force'], 'true', p.path);
  }
  for (const kind of ['ServiceAccount', 'Service', 'Deployment']) {
    const o = h.server.get(kind, 'shop', 'waypoint');
    assert.ok(o !== undefined, kind);
    assert.deepEqual(meta(o)['ownerReferences'], [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid, controller: true, blockOwnerDeletion: true },
    ], kind);
    assert.equal((meta(o)['labels'] as Obj)['gateway.networking.k8s.io/gateway-name'], 'waypoint', kind);
    assert.deepEqual((meta(o)['managedFields'] as Obj[]).map((f) => [f['manager'], f['operation']]), [['weft-controller', 'Apply']], kind);
  }
  const deployment = h.server.get('Deployment', 'shop', 'waypoint');
  assert.equal((meta(deployment)['labels'] as Obj)['istio.io/dataplane-mode'], 'none');
  const env = envOf(deployment);
  assert.equal(env['WEFT_CONTROLLER_URL'], 'wss://weft-controller.istio-system.svc:15010');
  assert.equal(env['WEFT_TRUST_DOMAIN'], 'example.org');
  assert.deepEqual([env['WEFT_WAYPOINT_NAMESPACE'], env['WEFT_WAYPOINT_NAME']], ['shop', 'waypoint']);
  assert.equal(env['WEFT_RATE_LIMIT_REDIS'], undefined, 'no Redis configured, none set');
  assert.deepEqual(conditionsOf(status, 'waypoint'), ['Accepted=True:Accepted']);

  // Nothing changed: nothing is applied again.
  await d.sync(objectsOf(h.server, { gateways: ['shop/waypoint'] }));
  assert.equal(h.server.requests.filter((r) => r.method === 'PATCH').length, 3);
  // The Service got a cluster IP: it becomes the Gateway's address, without a new apply.
  const svc = h.server.get('Service', 'shop', 'waypoint') ?? {};
  h.server.update({ ...svc, spec: { ...(svc['spec'] as Obj), clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } });
  await d.sync(objectsOf(h.server, { gateways: ['shop/waypoint'], services: ['shop/waypoint'] }));
  assert.deepEqual(status.list().find((o) => o.name === 'waypoint')?.addresses, [{ type: 'IPAddress', value: '10.96.0.20' }]);
  assert.equal(h.server.requests.filter((r) => r.method === 'PATCH').length, 3);
  // A re-apply (here: a new controller instance) keeps the allocated address.
  await deployer(h, new StatusStore()).sync(objectsOf(h.server, { gateways: ['shop/waypoint'] }));
  assert.equal((h.server.get('Service', 'shop', 'waypoint')?.['spec'] as Obj)['clusterIP'], '10.96.0.20');
});

test('a deleted Gateway\'s objects are left to the garbage collector; one that stops being a waypoint has its own deleted', async () => {
  const h = await cluster();
  const goneUid = meta(h.server.create(gateway('gone')))['uid'];
  h.server.create(gateway('moved'));
  const status = new StatusStore();
  const d = deployer(h, status);
  await d.sync(objectsOf(h.server, { gateways: ['shop/gone', 'shop/moved'] }));
  assert.ok(h.server.get('Deployment', 'shop', 'gone') !== undefined && h.server.get('Deployment', 'shop', 'moved') !== undefined);

  // Someone replaced the ServiceAccount of `moved` with one the Gateway does not own.
  const sa = h.server.get('ServiceAccount', 'shop', 'moved') ?? {};
  h.server.update({ ...sa, metadata: { ...meta(sa), ownerReferences: [] } });
  h.server.delete('Gateway', 'shop', 'gone');
  h.server.update({ ...h.server.get('Gateway', 'shop', 'moved'), spec: { gatewayClassName: 'other', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } });
  await d.sync(objectsOf(h.server, { gateways: ['shop/moved'] }));

  const deletes = h.server.requests.filter((r) => r.method === 'DELETE');
  assert.deepEqual(deletes.map((r) => r.path), ['/apis/apps/v1/namespaces/shop/deployments/moved', '/api/v1/namespaces/shop/services/moved']);
  assert.equal(deletes[0]?.query['propagationPolicy'], 'Background');
  assert.ok(h.server.get('ServiceAccount', 'shop', 'moved') !== undefined, 'an object the Gateway does not own stays');
  // The API server's garbage collector would remove these: each names the deleted Gateway as its controlling owner.
  for (const kind of ['ServiceAccount', 'Service', 'Deployment']) {
    const refs = meta(h.server.get(kind, 'shop', 'gone'))['ownerReferences'] as Obj[];
    assert.deepEqual(refs.map((r) => [r['kind'], r['name'], r['uid'], r['controller']]), [['Gateway', 'gone', goneUid, true]], kind);
  }
  assert.deepEqual(status.list().filter((o) => o.kind === 'Gateway'), []);
});

test('a failing apply is retried with backoff, logged and reported as Programmed=False; other Gateways are unaffected', async () => {
  const h = await cluster();
  h.server.create(gateway('good'));
  h.server.create(gateway('bad'));
  const lines: Obj[] = [];
  const logger = new Logger({ level: 'warn', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } });
  const status = new StatusStore();
  const writer = new KubernetesStatusWriter({ kubeConfig: h.kubeConfig, status, logger: silentLogger, minIntervalMs: 1, retry: { initialMs: 20, maxMs: 80 } });
  writer.start();
  const d = deployer(h, status, logger);
  const badDeployment = '/apis/apps/v1/namespaces/shop/deployments/bad';
  h.server.failRequests((r) => (r.method === 'PATCH' && r.path === badDeployment ? 500 : undefined));
  try {
    await d.sync(objectsOf(h.server, { gateways: ['shop/bad', 'shop/good'] }));
    for (const kind of ['ServiceAccount', 'Service', 'Deployment']) assert.ok(h.server.get(kind, 'shop', 'good') !== undefined, kind);
    assert.equal(h.server.get('Deployment', 'shop', 'bad'), undefined);
    const retries = (): Obj[] => lines.filter((l) => l['msg'] === 'waypoint deployment failed; will retry');
    await waitFor(() => retries().length >= 4, 'retries');
    assert.ok(h.server.requests.filter((r) => r.path === badDeployment).length >= 4);
    assert.deepEqual(retries().slice(0, 4).map((l) => [l['attempt'], l['retryInMs'], l['code']]), [[1, 20, 500], [2, 40, 500], [3, 80, 500], [4, 80, 500]]);
    assert.ok(retries().every((l) => l['gateway'] === 'shop/bad'));
    const bad = status.list().find((o) => o.name === 'bad')?.conditions.find((c) => c.type === 'Programmed');
    assert.equal(bad?.status, 'False');
    assert.equal(bad.reason, APPLY_FAILED);
    assert.match(bad.message, /^applying Deployment shop\/bad failed: HTTP 500: injected failure 500 \(hint: /);
    assert.deepEqual(conditionsOf(status, 'good'), ['Accepted=True:Accepted']);
    // The condition reaches the Gateway through its status subresource.
    await waitFor(() => ((h.server.get('Gateway', 'shop', 'bad')?.['status'] as { conditions?: Obj[] } | undefined)?.conditions ?? [])
      .some((c) => c['type'] === 'Programmed' && c['reason'] === APPLY_FAILED), 'status written');

    h.server.failRequests(undefined);
    await waitFor(() => h.server.get('Deployment', 'shop', 'bad') !== undefined, 'applied after the failure cleared');
    await waitFor(() => conditionsOf(status, 'bad').join() === 'Accepted=True:Accepted', 'condition cleared');
    await writer.idle();
  } finally {
    await writer.stop();
  }
});

test('an existing object of the waypoint\'s name the Gateway does not own is left alone, and the Gateway says why', async () => {
  const h = await cluster();
  h.server.create(gateway('waypoint'));
  // The user's own Service, there before the Gateway.
  h.server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'waypoint', namespace: 'shop', labels: { app: 'mine' } }, spec: { ports: [{ port: 80 }] } });
  const status = new StatusStore();
  const d = deployer(h, status);
  await d.sync(objectsOf(h.server, { gateways: ['shop/waypoint'] }));
  const svc = h.server.get('Service', 'shop', 'waypoint');
  assert.deepEqual(meta(svc)['ownerReferences'] ?? [], [], 'not taken over');
  assert.deepEqual(meta(svc)['labels'], { app: 'mine' });
  assert.ok(!h.server.requests.some((r) => r.method === 'PATCH' && r.path === '/api/v1/namespaces/shop/services/waypoint'), 'never applied');
  assert.equal(h.server.get('Deployment', 'shop', 'waypoint'), undefined, 'nothing after the conflict is applied');
  const programmed = status.list().find((o) => o.name === 'waypoint')?.conditions.find((c) => c.type === 'Programmed');
  assert.equal(programmed?.status, 'False');
  assert.match(programmed.message, /^Service shop\/waypoint already exists and is not owned by this Gateway/);
  // Once the user removes theirs, the retry applies the waypoint's own.
  h.server.delete('Service', 'shop', 'waypoint');
  await waitFor(() => h.server.get('Deployment', 'shop', 'waypoint') !== undefined, 'applied once the name is free');
  await waitFor(() => conditionsOf(status, 'waypoint').join() === 'Accepted=True:Accepted', 'condition cleared');
});

test('startController --source kubernetes deploys a waypoint and writes its address and conditions to the Gateway', async () => {
  assert.equal(inClusterControllerUrl('istio-system', 0), 'wss://weft-controller.istio-system.svc:15010');
  const h = await cluster();
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  const uid = meta(h.server.create(gateway('waypoint')))['uid'];
  const dir = await mkdtemp(join(tmpdir(), 'weft-deployer-'));
  const controller = await startController(parseControllerConfig([
    '--source', 'kubernetes', '--kubeconfig', h.kubeconfigPath, '--state-dir', join(dir, 'state'), '--trust-domain', 'example.org',
    '--address', '127.0.0.1', '--port', '0', '--admin-port', '0', '--debounce-ms', '20', '--log-level', 'off',
  ], {}), { logger: silentLogger });
  const gatewayStatus = (): { conditions?: Obj[]; addresses?: Obj[] } | undefined =>
    h.server.get('Gateway', 'shop', 'waypoint')?.['status'] as { conditions?: Obj[]; addresses?: Obj[] } | undefined;
  const condition = (type: string): string => {
    const c = gatewayStatus()?.conditions?.find((x) => x['type'] === type);
    return c === undefined ? '' : `${String(c['status'])}:${String(c['reason'])}`;
  };
  try {
    await waitFor(() => h.server.get('Deployment', 'shop', 'waypoint') !== undefined, 'deployment applied');
    const env = envOf(h.server.get('Deployment', 'shop', 'waypoint'));
    assert.equal(env['WEFT_CONTROLLER_URL'], 'wss://weft-controller.istio-system.svc:15010');
    assert.equal(env['WEFT_TRUST_DOMAIN'], 'example.org');
    assert.equal((meta(h.server.get('Service', 'shop', 'waypoint'))['ownerReferences'] as Obj[])[0]?.['uid'], uid);
    await waitFor(() => condition('Accepted') === 'True:Accepted' && condition('Programmed') === 'False:AddressNotAssigned', 'conditions before an address');
    assert.equal(gatewayStatus()?.addresses, undefined);

    // The cluster allocates the Service's IP (the test server does not, so the test plays that part).
    const svc = h.server.get('Service', 'shop', 'waypoint') ?? {};
    h.server.update({ ...svc, spec: { ...(svc['spec'] as Obj), clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'] } });
    await waitFor(() => JSON.stringify(gatewayStatus()?.addresses) === JSON.stringify([{ type: 'IPAddress', value: '10.96.0.30' }]), 'status.addresses');
    await waitFor(() => condition('Programmed') === 'True:Programmed', 'Programmed');
    const statusWrites = h.server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/gateways/waypoint/status'));
    assert.ok(statusWrites.every((r) => r.contentType === 'application/merge-patch+json' && r.query['fieldManager'] === 'weft-controller'));
    // The spec was not touched by the status writes.
    assert.deepEqual((h.server.get('Gateway', 'shop', 'waypoint')?.['spec'] as Obj)['gatewayClassName'], 'istio-waypoint');
  } finally {
    await controller.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the controller\'s rate-limit Redis goes into every waypoint Deployment as WEFT_RATE_LIMIT_REDIS', async () => {
  const h = await cluster();
  h.server.create(gateway('waypoint'));
  const d = deployer(h, new StatusStore(), silentLogger, 'redis.weft-system:6379');
  await d.sync(objectsOf(h.server, { gateways: ['shop/waypoint'] }));
  assert.equal(envOf(h.server.get('Deployment', 'shop', 'waypoint'))['WEFT_RATE_LIMIT_REDIS'], 'redis.weft-system:6379');
});
