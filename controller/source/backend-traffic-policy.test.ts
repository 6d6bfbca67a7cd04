// Envoy Gateway's BackendTrafficPolicy on Kubernetes, against the in-repo API server (no real
// one can be installed here) over real HTTPS through the real client library. Without its CRD
// the kind is not served: the source still syncs, reads none, says so once and looks again with
// backoff; once the chart's optional CRD is installed the policies are read, and the controller
// writes their status as Envoy Gateway does, per ancestor in `status.ancestors[]`.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Logger, silentLogger } from '#core/log.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { startController } from '#controller/main.ts';
import { KubernetesSource } from '#controller/source/kubernetes.ts';
import { startApiServerHarness, waitFor } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { ROUTE_CONTROLLER_NAME } from '#controller/status/kubernetes-writer.ts';
import { loadChart, renderChart } from '#manifests/render/chart.ts';
import { CHART_DIR } from '#manifests/render/plain.ts';

type Obj = Record<string, unknown>;

const BTP_PATH = '/apis/gateway.envoyproxy.io/v1alpha1/backendtrafficpolicies';
const NOT_SERVED = 'kind not served (its CRD is not installed); reading none of it and checking again with backoff';

/** The chart's optional CRD, rendered as `rateLimit.installCRD: true` installs it. */
function chartCrd(): Obj {
  const objects = renderChart(loadChart(CHART_DIR), { name: 'weft', namespace: 'istio-system', values: { rateLimit: { installCRD: true } } }).objects();
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'backendtrafficpolicies.gateway.envoyproxy.io');
  assert.ok(crd !== undefined, 'the chart renders the BackendTrafficPolicy CRD with rateLimit.installCRD');
  return crd;
}

const btp = (name: string, target: Obj, extra: Obj = {}): Obj => ({
  apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name, namespace: 'shop' },
  spec: { targetRefs: [target], rateLimit: { type: 'Global', global: { rules: [{ limit: { requests: 10, unit: 'Minute' } }] } }, ...extra },
});

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function harness(): Promise<ApiServerHarness> {
  const h = await startApiServerHarness();
  cleanups.push(() => h.close());
  return h;
}

/** The controller test goes through a whole model build and status writes: a slow machine gets time. */
const until = (pred: () => boolean, label: string): Promise<void> => waitFor(pred, label, 15_000);

test('the chart leaves the CRD out by default', () => {
  const objects = renderChart(loadChart(CHART_DIR), { name: 'weft', namespace: 'istio-system', values: {} }).objects();
  assert.equal(objects.some((o) => o.metadata.name === 'backendtrafficpolicies.gateway.envoyproxy.io'), false);
});

