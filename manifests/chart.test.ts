// The chart as the code reads it: rendered with its defaults and with overrides, every object
// applied through the real client library to the in-repo API server (which validates custom
// objects against the chart's CRDs), the committed plain YAML equal to a fresh render, a
// cluster's own Istio CRDs and GatewayClass detected and left alone, and every container's
// arguments and environment accepted by its component's own config parser, with the files
// they name mounted and the addresses they dial served.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { Ports } from '#core/ports.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { otlpExporter, parseMeshConfig } from '#controller/model/mesh-config.ts';
import { inClusterControllerUrl } from '#controller/deploy/kubernetes-deployer.ts';
import { renderWaypointObjects } from '#controller/deploy/waypoint-objects.ts';
import { parseObject } from '#controller/source/parse.ts';
import type { Gateway } from '#controller/source/types.ts';
import { TestApiServer } from '#controller/source/testing/apiserver.ts';
import { parseWaypointConfig } from '#waypoint/config.ts';
import { HOST_ROOTS } from '#ztunnel/capture/find-netns.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { loadChart, renderChart } from './render/chart.ts';
import type { KubeObject, ReleaseOptions } from './render/chart.ts';
import { containerInvocation, mountFor } from './render/container.ts';
import type { ContainerInvocation } from './render/container.ts';
import { CHART_DIR, INSTALL_DIR, PLAIN_RELEASE, renderPlain } from './render/plain.ts';

const chart = loadChart(CHART_DIR);
const IMAGE_ENTRY_POINTS = (JSON.parse(readFileSync(new URL('../tsconfig.build.json', import.meta.url), 'utf8')) as { files: string[] }).files;
const servers: TestApiServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

function render(values: Record<string, unknown> = {}, extra: Partial<ReleaseOptions> = {}): KubeObject[] {
  return renderChart(chart, { name: 'weft', namespace: 'istio-system', values, ...extra }).objects();
}

function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o !== undefined, `${kind} ${name} is rendered`);
  return o;
}

function kubeConfigFor(server: TestApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'admin' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'admin' }],
    currentContext: 'test',
  });
  return kc;
}

/** Server-side apply of each object through the generic client, as `kubectl apply --server-side` does. */
async function applyAll(server: TestApiServer, objects: readonly KubeObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kubeConfigFor(server));
  // Through YAML and the library's own loader, so the typed models see what kubectl would send.
  const typed = loadAllYaml(objects.map((o) => stringify(o)).join('---\n')) as KubernetesObject[];
  for (const o of typed) {
    try {
      await api.patch(o, undefined, undefined, 'helm', true, PatchStrategy.ServerSideApply);
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      throw new Error(`applying ${o.kind ?? ''} ${o.metadata?.name ?? ''} failed: ${typeof body === 'string' ? body : String(err)}`, { cause: err });
    }
  }
}

test('the committed plain YAML is the chart rendered with its defaults, and kustomize builds it', () => {
  const fresh = renderPlain();
  assert.equal(readFileSync(`${INSTALL_DIR}/crds.yaml`, 'utf8'), fresh.crds, 'manifests/install/crds.yaml is stale: run node manifests/render/plain.ts');
  assert.equal(readFileSync(`${INSTALL_DIR}/weft.yaml`, 'utf8'), fresh.weft, 'manifests/install/weft.yaml is stale: run node manifests/render/plain.ts');
  assert.equal(PLAIN_RELEASE.namespace, 'istio-system');
  // kubectl's own kustomize (Debian kubernetes-client, installed by the bootstrap) builds the base to the same objects.
  const built = spawnSync('kubectl', ['kustomize', INSTALL_DIR], { encoding: 'utf8' });
  assert.equal(built.error, undefined, 'kubectl is missing: run scripts/bootstrap.sh');
  assert.equal(built.status, 0, built.stderr);
  const names = (text: string): string[] => parseAllDocuments(text).map((d) => d.toJS() as KubeObject | null).filter((o): o is KubeObject => o !== null).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(names(built.stdout), names(fresh.weft));
});

