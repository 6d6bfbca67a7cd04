// The Kubernetes source and status writer against the in-repo API server over real HTTPS,
// through the real client library (@kubernetes/client-node informers).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigClient } from '#core/config/client.ts';
import type { Resource } from '#core/config/model.ts';
import { validateResources } from '#core/config/validate.ts';
import { Logger, silentLogger } from '#core/log.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { podWantsMesh } from '#controller/model/enrollment.ts';
import { startController } from '#controller/main.ts';
import { KubernetesSource } from '#controller/source/kubernetes.ts';
import { startApiServerHarness, waitFor } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { KubernetesStatusWriter } from '#controller/status/kubernetes-writer.ts';
import { StatusStore } from '#controller/status/store.ts';

type Obj = Record<string, unknown>;

const namespace = (name: string, labels: Record<string, string> = {}): Obj =>
  ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

const node = (name: string, ip: string): Obj =>
  ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });

const pod = (name: string, ns: string, ip: string, extra: Obj = {}): Obj => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, labels: { app: name } },
  spec: { nodeName: 'node-1', serviceAccountName: name },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.168.50.1', conditions: [{ type: 'Ready', status: 'True' }], ...extra },
});

const policy = (name: string, ns: string, action = 'ALLOW'): Obj => ({
  apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns },
  spec: { action, selector: { matchLabels: { app: 'web' } }, rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] },
});

/** A policy the parser rejects outright: its metadata cannot be read (a label value that is not a string). */
const badPolicy = (name: string, ns: string): Obj => ({
  ...policy(name, ns), metadata: { name, namespace: ns, labels: { tier: 5 } },
});

const harnesses: ApiServerHarness[] = [];
const sources: KubernetesSource[] = [];

after(async () => {
  for (const s of sources) await s.stop();
  for (const h of harnesses) await h.close();
});

async function cluster(options: { bookmarkIntervalMs?: number } = {}): Promise<ApiServerHarness> {
  const h = await startApiServerHarness(options);
  harnesses.push(h);
  return h;
}

async function startSource(h: ApiServerHarness, logger: Logger = silentLogger): Promise<KubernetesSource> {
  const source = new KubernetesSource({ kubeConfig: h.kubeConfig, logger, debounceMs: 10, backoff: { initialMs: 20, maxMs: 200 } });
  sources.push(source);
  await source.start();
  return source;
}


/** Counts onChange notifications. */
function changes(source: KubernetesSource): { count: () => number } {
  let n = 0;
  source.onChange(() => { n++; });
  return { count: () => n };
}

/** Kinds watched: every kind weft reads but BackendTrafficPolicy, whose CRD these tests do not install. */
const KINDS = 13;
/** Lists of the watched kinds (the absent one is looked for again now and then). */
const listCount = (h: ApiServerHarness): number => h.server.requests.filter((r) => !r.watch && !r.path.startsWith('/apis/gateway.envoyproxy.io/')).length;

test('initial sync lists every kind cluster-wide, then watches with bookmarks from the list version', async () => {
  const h = await cluster();
  h.server.create(namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }));
  h.server.create(node('node-1', '192.168.50.1'));
  h.server.create(pod('web-1', 'shop', '10.1.0.5'));
  h.server.create(policy('allow-shop', 'shop'));
  const listVersion = String(h.server.resourceVersion);
  const source = await startSource(h);
  const objs = source.current();
  assert.deepEqual([...objs.namespaces.keys()], ['shop']);
  assert.deepEqual(objs.namespaces.get('shop')?.metadata.labels, { 'istio.io/dataplane-mode': 'ambient' });
  assert.deepEqual(objs.nodes.get('node-1')?.status.addresses, [{ type: 'InternalIP', address: '192.168.50.1' }]);
  // Items of a built-in list arrive without kind/apiVersion; the source restores them.
  const p = objs.pods.get('shop/web-1');
  assert.equal(p?.kind, 'Pod');
  assert.deepEqual({ ip: p.status.podIP, node: p.spec.nodeName, sa: p.spec.serviceAccountName, uid: p.metadata.uid }, { ip: '10.1.0.5', node: 'node-1', sa: 'web-1', uid: 'uid-shop-web-1' });
  assert.equal(objs.authorizationPolicies.get('shop/allow-shop')?.spec.action, 'ALLOW');
  assert.deepEqual(source.rejected(), []);
  assert.ok(source.informerStates().every((s) => s.synced));

  const lists = h.server.requests.filter((r) => !r.watch).map((r) => r.path).sort();
  assert.deepEqual(lists, [
    '/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods', '/api/v1/services',
    '/apis/discovery.k8s.io/v1/endpointslices',
    // Not served here (no CRD): answered 404, read as none, not watched.
    '/apis/gateway.envoyproxy.io/v1alpha1/backendtrafficpolicies',
    '/apis/gateway.networking.k8s.io/v1/gateways', '/apis/gateway.networking.k8s.io/v1/grpcroutes', '/apis/gateway.networking.k8s.io/v1/httproutes',
    '/apis/networking.istio.io/v1/destinationrules', '/apis/networking.istio.io/v1/virtualservices',
    '/apis/security.istio.io/v1/authorizationpolicies', '/apis/security.istio.io/v1/peerauthentications',
    '/apis/telemetry.istio.io/v1/telemetries',
  ]);
  const watches = h.server.requests.filter((r) => r.watch);
  assert.equal(watches.length, KINDS);
  for (const w of watches) {
    assert.equal(w.query['resourceVersion'], listVersion, w.path);
    assert.equal(w.query['allowWatchBookmarks'], 'true', w.path);
  }
  await waitFor(() => h.server.watchCount() === KINDS, 'all watches open');
});