test('without the CRD the source syncs, reads none, logs it once and looks again with backoff; with it, the policies are read', async () => {
  const h = await harness();
  const lines: Obj[] = [];
  const logger = new Logger({ level: 'info', sink: { write: (l) => lines.push(JSON.parse(l) as Obj) } });
  const source = new KubernetesSource({
    kubeConfig: h.kubeConfig, logger, debounceMs: 10, backoff: { initialMs: 20, maxMs: 200 }, absentBackoff: { initialMs: 20, maxMs: 80 },
  });
  cleanups.push(() => source.stop());
  await source.start();
  const state = (): ReturnType<KubernetesSource['informerStates']>[number] | undefined => source.informerStates().find((s) => s.kind === 'BackendTrafficPolicy');
  assert.deepEqual([state()?.synced, state()?.absent, state()?.objects], [true, true, 0]);
  assert.throws(() => h.server.create(btp('early', { kind: 'Service', name: 'reviews' })), /not served/);

  const lists = (): number => h.server.requests.filter((r) => r.path === BTP_PATH && !r.watch).length;
  await until(() => lists() >= 5, 'the kind looked for again');
  assert.equal(lines.filter((l) => l['msg'] === NOT_SERVED).length, 1, 'said once, not on every look');
  assert.deepEqual(lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error'), [], 'a missing optional CRD is no failure');
  assert.equal(h.server.requests.filter((r) => r.path === BTP_PATH && r.watch).length, 0, 'nothing to watch');
  // The backoff has reached its cap (20, 40, 80, 80 ms...): four more looks take three full delays at least.
  const before = lists();
  const since = performance.now();
  await until(() => lists() >= before + 4, 'four more looks');
  assert.ok(performance.now() - since >= 3 * 80, `four looks in ${Math.round(performance.now() - since)} ms with an 80 ms backoff`);
  assert.equal(source.current().backendTrafficPolicies.size, 0);

  h.server.create(chartCrd());
  h.server.create(btp('limit', { kind: 'Service', name: 'reviews' }));
  await until(() => source.current().backendTrafficPolicies.has('shop/limit'), 'the policy read once the CRD is there');
  assert.equal(state()?.absent, false);
  assert.ok(lines.some((l) => l['msg'] === 'optional kind is served now; watching it'));
  await until(() => h.server.watchCount() === source.informerStates().length, 'every kind watched, this one too');
  // Watched from now on: a change arrives through the watch.
  h.server.create(btp('second', { kind: 'Service', name: 'ratings' }));
  await until(() => source.current().backendTrafficPolicies.has('shop/second'), 'a later policy through the watch');

  // The CRD is removed (its objects with it): the kind is absent again, its policies gone.
  h.server.delete('CustomResourceDefinition', '', 'backendtrafficpolicies.gateway.envoyproxy.io');
  await until(() => state()?.absent === true && source.current().backendTrafficPolicies.size === 0, 'no policies once the CRD is gone');
  assert.equal(lines.filter((l) => l['msg'] === NOT_SERVED).length, 2, 'said again, once, after it had been served');
  assert.deepEqual(lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error'), []);
});

test('the controller writes each policy\'s status per ancestor, as Envoy Gateway: ancestorRef, controllerName, Accepted', async () => {
  const h = await harness();
  h.server.create(chartCrd());
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' } } });
  h.server.create({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  h.server.create({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'shop' },
    spec: { clusterIP: '10.96.0.20', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  h.server.create(btp('limit', { group: '', kind: 'Service', name: 'reviews' }));
  h.server.create(btp('lost', { group: '', kind: 'Service', name: 'nope' }));
  // A field weft does not implement: still Accepted, and named.
  h.server.create(btp('partly', { group: '', kind: 'Service', name: 'reviews' }, { timeout: { tcp: { connectTimeout: '1s' } } }));

  const dir = await mkdtemp(join(tmpdir(), 'weft-btp-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const controller = await startController(parseControllerConfig([
    '--source', 'kubernetes', '--kubeconfig', h.kubeconfigPath, '--state-dir', join(dir, 'state'),
    '--address', '127.0.0.1', '--port', '0', '--admin-port', '0', '--debounce-ms', '20', '--log-level', 'off',
  ], {}), { logger: silentLogger });
  cleanups.push(() => controller.close());

  type Ancestor = { ancestorRef: Obj; controllerName: string; conditions: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] };
  const ancestors = (name: string): Ancestor[] | undefined => (h.server.get('BackendTrafficPolicy', 'shop', name)?.['status'] as { ancestors?: Ancestor[] } | undefined)?.ancestors;
  // The controller deploys the waypoint; the API server here allocates no cluster IP, so the test does.
  await until(() => h.server.get('Service', 'shop', 'waypoint') !== undefined, 'the waypoint\'s Service');
  const wpService = h.server.get('Service', 'shop', 'waypoint') ?? {};
  h.server.update({ ...wpService, spec: { ...(wpService['spec'] as Obj), clusterIP: '10.96.0.30' } });
  await until(() => ancestors('limit')?.[0]?.conditions[0]?.reason === 'Accepted' && ancestors('partly')?.[0]?.conditions[0]?.reason === 'Accepted'
    && ancestors('lost') !== undefined, 'every policy\'s status, with the waypoint serving');

  const limit = ancestors('limit') ?? [];
  assert.deepEqual(limit.map((a) => [a.ancestorRef, a.controllerName]), [[{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'shop', name: 'waypoint' }, ROUTE_CONTROLLER_NAME]]);
  assert.deepEqual(limit[0]?.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'True', 'Accepted', 1]]);
  assert.match(limit[0]?.conditions[0]?.message ?? '', /global limit \(shared through Redis\) applied to requests for shop\/reviews/);

  const lost = ancestors('lost') ?? [];
  assert.deepEqual(lost.map((a) => a.ancestorRef), [{ group: '', kind: 'Service', namespace: 'shop', name: 'nope' }]);
  assert.deepEqual(lost[0]?.conditions.map((c) => [c.type, c.status, c.reason]), [['Accepted', 'False', 'TargetNotFound']]);

  const partly = ancestors('partly')?.[0]?.conditions[0];
  assert.equal(partly?.status, 'True');
  assert.match(partly.message, /spec\.timeout/);
  // Policy status is per ancestor only: no top-level conditions list.
  assert.equal((h.server.get('BackendTrafficPolicy', 'shop', 'limit')?.['status'] as Obj)['conditions'], undefined);

  // The target goes away: the status follows.
  h.server.delete('Service', 'shop', 'reviews');
  await until(() => ancestors('limit')?.[0]?.conditions[0]?.reason === 'TargetNotFound', 'TargetNotFound once the Service is gone');
  assert.deepEqual(ancestors('limit')?.map((a) => a.ancestorRef), [{ group: '', kind: 'Service', namespace: 'shop', name: 'reviews' }]);
});