test('every rendered object applies to the API server; custom objects are validated against the chart\'s CRDs', async () => {
  const server = await TestApiServer.start();
  servers.push(server);
  const objects = renderChart(chart, { ...PLAIN_RELEASE, values: { ...PLAIN_RELEASE.values } }).objects();
  const kinds = new Set(objects.map((o) => o.kind));
  for (const k of ['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'DaemonSet', 'PodDisruptionBudget', 'GatewayClass']) {
    assert.ok(kinds.has(k), `the chart renders a ${k}`);
  }
  await applyAll(server, objects);
  for (const o of objects) {
    const ns = typeof o.metadata['namespace'] === 'string' ? o.metadata['namespace'] : '';
    assert.ok(server.get(o.kind, ns, o.metadata.name) !== undefined, `${o.kind} ${o.metadata.name} is stored`);
  }
  const crd = server.get('CustomResourceDefinition', '', 'authorizationpolicies.security.istio.io');
  const established = ((crd?.['status'] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Established');
  assert.equal(established?.status, 'True');

  const api = KubernetesObjectApi.makeApiClient(kubeConfigFor(server));
  const policy = (spec: Record<string, unknown>, name = 'p'): KubernetesObject => ({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'shop' }, spec,
  }) as KubernetesObject;
  const refused = async (o: KubernetesObject, code: number, message: RegExp): Promise<void> => {
    await assert.rejects(api.patch(o, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply), (err: unknown) => {
      const e = err as { code?: number; body?: unknown };
      assert.equal(e.code, code);
      assert.match((JSON.parse(String(e.body)) as { message: string }).message, message);
      return true;
    });
  };
  await api.patch(policy({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'], ports: ['8080'] } }] }] }), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
  await refused(policy({ action: 'REJECT' }), 422, /spec\.action: Unsupported value: "REJECT"/);
  await refused(policy({ rules: [{ to: [{ operation: { ports: [8080] } }] }] }), 422, /spec\.rules\[0\]\.to\[0\]\.operation\.ports\[0\].*must be of type string/);
  await refused(policy({ targetRef: { kind: 'Gateway' } }), 422, /spec\.targetRef\.name: Required value/);
  await refused({ ...policy({}), apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', spec: { mtls: { mode: 'SOMETIMES' } } } as KubernetesObject, 422, /spec\.mtls\.mode: Unsupported value/);
  // Fields the schema does not name reach weft (not pruned), which reports them and reads the policy fail-safe.
  await api.patch(policy({ action: 'ALLOW', rules: [{ from: [{ source: { principals: ['a'], trustDomains: ['x'] } }] }] }, 'kept'), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
  const kept = server.get('AuthorizationPolicy', 'shop', 'kept');
  assert.deepEqual((kept?.['spec'] as { rules: unknown[] }).rules, [{ from: [{ source: { principals: ['a'], trustDomains: ['x'] } }] }]);
  const parsed = parseObject(kept);
  assert.ok(parsed.ok && parsed.object.kind === 'AuthorizationPolicy');
  assert.deepEqual(parsed.object.spec.rules, [], 'an ALLOW rule with a field weft cannot use allows nobody');
  // What the schema prunes: fields at the top of a document that no schema node keeps.
  await api.patch({ ...policy({}, 'pruned'), extra: 'gone' } as KubernetesObject, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
  assert.equal(server.get('AuthorizationPolicy', 'shop', 'pruned')?.['extra'], undefined);
  // VirtualService and DestinationRule are served from their CRDs and keep what Istio users write.
  await api.patch({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'shop' },
    spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] },
  } as KubernetesObject, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
  assert.deepEqual((server.get('VirtualService', 'shop', 'vs')?.['spec'] as { http: unknown }).http, [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]);
  await refused({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'dr', namespace: 'shop' }, spec: { host: 'reviews', subsets: [{ labels: { v: '1' } }] },
  } as KubernetesObject, 422, /spec\.subsets\[0\]\.name: Required value/);
  // Telemetry keeps what weft does not implement (metrics) for the status to name, and refuses what cannot be a percentage.
  const tel = (spec: Record<string, unknown>, name = 't'): KubernetesObject => ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace: 'shop' }, spec }) as KubernetesObject;
  await api.patch(tel({ accessLogging: [{ disabled: true }], tracing: [{ randomSamplingPercentage: 12.5 }], metrics: [{ overrides: [{ disabled: true }] }] }), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
  const storedTelemetry = parseObject(server.get('Telemetry', 'shop', 't'));
  assert.ok(storedTelemetry.ok && storedTelemetry.object.kind === 'Telemetry');
  assert.deepEqual(storedTelemetry.object.spec.tracing, [{ providers: [], randomSamplingPercentage: 12.5 }]);
  assert.deepEqual(storedTelemetry.object.fieldProblems, [{ path: 'spec.metrics', message: 'not supported by weft' }]);
  await refused(tel({ tracing: [{ randomSamplingPercentage: 150 }] }), 422, /spec\.tracing\[0\]\.randomSamplingPercentage: Invalid value.*less than or equal to 100/);
  await refused(tel({ accessLogging: [{ providers: [{}] }] }), 422, /spec\.accessLogging\[0\]\.providers\[0\]\.name: Required value/);
});

test('the API server refuses a CRD whose schema is not structural', async () => {
  const server = await TestApiServer.start();
  servers.push(server);
  const crd = (schema: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'things.example.com' },
    spec: { group: 'example.com', scope: 'Namespaced', names: { kind: 'Thing', plural: 'things' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }] },
  });
  assert.throws(() => server.create(crd({ type: 'object', properties: { spec: { properties: { a: { type: 'string' } } } } })), /properties\[spec\]\.type: Required value/);
  assert.throws(() => server.create(crd({ type: 'object', properties: { spec: { type: 'object', anyOf: [{ type: 'object' }] } } })), /anyOf\[0\]\.type: Forbidden/);
  assert.throws(() => server.create(crd({ type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } })), /properties\[labels\]: Forbidden/);
  assert.throws(() => server.create(crd({ type: 'object', properties: { spec: { type: 'array' } } })), /items: Required value/);
  server.create(crd({ type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] } } }));
});