test('pods and policies added, modified and deleted show in current() and onChange; unread fields do not', async () => {
  const h = await cluster();
  h.server.create(namespace('shop'));
  const source = await startSource(h);
  const seen = changes(source);

  h.server.create(pod('web-1', 'shop', '10.1.0.5'));
  h.server.create(policy('allow-shop', 'shop'));
  await waitFor(() => source.current().pods.has('shop/web-1') && source.current().authorizationPolicies.has('shop/allow-shop'), 'adds');
  const afterAdd = seen.count();
  assert.ok(afterAdd >= 1);

  h.server.update(pod('web-1', 'shop', '10.1.0.9'));
  h.server.update(policy('allow-shop', 'shop', 'DENY'));
  await waitFor(() => source.current().pods.get('shop/web-1')?.status.podIP === '10.1.0.9'
    && source.current().authorizationPolicies.get('shop/allow-shop')?.spec.action === 'DENY', 'modifications');
  assert.ok(seen.count() > afterAdd);

  // A status field weft does not read changes the resourceVersion only: no change for weft.
  const before = source.current();
  const quiet = seen.count();
  h.server.update(pod('web-1', 'shop', '10.1.0.9', { containerStatuses: [{ name: 'app', ready: true, restartCount: 3 }] }));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(seen.count(), quiet);
  assert.equal(source.current(), before);

  h.server.delete('Pod', 'shop', 'web-1');
  h.server.delete('AuthorizationPolicy', 'shop', 'allow-shop');
  await waitFor(() => source.current().pods.size === 0 && source.current().authorizationPolicies.size === 0, 'deletes');
  assert.ok(seen.count() > quiet);
});

test('a malformed object is rejected with its reason while the rest syncs, and clears when fixed', async () => {
  const h = await cluster();
  h.server.create(pod('web-1', 'shop', '10.1.0.5'));
  h.server.create(badPolicy('bad', 'shop'));
  h.server.create(policy('good', 'shop'));
  const source = await startSource(h);
  assert.deepEqual([...source.current().authorizationPolicies.keys()], ['shop/good']);
  assert.ok(source.current().pods.has('shop/web-1'));
  assert.equal(source.rejected().length, 1);
  const r = source.rejected()[0];
  assert.deepEqual({ kind: r?.kind, namespace: r?.namespace, name: r?.name }, { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'bad' });
  assert.match(r?.reason ?? '', /metadata\.labels/);

  h.server.update(policy('bad', 'shop', 'DENY'));
  await waitFor(() => source.rejected().length === 0, 'rejection cleared');
  assert.deepEqual([...source.current().authorizationPolicies.keys()].sort(), ['shop/bad', 'shop/good']);
});