test('a cluster that runs Istio keeps its CRDs and GatewayClass; the rest installs', async () => {
  const server = await TestApiServer.start();
  servers.push(server);
  const istioCrd = server.create({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: 'authorizationpolicies.security.istio.io', labels: { app: 'istio-pilot', 'app.kubernetes.io/part-of': 'istio' } },
    spec: {
      group: 'security.istio.io', scope: 'Namespaced', names: { kind: 'AuthorizationPolicy', plural: 'authorizationpolicies' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
    },
  });
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: 'defaultProviders: {}\n' } });
  const istioClass = server.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } });
  const lookup: ReleaseOptions['lookup'] = (_apiVersion, kind, namespace, name) => server.get(kind, namespace, name);
  const r = renderChart(chart, { name: 'weft', namespace: 'istio-system', values: { createNamespace: true, meshConfig: { defaultProviders: { tracing: ['otel'] } } }, lookup });
  assert.deepEqual(r.crds.skipped.map((c) => c.metadata.name), ['authorizationpolicies.security.istio.io']);
  assert.deepEqual(r.crds.install.map((c) => c.metadata.name).sort(), ['destinationrules.networking.istio.io', 'peerauthentications.security.istio.io', 'telemetries.telemetry.istio.io', 'virtualservices.networking.istio.io']);
  assert.equal(r.objects().some((o) => o.kind === 'GatewayClass'), false, 'Istio\'s GatewayClass is left to istiod');
  assert.equal(r.objects().some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'istio'), false, 'istiod\'s mesh config is left to it, and read');
  await applyAll(server, r.objects());
  assert.equal(server.get('CustomResourceDefinition', '', 'authorizationpolicies.security.istio.io')?.['metadata'] !== undefined, true);
  assert.deepEqual(server.get('CustomResourceDefinition', '', 'authorizationpolicies.security.istio.io')?.['spec'], istioCrd['spec']);
  assert.deepEqual(server.get('GatewayClass', '', 'istio-waypoint')?.['spec'], istioClass['spec']);
  // A GatewayClass this release made (Helm's ownership annotation) stays rendered on upgrade.
  server.update({ ...istioClass, metadata: { ...(istioClass['metadata'] as object), annotations: { 'meta.helm.sh/release-name': 'weft' } } });
  const upgrade = renderChart(chart, { name: 'weft', namespace: 'istio-system', lookup, isUpgrade: true });
  assert.equal(upgrade.objects().some((o) => o.kind === 'GatewayClass'), true);
});

// ---- the containers as their code reads them -----------------------------------------------

interface Rendered {
  objects: KubeObject[];
  controller: ContainerInvocation;
  ztunnel: ContainerInvocation;
  controllerConfig: ReturnType<typeof parseControllerConfig>;
  ztunnelConfig: ReturnType<typeof parseZtunnelConfig>;
}

function containers(objects: KubeObject[]): Rendered {
  const ns = 'istio-system';
  const controller = containerInvocation(find(objects, 'Deployment', 'weft-controller'), { name: 'weft-controller-5d9c7-abcde', namespace: ns, nodeName: 'node1' }, 'controller');
  const ztunnel = containerInvocation(find(objects, 'DaemonSet', 'ztunnel'), { name: 'ztunnel-x7k2p', namespace: ns, nodeName: 'node1' }, 'ztunnel');
  return {
    objects, controller, ztunnel,
    controllerConfig: parseControllerConfig(controller.args, controller.env),
    ztunnelConfig: parseZtunnelConfig(ztunnel.args, ztunnel.env),
  };
}

/** Which program the container runs: `node <file>` where the file is a component's main in the image (this repo). */
function program(inv: ContainerInvocation): string {
  assert.equal(inv.command[0], 'node', `${inv.container}: runs node`);
  const main = inv.command[1] ?? '';
  // The image holds what scripts/build-image.sh emits: the entry points tsconfig.build.json names, as .js.
  const source = main.replace(/\.js$/, '.ts');
  assert.ok(main.endsWith('.js') && IMAGE_ENTRY_POINTS.includes(source), `${inv.container}: ${main} is emitted into the image (tsconfig.build.json)`);
  assert.ok(existsSync(new URL(`../${source}`, import.meta.url)), `${inv.container}: ${source} exists`);
  return main;
}

/** A path the component reads must be mounted, from the volume the manifest says. */
function mounted(inv: ContainerInvocation, path: string, what: string): Record<string, unknown> {
  const m = mountFor(inv, path);
  assert.ok(m !== undefined, `${inv.container}: ${what} ${path} lies under a volumeMount`);
  return m.volume;
}

function probePort(inv: ContainerInvocation): unknown {
  const probe = inv.spec['readinessProbe'] as { httpGet?: { port?: unknown; path?: unknown } } | undefined;
  return probe?.httpGet?.port;
}