test('a watch resumed from a compacted version gets 410 Gone; the library relists by itself and the source converges', async () => {
  const h = await cluster();
  h.server.create(pod('old-1', 'shop', '10.1.0.1'));
  h.server.create(pod('old-2', 'shop', '10.1.0.2'));
  const source = await startSource(h);
  await waitFor(() => h.server.watchCount() === KINDS, 'watches open');
  // In one tick: the streams end, the cluster changes unseen, and the history is compacted,
  // so every informer resumes from a version the server no longer has.
  h.server.dropWatches();
  h.server.delete('Pod', 'shop', 'old-1');
  h.server.update(pod('old-2', 'shop', '10.1.0.22'));
  h.server.create(pod('new-1', 'shop', '10.1.0.3'));
  h.server.compact();
  await waitFor(() => {
    const pods = source.current().pods;
    return pods.size === 2 && pods.has('shop/new-1') && pods.get('shop/old-2')?.status.podIP === '10.1.0.22';
  }, 'converged after relist');
  assert.equal(h.server.goneCount, KINDS);
  assert.equal(h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length, 2, 'pods listed again');
  assert.ok(source.informerStates().every((s) => s.restarts === 0), 'no restart was needed');
  await waitFor(() => h.server.watchCount() === KINDS, 'watches reopened');
});

test('failed watches restart with backoff; a compacted history answers 410 Gone and the informer relists and converges', async () => {
  const h = await cluster();
  h.server.create(pod('old-1', 'shop', '10.1.0.1'));
  h.server.create(pod('old-2', 'shop', '10.1.0.2'));
  const source = await startSource(h);
  await waitFor(() => h.server.watchCount() === KINDS, 'watches open');

  // The watch connection breaks and cannot be re-established for a while (503 on every watch).
  h.server.failRequests((req) => (req.watch ? 503 : undefined));
  h.server.dropWatches();
  await waitFor(() => h.server.requests.filter((r) => r.watch && r.path === '/api/v1/pods').length >= 3, 'pod watch retried');
  // Meanwhile the cluster moves on and its history is compacted.
  h.server.delete('Pod', 'shop', 'old-1');
  h.server.update(pod('old-2', 'shop', '10.1.0.22'));
  h.server.create(pod('new-1', 'shop', '10.1.0.3'));
  h.server.compact();
  const listsBefore = h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length;
  assert.deepEqual([...source.current().pods.keys()].sort(), ['shop/old-1', 'shop/old-2']);

  h.server.failRequests(undefined);
  await waitFor(() => {
    const pods = source.current().pods;
    return pods.size === 2 && pods.has('shop/new-1') && pods.get('shop/old-2')?.status.podIP === '10.1.0.22';
  }, 'converged after relist');
  assert.ok(h.server.goneCount >= 1, 'the resumed watch was told 410 Gone');
  assert.ok((source.informerStates().find((s) => s.kind === 'Pod')?.restarts ?? 0) >= 2, 'the pod informer was restarted');
  assert.ok(h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length > listsBefore, 'pods were listed again');
  await waitFor(() => h.server.watchCount() === KINDS, 'watches reopened');
});

test('dropped watches reconnect and converge, whether the stream ends or the connection is reset', async () => {
  const h = await cluster();
  const source = await startSource(h);
  await waitFor(() => h.server.watchCount() === KINDS, 'watches open');

  assert.equal(h.server.dropWatches(), KINDS);
  h.server.create(pod('a', 'shop', '10.1.0.1'));
  await waitFor(() => source.current().pods.has('shop/a'), 'pod a after a graceful end');
  await waitFor(() => h.server.watchCount() === KINDS, 'watches reopened');
  // A cleanly ended stream is resumed by the library itself.
  assert.ok(source.informerStates().every((s) => s.restarts === 0));

  assert.equal(h.server.dropWatches({ abrupt: true }), KINDS);
  h.server.create(pod('b', 'shop', '10.1.0.2'));
  h.server.delete('Pod', 'shop', 'a');
  await waitFor(() => source.current().pods.has('shop/b') && !source.current().pods.has('shop/a'), 'pods after a reset');
  await waitFor(() => h.server.watchCount() === KINDS, 'watches reopened after reset');
  // A reset connection is an error to the library, which stops the informer: the source restarted it.
  assert.ok(source.informerStates().filter((s) => !s.absent).every((s) => s.restarts >= 1));
  // Resuming from the last version needs no relist.
  assert.equal(h.server.goneCount, 0);
  assert.equal(listCount(h), KINDS);
});