function checkContainers(r: Rendered, values: { trustDomain: string; namespace: string }): void {
  const { controllerConfig: cc, ztunnelConfig: zc } = r;
  assert.equal(program(r.controller), 'controller/main.js');
  assert.equal(program(r.ztunnel), 'ztunnel/main.js');

  // The controller reads the Kubernetes API, keeps its state on a volume, and is probed by the kubelet.
  assert.equal(cc.source, 'kubernetes');
  assert.equal(cc.rootNamespace, values.namespace);
  assert.equal(cc.trustDomain, values.trustDomain);
  assert.ok('emptyDir' in mounted(r.controller, cc.stateDir, 'the state dir'));
  assert.equal(probePort(r.controller), cc.adminPort, 'the readiness probe asks the admin port');
  assert.equal(cc.adminAddress, '0.0.0.0', 'the kubelet probes from outside the pod, so admin listens on the pod address');
  assert.deepEqual((r.controller.spec['ports'] as { containerPort: number }[]).map((p) => p.containerPort).sort(), [cc.adminPort, cc.port].sort());
  // Istio's mesh config: the `mesh` key of ConfigMap istio, mounted where the flag points.
  const meshVolume = mounted(r.controller, cc.meshConfigFile, 'the mesh config') as { configMap?: { name: string; optional?: boolean } };
  assert.deepEqual(meshVolume.configMap, { name: 'istio', optional: true });
  assert.equal(cc.meshConfigFile.split('/').at(-1), 'mesh');

  // ztunnel dials the controller's Service, on the port that reaches the controller's listener.
  assert.equal(zc.node, 'node1', 'the node name comes from spec.nodeName');
  assert.equal(zc.trustDomain, cc.trustDomain);
  assert.equal(zc.source.kind, 'controller');
  if (zc.source.kind !== 'controller') return;
  const url = new URL(zc.source.url);
  const service = find(r.objects, 'Service', url.hostname.split('.')[0] ?? '');
  assert.equal(url.hostname, `${service.metadata.name}.${String(service.metadata['namespace'])}.svc`);
  const svcPort = ((service['spec'] as { ports: { port: number; targetPort: number }[] }).ports).find((p) => p.port === Number(url.port));
  assert.ok(svcPort !== undefined, `the Service has port ${url.port}`);
  assert.equal(svcPort.targetPort, cc.port, 'the Service port leads to the controller\'s listener');
  const selector = (service['spec'] as { selector: Record<string, string> }).selector;
  for (const [k, v] of Object.entries(selector)) assert.equal(r.controller.podLabels[k], v, `the Service selects the controller pods (${k})`);
  // The controller's serving certificate carries this URI SAN (main.ts); the ztunnel checks it.
  assert.equal(zc.source.controllerIdentity, `spiffe://${cc.trustDomain}/ns/${cc.rootNamespace}/sa/weft-controller`);
  // The token is a projected service-account token for the CA's audience; the root certificate comes from the ConfigMap the mesh publishes.
  const token = mounted(r.ztunnel, zc.source.tokenFile, 'the token file') as { projected?: { sources?: { serviceAccountToken?: { path: string; audience: string } }[] } };
  const sat = token.projected?.sources?.find((s) => s.serviceAccountToken !== undefined)?.serviceAccountToken;
  assert.ok(sat !== undefined, 'the token volume is a projected service-account token');
  assert.equal(sat.audience, 'istio-ca');
  assert.equal(zc.source.tokenFile.split('/').at(-1), sat.path);
  const root = mounted(r.ztunnel, zc.source.rootCertFile, 'the root certificate') as { configMap?: { name: string } };
  assert.equal(root.configMap?.name, 'istio-ca-root-cert');
  assert.equal(zc.source.rootCertFile.split('/').at(-1), 'root-cert.pem');
  assert.equal(probePort(r.ztunnel), Ports.readiness);
  assert.equal(zc.adminHost, '0.0.0.0');
  assert.ok((r.ztunnel.spec['ports'] as { name: string; containerPort: number }[]).some((p) => p.name === 'metrics' && p.containerPort === Ports.metrics), 'scrape configs find the port named metrics');
  assert.equal(r.ztunnel.podSpec['hostPID'], true, 'ztunnel finds pods\' network namespaces through the host\'s /proc');
  const netns = (r.ztunnel.spec['volumeMounts'] as { mountPath: string; mountPropagation?: string }[]).find((m) => m.mountPath === HOST_ROOTS.namedDir);
  assert.equal(netns?.mountPropagation, 'HostToContainer', 'namespaces the runtime names after ztunnel started are seen');
  assert.deepEqual(mounted(r.ztunnel, HOST_ROOTS.namedDir, 'named network namespaces'), { name: 'netns', hostPath: { path: HOST_ROOTS.namedDir, type: 'DirectoryOrCreate' } });
  const caps = (r.ztunnel.spec['securityContext'] as { capabilities: { add: string[] } }).capabilities.add;
  assert.ok(caps.includes('SYS_PTRACE'), 'other users\' /proc/<pid>/ns/net and cgroup are readable');
  // The capture ledger and the hand-off socket outlive the pod: a hostPath.
  assert.ok(zc.stateDir !== undefined);
  assert.ok((mounted(r.ztunnel, zc.stateDir, 'the state folder') as { hostPath?: unknown }).hostPath !== undefined);
  // Old and new ztunnel overlap on a node during a rolling update, and the old one's drain fits its grace period.
  const ds = find(r.objects, 'DaemonSet', 'ztunnel') as unknown as { spec: { updateStrategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } } } };
  assert.deepEqual(ds.spec.updateStrategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  assert.ok(zc.drainMs < Number(r.ztunnel.podSpec['terminationGracePeriodSeconds']) * 1000);

  // One service account per component, each rendered.
  for (const inv of [r.controller, r.ztunnel]) find(r.objects, 'ServiceAccount', String(inv.podSpec['serviceAccountName']));
  // Leader election: the Role lets the controller at exactly its Lease.
  if (cc.leaderElect) {
    assert.ok(r.controller.env['WEFT_POD_NAME'] !== undefined && cc.identity === r.controller.env['WEFT_POD_NAME'], 'the Lease names the pod');
    const role = find(r.objects, 'Role', 'weft-controller');
    const named = (role['rules'] as { resources: string[]; resourceNames?: string[] }[]).find((x) => x.resources.includes('leases') && x.resourceNames !== undefined);
    assert.deepEqual(named?.resourceNames, [cc.leaseName]);
  }
}