test('bookmarks are accepted and keep a quiet informer current, so a reconnect after compaction needs no relist', async () => {
  const h = await cluster({ bookmarkIntervalMs: 50 });
  const source = await startSource(h);
  // Changes to other kinds move the global version; the pod informer sees only bookmarks.
  for (let i = 1; i <= 5; i++) h.server.create(node(`node-${i}`, `192.168.50.${i}`));
  const target = String(h.server.resourceVersion);
  await waitFor(() => source.informerStates().find((s) => s.kind === 'Pod')?.resourceVersion === target, 'pod informer at the bookmark version');
  await waitFor(() => source.informerStates().filter((s) => !s.absent).every((s) => s.resourceVersion === target), 'every informer at the bookmark version');
  await waitFor(() => source.current().nodes.size === 5, 'nodes');
  h.server.compact();
  h.server.dropWatches();
  await waitFor(() => h.server.watchCount() === KINDS, 'watches reopened');
  assert.equal(h.server.goneCount, 0);
  assert.equal(listCount(h), KINDS);
});

test('start() fails with a hint when a kind cannot be listed (e.g. RBAC)', async () => {
  const h = await cluster();
  h.server.failRequests((req) => (req.path.endsWith('/authorizationpolicies') ? 403 : undefined));
  const source = new KubernetesSource({ kubeConfig: h.kubeConfig, logger: silentLogger, backoff: { initialMs: 20, maxMs: 50 }, syncTimeoutMs: 2000 });
  sources.push(source);
  await assert.rejects(source.start(), (err: Error) => {
    assert.match(err.message, /WEFT_ERR_KUBE_SYNC|did not sync/);
    assert.match(err.message, /AuthorizationPolicy/);
    assert.match(err.message, /RBAC/);
    return true;
  });
  // The list goes on being retried after start() gave up (however slow the machine).
  await waitFor(() => h.server.requests.filter((r) => r.path.endsWith('/authorizationpolicies')).length >= 2, 'the list was retried');
  await source.stop();
});

test('status conditions for a rejected AuthorizationPolicy are written once and can be read back', async () => {
  const h = await cluster();
  h.server.create(badPolicy('bad', 'shop'));
  const source = await startSource(h);
  const status = new StatusStore();
  const writer = new KubernetesStatusWriter({
    kubeConfig: h.kubeConfig, status, logger: silentLogger, generationOf: (k, ns, n) => source.generationOf(k, ns, n), minIntervalMs: 5, retry: { initialMs: 20, maxMs: 100 },
  });
  writer.start();
  try {
    // The first write fails; the writer retries.
    h.server.failRequests((req) => (req.method === 'PATCH' ? 500 : undefined));
    status.setSourceRejections(source.rejected());
    await waitFor(() => h.server.requests.some((r) => r.method === 'PATCH'), 'a failed write');
    h.server.failRequests(undefined);
    await waitFor(() => Array.isArray((h.server.get('AuthorizationPolicy', 'shop', 'bad')?.['status'] as Obj | undefined)?.['conditions']), 'status written');
    const patch = h.server.requests.filter((r) => r.method === 'PATCH');
    assert.equal(patch.at(-1)?.path, '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies/bad/status');
    assert.equal(patch.at(-1)?.query['fieldManager'], 'weft-controller');
    const stored = h.server.get('AuthorizationPolicy', 'shop', 'bad');
    const conditions = (stored?.['status'] as { conditions: Obj[] }).conditions;
    assert.equal(conditions.length, 1);
    assert.deepEqual({ ...conditions[0], lastTransitionTime: typeof conditions[0]?.['lastTransitionTime'] },
      { type: 'Accepted', status: 'False', reason: 'Invalid', message: source.rejected()[0]?.reason, lastTransitionTime: 'string', observedGeneration: 1 });
    // The spec is untouched by a status write.
    assert.deepEqual((stored?.['metadata'] as Obj)['labels'], { tier: 5 });

    // Nothing changed: nothing is written again.
    const writes = h.server.requests.filter((r) => r.method === 'PATCH').length;
    status.setSourceRejections([...source.rejected()]);
    status.setModelConditions([]);
    await writer.idle();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.server.requests.filter((r) => r.method === 'PATCH').length, writes);

    // Fixed: the rejection goes away and the conditions are cleared.
    status.setSourceRejections([]);
    await waitFor(() => ((h.server.get('AuthorizationPolicy', 'shop', 'bad')?.['status'] as { conditions?: unknown[] }).conditions ?? [1]).length === 0, 'conditions cleared');
  } finally {
    await writer.stop();
  }
});