test('every container\'s arguments and environment pass its component\'s own config parser (defaults)', () => {
  const r = containers(render());
  checkContainers(r, { trustDomain: 'cluster.local', namespace: 'istio-system' });
  assert.equal(r.controllerConfig.leaderElect, true);
  assert.equal(r.controllerConfig.leaseDurationMs, 10_000);
  assert.equal(r.controllerConfig.identity, 'weft-controller-5d9c7-abcde');
  assert.equal(r.ztunnelConfig.logLevel, 'info');
  assert.equal((find(r.objects, 'Deployment', 'weft-controller')['spec'] as { replicas: number }).replicas, 2);
  find(r.objects, 'PodDisruptionBudget', 'weft-controller');
  assert.equal(r.controller.spec['image'], 'weft:0.1.0');
});

test('values reach every component: trust domain, log level, image, resources, replicas, election, namespace', () => {
  const objects = renderChart(chart, {
    name: 'mesh', namespace: 'weft-system',
    values: {
      trustDomain: 'example.org', logLevel: 'debug', image: { repository: 'registry.example/weft', tag: '1.2.3' },
      controller: { replicas: 1, leaderElection: { enabled: false }, resources: { requests: { cpu: '1' } } },
      ztunnel: { resources: { limits: { memory: '1Gi' } } }, gatewayClass: { create: false },
    },
  }).objects();
  const r = containers(objects);
  checkContainers(r, { trustDomain: 'example.org', namespace: 'weft-system' });
  assert.equal(r.controllerConfig.logLevel, 'debug');
  assert.equal(r.ztunnelConfig.logLevel, 'debug');
  assert.equal(r.controllerConfig.leaderElect, false);
  assert.equal(r.controller.spec['image'], 'registry.example/weft:1.2.3');
  // Helm coalesces maps: what the override leaves out keeps its default.
  assert.deepEqual(r.controller.spec['resources'], { requests: { cpu: '1', memory: '128Mi' }, limits: { memory: '512Mi' } });
  assert.deepEqual(r.ztunnel.spec['resources'], { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '1Gi' } });
  assert.equal(objects.some((o) => o.kind === 'PodDisruptionBudget'), false, 'one replica needs no disruption budget');
  assert.equal(JSON.stringify(find(objects, 'Role', 'weft-controller')['rules']).includes('leases'), false, 'no election, no Lease');
  assert.equal(objects.some((o) => o.kind === 'GatewayClass'), false);
  assert.equal(objects.some((o) => o.kind === 'Namespace'), false, 'Helm creates the namespace (--create-namespace)');
  for (const o of objects) if (o.metadata['namespace'] !== undefined) assert.equal(o.metadata['namespace'], 'weft-system', `${o.kind} ${o.metadata.name}`);
});