/**
 * The controller in Kubernetes mode against `h`, and a ztunnel's config client for node-1
 * applying what it is pushed into `store`; `pushes` lists every update as received.
 */
async function controllerWithZtunnel(h: ApiServerHarness, logger: Logger): Promise<{
  client: ConfigClient; store: Map<string, Resource>; pushes: { snapshot: boolean; updated: number; removed: number }[]; close: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-controller-kube-'));
  const config = parseControllerConfig([
    '--source', 'kubernetes', '--kubeconfig', h.kubeconfigPath, '--state-dir', join(dir, 'state'),
    '--address', '127.0.0.1', '--port', '0', '--admin-port', '0', '--debounce-ms', '20', '--log-level', 'off',
    // The in-process ztunnel below holds the controller's own token rather than a projected one.
    '--client-auth', 'hmac', '--insecure-allow-hmac-auth', 'true',
  ], {});
  assert.equal(config.source, 'kubernetes');
  const controller = await startController(config, { logger });
  const store = new Map<string, Resource>();
  const pushes: { snapshot: boolean; updated: number; removed: number }[] = [];
  const who = { kind: 'ztunnel', node: 'node-1' } as const;
  const client = new ConfigClient({
    url: controller.pushUrl, client: who, token: controller.tokenFor(who), rootsPem: controller.rootsPem,
    apply: (u) => {
      pushes.push({ snapshot: u.snapshot, updated: u.updated.length, removed: u.removed.length });
      if (u.snapshot) store.clear();
      for (const r of u.removed) store.delete(`${r.kind}/${r.key}`);
      const { valid, rejected } = validateResources(u.updated);
      for (const r of valid) store.set(`${r.kind}/${r.key}`, r);
      return { rejected };
    },
  });
  return {
    client, store, pushes,
    close: async () => {
      await client.close();
      await controller.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An API server holding the ambient namespace shop, node-1, one pod there and one policy. */
async function ambientShop(podName: string, withPolicy: Obj): Promise<ApiServerHarness> {
  const h = await cluster();
  h.server.create(namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }));
  h.server.create(node('node-1', '192.168.50.1'));
  h.server.create(pod(podName, 'shop', '10.1.0.5'));
  h.server.create(withPolicy);
  return h;
}

test('startController --source kubernetes: a pod from the API server reaches a ztunnel; its status is written back', async () => {
  const h = await ambientShop('web-1', policy('bad', 'shop', 'CUSTOM'));
  const { client, store, close } = await controllerWithZtunnel(h, silentLogger);
  try {
    client.start();
    await client.ready();
    const w = store.get('workload/uid-shop-web-1');
    assert.ok(w?.kind === 'workload', `got ${[...store.keys()].join(', ')}`);
    assert.deepEqual({ name: w.value.name, ns: w.value.namespace, node: w.value.node, addresses: w.value.addresses },
      { name: 'web-1', ns: 'shop', node: 'node-1', addresses: ['10.1.0.5'] });

    h.server.create(pod('web-2', 'shop', '10.1.0.6'));
    await waitFor(() => store.has('workload/uid-shop-web-2'), 'second pod pushed');

    // The model refuses CUSTOM policies at ztunnel; the condition lands on the object.
    await waitFor(() => {
      const s = h.server.get('AuthorizationPolicy', 'shop', 'bad')?.['status'] as { conditions?: { type: string; status: string }[] } | undefined;
      return s?.conditions?.some((c) => c.type === 'Accepted') === true;
    }, 'policy status written by the controller');
  } finally {
    await close();
  }
});

/** A logger keeping its warnings, for counting how often a failure was reported. */
function warnings(): { logger: Logger; messages: (kind: string) => string[] } {
  const lines: Obj[] = [];
  const logger = new Logger({ level: 'warn', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } });
  return { logger, messages: (kind) => lines.filter((l) => l['kind'] === kind).map((l) => String(l['msg'])) };
}

test('a kind whose CRD is not installed (404): logged once, retried with backoff, the others sync; its objects come once it is served', async () => {
  const h = await cluster();
  h.server.create(pod('web', 'shop', '10.1.0.1'));
  h.server.create({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' }, spec: { hosts: ['reviews'] } });
  // What an API server without the VirtualService CRD answers on its collection.
  h.server.failRequests((req) => (req.path.endsWith('/virtualservices') ? 404 : undefined));
  const log = warnings();
  const source = await startSource(h, log.logger);
  assert.ok(source.current().pods.has('shop/web'), 'the other kinds synced');
  assert.equal(source.current().virtualServices.size, 0);
  assert.equal(source.informerStates().find((s) => s.kind === 'VirtualService')?.absent, true);
  await waitFor(() => h.server.requests.filter((r) => r.path.endsWith('/virtualservices')).length >= 4, 'the list retried');
  assert.deepEqual(log.messages('VirtualService'), ['the API server does not serve this kind; reading none until it does'], 'one warning for all the retries');
  // Later changes of the served kinds still arrive.
  h.server.create(pod('api', 'shop', '10.1.0.2'));
  await waitFor(() => source.current().pods.has('shop/api'), 'a new pod while one kind is absent');
  // The CRD is installed: the kind is picked up without a restart.
  h.server.failRequests(undefined);
  await waitFor(() => source.current().virtualServices.has('shop/reviews') && source.informerStates().find((s) => s.kind === 'VirtualService')?.absent === false,
    'the VirtualService once served', 10_000);
});

test('a watch forbidden mid-run (403): logged once, the last state kept, retried with backoff, and it recovers', async () => {
  const h = await cluster();
  h.server.create(policy('deny-all', 'shop', 'DENY'));
  const log = warnings();
  const source = await startSource(h, log.logger);
  await waitFor(() => h.server.watchCount() === KINDS, 'watches open');
  assert.ok(source.current().authorizationPolicies.has('shop/deny-all'));
  // RBAC is revoked for the kind: every list and watch of it is refused.
  h.server.failRequests((req) => (req.path.endsWith('/authorizationpolicies') ? 403 : undefined));
  h.server.dropWatches();
  await waitFor(() => h.server.requests.filter((r) => r.path.endsWith('/authorizationpolicies') && r.watch).length >= 4, 'the watch retried');
  assert.ok(source.current().authorizationPolicies.has('shop/deny-all'), 'a refused read wipes nothing: the DENY policy stays');
  assert.deepEqual(log.messages('AuthorizationPolicy'), ['the API server forbids reading this kind; keeping what was read']);
  h.server.create(policy('allow-shop', 'shop'));
  h.server.failRequests(undefined);
  await waitFor(() => source.current().authorizationPolicies.size === 2, 'converged once allowed again', 10_000);
});

test('a watch closed every few moments loses no event and lists nothing again', async () => {
  const h = await cluster();
  const source = await startSource(h);
  await waitFor(() => h.server.watchCount() === KINDS, 'watches open');
  for (let i = 1; i <= 10; i++) {
    h.server.create(pod(`p-${i}`, 'shop', `10.1.0.${i}`));
    if (i > 1) h.server.delete('Pod', 'shop', `p-${i - 1}`);
    h.server.dropWatches({ abrupt: i % 2 === 0 });
    await waitFor(() => h.server.watchCount() === KINDS, `watches reopened (${i})`);
  }
  await waitFor(() => source.current().pods.size === 1 && source.current().pods.has('shop/p-10'), 'every create and delete seen');
  assert.equal(h.server.goneCount, 0);
  assert.equal(listCount(h), KINDS, 'no relist: every reconnect resumed from its version');
});

test('a namespace labelled with an unknown dataplane mode is not enrolled, and the source warns once', async () => {
  const h = await cluster();
  h.server.create(namespace('typo', { 'istio.io/dataplane-mode': 'foo' }));
  h.server.create(pod('web', 'typo', '10.1.0.1'));
  const lines: Obj[] = [];
  const source = await startSource(h, new Logger({ level: 'warn', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } }));
  const ns = source.current().namespaces.get('typo');
  const web = source.current().pods.get('typo/web');
  assert.ok(ns !== undefined && web !== undefined);
  assert.equal(podWantsMesh(web, ns), false, 'its pods stay out of the mesh');
  const warned = (): Obj[] => lines.filter((l) => l['namespace'] === 'typo');
  assert.deepEqual(warned().map((l) => l['label']), ['istio.io/dataplane-mode=foo']);
  // Unrelated changes do not repeat it; a different wrong value is said again; the right one enrolls.
  h.server.create(pod('api', 'typo', '10.1.0.2'));
  await waitFor(() => source.current().pods.has('typo/api'), 'another pod');
  h.server.update(namespace('typo', { 'istio.io/dataplane-mode': 'Ambient' }));
  await waitFor(() => warned().length === 2, 'the new value warned');
  h.server.update(namespace('typo', { 'istio.io/dataplane-mode': 'ambient' }));
  await waitFor(() => source.current().namespaces.get('typo')?.metadata.labels['istio.io/dataplane-mode'] === 'ambient', 'enrolled');
  assert.equal(podWantsMesh(web, source.current().namespaces.get('typo')), true);
  assert.deepEqual(warned().map((l) => l['label']), ['istio.io/dataplane-mode=foo', 'istio.io/dataplane-mode=Ambient']);
});

test('the API server going away and coming back, three times: the controller keeps its state, pushes nothing while it is gone, and catches up', async () => {
  const h = await ambientShop('web', policy('deny-all', 'shop', 'DENY'));
  const lines: Obj[] = [];
  const failures = (): number => lines.filter((l) => l['msg'] === 'informer failed; restarting').length;
  const { client, store, pushes, close } = await controllerWithZtunnel(h, new Logger({ level: 'warn', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } }));
  try {
    client.start();
    await client.ready();
    await waitFor(() => store.has('workload/uid-shop-web'), 'the workload pushed');
    assert.ok([...store.keys()].some((k) => k.startsWith('authorization/')), `the policy pushed: ${[...store.keys()].join(', ')}`);
    const before = [...store.keys()].sort();
    // The source's own watches; the controller also watches its root ConfigMap and CA Secret by name.
    const sourceWatches = (): number => h.server.watchCount() - h.server.watchCount('configmaps') - h.server.watchCount('secrets');
    await waitFor(() => sourceWatches() === KINDS, 'watches open');
    for (let round = 1; round <= 3; round++) {
      const seen = failures();
      const pushed = pushes.length;
      await h.server.suspend();
      await waitFor(() => failures() > seen, `the controller noticed the outage (${round})`, 10_000);
      assert.equal(pushes.length, pushed, 'nothing is pushed while the API server is away');
      assert.deepEqual([...store.keys()].sort(), before);
      await h.server.resume();
      await waitFor(() => sourceWatches() === KINDS, `watches reopened (${round})`, 10_000);
    }
    assert.deepEqual([...store.keys()].sort(), before, 'the proxy still holds every workload and policy');
    assert.equal(pushes.filter((p) => p.removed > 0 || (p.snapshot && pushes.indexOf(p) > 0)).length, 0, 'nothing removed, no fresh snapshot');
    // A change made while it was away arrives once it is back; the reconnects resumed their watches.
    await h.server.suspend();
    h.server.create(pod('web-2', 'shop', '10.1.0.6'));
    await h.server.resume();
    await waitFor(() => store.has('workload/uid-shop-web-2'), 'the pod created during the outage', 10_000);
    assert.equal(h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length, 1, 'pods were listed once');
  } finally {
    await close();
  }
});