test('the waypoint the controller deploys, as it applies it, passes the waypoint\'s config parser', () => {
  const cc = containers(render()).controllerConfig;
  const parsed = parseObject({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop', uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  assert.ok(parsed.ok);
  const objects = renderWaypointObjects(parsed.object as Gateway, { controllerUrl: inClusterControllerUrl(cc.rootNamespace, cc.port) }) as KubeObject[];
  const deployment = find(objects, 'Deployment', 'waypoint');
  const inv = containerInvocation(deployment, { name: 'waypoint-7c9f-x2', namespace: 'shop', nodeName: 'node1' });
  // The deployer sets the trust domain from the controller's own (kubernetes-deployer.ts).
  const wc = parseWaypointConfig(inv.args, { ...inv.env, WEFT_TRUST_DOMAIN: cc.trustDomain });
  assert.equal(program(inv), 'waypoint/main.js');
  assert.equal(wc.identity, 'spiffe://cluster.local/ns/shop/sa/waypoint');
  assert.equal(String(inv.podSpec['serviceAccountName']), 'waypoint', 'it runs as the identity it asks for');
  assert.equal(new URL(wc.controllerUrl).hostname, `weft-controller.${cc.rootNamespace}.svc`);
  assert.equal(Number(new URL(wc.controllerUrl).port), cc.port);
  const token = mounted(inv, wc.tokenFile, 'the token file') as { projected?: { sources?: { serviceAccountToken?: { path: string; audience: string } }[] } };
  assert.equal(token.projected?.sources?.find((s) => s.serviceAccountToken !== undefined)?.serviceAccountToken?.audience, 'istio-ca');
  const root = mounted(inv, wc.rootCertFile, 'the root certificate') as { configMap?: { name: string } };
  assert.equal(root.configMap?.name, 'istio-ca-root-cert');
  assert.equal(probePort(inv), Ports.readiness);
  assert.equal(wc.adminHost, '0.0.0.0');
});

test('meshConfig, when set, becomes the mesh key of ConfigMap istio, which the controller\'s own parser reads without a problem', () => {
  const meshData = (objects: KubeObject[]): string => (find(objects, 'ConfigMap', 'istio')['data'] as { mesh: string }).mesh;
  assert.equal(render().some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'istio'), false, 'unset, an existing mesh config (istiod\'s) is never overwritten');
  const meshConfig = {
    extensionProviders: [{ name: 'otel', opentelemetry: { service: 'observability/collector.observability.svc.cluster.local', port: 4318, http: { path: '/v1/traces', headers: [{ name: 'x-tenant', value: 'a' }] } } }],
    defaultProviders: { tracing: ['otel'] },
    defaultConfig: { tracing: { sampling: 5 } },
  };
  const parsed = parseMeshConfig(meshData(render({ meshConfig })));
  assert.deepEqual(parsed.problems, []);
  const otel = parsed.extensionProviders.get('otel');
  assert.ok(otel?.kind === 'opentelemetry');
  assert.deepEqual(otlpExporter(otel), { provider: 'otel', url: 'http://collector.observability.svc.cluster.local:4318/v1/traces', headers: { 'x-tenant': 'a' } });
  assert.deepEqual(parsed.defaultProviders.tracing, ['otel']);
  assert.equal(parsed.defaultSamplingPercentage, 5);
});

test('rateLimit.redis.address reaches every waypoint the controller deploys as its global rate-limit Redis', () => {
  assert.equal(containers(render()).controllerConfig.waypointRateLimitRedis, '', 'none by default');
  const cc = containers(render({ rateLimit: { redis: { address: 'redis.weft-system:6379' } } })).controllerConfig;
  assert.equal(cc.waypointRateLimitRedis, 'redis.weft-system:6379');
  const parsed = parseObject({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop', uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  assert.ok(parsed.ok);
  const objects = renderWaypointObjects(parsed.object as Gateway, { controllerUrl: inClusterControllerUrl(cc.rootNamespace, cc.port), rateLimitRedis: cc.waypointRateLimitRedis }) as KubeObject[];
  const inv = containerInvocation(find(objects, 'Deployment', 'waypoint'), { name: 'waypoint-7c9f-x2', namespace: 'shop', nodeName: 'node1' });
  const wc = parseWaypointConfig(inv.args, { ...inv.env, WEFT_TRUST_DOMAIN: cc.trustDomain });
  assert.deepEqual(wc.rateLimitRedis, { host: 'redis.weft-system', port: 6379 });
  assert.throws(() => containers(render({ rateLimit: { redis: { address: 'redis' } } })), /waypoint-rate-limit-redis: must be host:port/);
});