test('list forbidden at start (403): the source waits on instead of failing, says once which kind and why, and starts once allowed', async () => {
  const h = await cluster();
  h.server.create(pod('web', 'shop', '10.1.0.1'));
  h.server.failRequests((req) => (req.path.endsWith('/peerauthentications') ? 403 : undefined));
  const lines: Obj[] = [];
  const source = new KubernetesSource({
    kubeConfig: h.kubeConfig, logger: new Logger({ level: 'warn', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } }),
    debounceMs: 10, backoff: { initialMs: 20, maxMs: 100 }, syncWarnMs: 200,
  });
  sources.push(source);
  let started = false;
  const starting = source.start().then(() => { started = true; });
  starting.catch(() => undefined);
  // Repeated while waiting, naming what is still missing: in the end only the refused kind.
  const waiting = (): Obj | undefined => lines.find((l) => l['msg'] === 'informers not synced yet; waiting' && JSON.stringify(l['kinds']) === '["PeerAuthentication"]');
  await waitFor(() => waiting() !== undefined, 'the waiting warning naming PeerAuthentication', 10_000);
  await waitFor(() => h.server.requests.filter((r) => r.path.endsWith('/peerauthentications')).length >= 4, 'the list retried');
  assert.equal(started, false, 'no start on a partial view');
  assert.match(String(waiting()?.['hint']), /RBAC/);
  assert.equal(lines.filter((l) => l['kind'] === 'PeerAuthentication').length, 1, 'the refusal is logged once, not per retry');
  h.server.failRequests(undefined);
  await starting;
  assert.ok(source.current().pods.has('shop/web'));
});
