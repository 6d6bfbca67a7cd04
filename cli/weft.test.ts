import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController, type RunningController } from '#controller/main.ts';
import { runWeft } from '#cli/testing.ts';

let dir: string;
let controller: RunningController;

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }
`;
const POD = `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, uid: 0f2c1d8e-1111-4222-8333-944455556666, labels: { app: web } }
spec: { nodeName: node1, serviceAccountName: web }
status: { phase: Running, podIP: 10.1.0.5, hostIP: 192.0.2.1, conditions: [{ type: Ready, status: "True" }] }
`;
const CUSTOM_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec: { action: CUSTOM, rules: [{}] }
`;

const run = runWeft;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  await mkdir(join(dir, 'manifests'));
  await writeFile(join(dir, 'manifests', 'ns.yaml'), NAMESPACE);
  await writeFile(join(dir, 'manifests', 'pod.yaml'), POD);
  await writeFile(join(dir, 'manifests', 'policy.yaml'), CUSTOM_POLICY);
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), manifestDirs: [join(dir, 'manifests')], listenAddress: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'off',
  }), { logger: silentLogger });
  await controller.settled();
});

after(async () => {
  await controller.close();
  await rm(dir, { recursive: true, force: true });
});

test('analyze reports bad YAML and unsupported policies, and exits non-zero', async () => {
  const bad = join(dir, 'bad');
  await mkdir(bad);
  await writeFile(join(bad, 'broken.yaml'), 'kind: [unclosed\n');
  await writeFile(join(bad, 'policy.yaml'), CUSTOM_POLICY);
  const { out, code } = await run('analyze', bad);
  assert.equal(code, 1);
  assert.match(out, /broken\.yaml\s+document 0: not valid YAML/);
  assert.match(out, /AuthorizationPolicy\/shop\/ext\s+Accepted\s+False/);
});

test('analyze passes clean manifests', async () => {
  const good = join(dir, 'good');
  await mkdir(good);
  await writeFile(join(good, 'ns.yaml'), NAMESPACE);
  const { out, code } = await run('analyze', good);
  assert.equal(code, 0);
  assert.match(out, /1 objects read/);
  assert.match(out, /no problems found/);
});

const TYPO_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: only-frontend, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  action: ALLOW
  rules:
    - form: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]
`;
const GATEWAY_WITH_TYPO = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ingress, namespace: shop }
spec:
  gatewayClassName: example
  listeners: [{ name: web, port: 80, protocol: HTTP, hostnam: x }]
`;

test('analyze names a field weft cannot use and exits non-zero (the from typo allows nobody, not everybody)', async () => {
  const typo = join(dir, 'typo');
  await mkdir(typo);
  await writeFile(join(typo, 'ns.yaml'), NAMESPACE);
  await writeFile(join(typo, 'policy.yaml'), TYPO_POLICY);
  const { out, code } = await run('analyze', typo);
  assert.equal(code, 1);
  assert.match(out, /AuthorizationPolicy\/shop\/only-frontend\s+spec\.rules\[0\]\.form\s+unknown field \(did you mean "from"\?\)/);
  assert.match(out, /AuthorizationPolicy\/shop\/only-frontend\s+Accepted\s+False\s+InvalidField\s+.*ALLOW rule\(s\) 0 never match/);
  assert.doesNotMatch(out, /no problems found/);
});

test('analyze reports unknown Gateway fields but not the known ones weft ignores', async () => {
  const gw = join(dir, 'gateway');
  await mkdir(gw);
  await writeFile(join(gw, 'gateway.yaml'), GATEWAY_WITH_TYPO);
  const bad = await run('analyze', gw);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /Gateway\/shop\/ingress\s+KnownFields\s+False\s+UnknownField\s+spec\.listeners\[0\]\.hostnam: unknown field/);
  await writeFile(join(gw, 'gateway.yaml'), GATEWAY_WITH_TYPO.replace('hostnam: x', 'allowedRoutes: { namespaces: { from: Same } }'));
  const good = await run('analyze', gw);
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /no problems found/);
});

const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: shop }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], selector: { app: web }, ports: [{ name: http, port: 80 }] }
`;
const GOOD_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /api } }], backendRefs: [{ name: web, port: 80 }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-delete, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: DENY
  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]
`;
const BAD_ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: missing-backend, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules: [{ backendRefs: [{ name: nosuch, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: two-parents, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: gone, port: 80 }, { group: "", kind: Service, name: web, port: 80 }]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: redirect-and-rewrite, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules:
    - filters:
        - { type: RequestRedirect, requestRedirect: { hostname: a.example } }
        - { type: URLRewrite, urlRewrite: { hostname: b.example } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: wrong-target, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: nope }]
  action: DENY
  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]
`;

/** A folder under the test's dir holding `files` (name → YAML). */
async function manifestFolder(name: string, files: Record<string, string>): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
  return folder;
}

test('analyze judges routes per parent and L7 policies against a waypoint the controller would deploy', async () => {
  const good = await manifestFolder('routes-good', { 'mesh.yaml': MESH, 'routes.yaml': GOOD_ROUTE });
  const clean = await run('analyze', good);
  assert.equal(clean.code, 0, clean.out);
  assert.match(clean.out, /no problems found/);
  assert.match(clean.out, /waypoints judged as if deployed \(the controller deploys them\): shop\/waypoint/);

  const bad = await manifestFolder('routes-bad', { 'mesh.yaml': MESH, 'routes.yaml': BAD_ROUTES });
  const { out, code } = await run('analyze', bad);
  assert.equal(code, 1);
  assert.match(out, /HTTPRoute\/shop\/missing-backend \(parent Service web:80\)\s+ResolvedRefs\s+False\s+BackendNotFound\s+.*shop\/nosuch not found/);
  // The bad parent is reported although the route's other parent accepts it.
  assert.match(out, /HTTPRoute\/shop\/two-parents \(parent Service gone:80\)\s+Accepted\s+False\s+NoMatchingParent/);
  assert.doesNotMatch(out, /two-parents \(parent Service web:80\)/);
  assert.match(out, /HTTPRoute\/shop\/redirect-and-rewrite \(parent Service web:80\)\s+Accepted\s+False\s+IncompatibleFilters/);
  assert.match(out, /AuthorizationPolicy\/shop\/wrong-target\s+Accepted\s+False\s+TargetNotFound/);
  assert.doesNotMatch(out, /NoWaypoint|AddressNotAssigned|WaypointNotReady/);
  assert.match(out, /\n4 problem\(s\)\n/);
});

const TRACED = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: traced, namespace: shop }
spec: { tracing: [{ providers: [{ name: tenant }], randomSamplingPercentage: 10 }] }
`;

test('analyze --mesh-config judges a Telemetry\'s providers against the mesh config, as the controller does', async () => {
  const manifests = await manifestFolder('telemetry', { 'ns.yaml': NAMESPACE, 'telemetry.yaml': TRACED });
  const alone = await run('analyze', manifests);
  assert.equal(alone.code, 1, 'without the mesh config the provider is unknown');
  assert.match(alone.out, /Telemetry\/shop\/traced\s+Accepted\s+False\s+.*provider "tenant" unknown/);

  const http = join(dir, 'mesh-http.yaml');
  await writeFile(http, 'extensionProviders:\n- name: tenant\n  opentelemetry: { service: otel.observability.svc.cluster.local, port: 4318, http: { path: /v1/traces } }\n');
  const ok = await run('analyze', '--mesh-config', http, manifests);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /no problems found/);

  const grpc = join(dir, 'mesh-grpc.yaml');
  await writeFile(grpc, 'extensionProviders:\n- name: tenant\n  opentelemetry: { service: otel.observability.svc.cluster.local, port: 4317 }\n');
  const overGrpc = await run('analyze', '--mesh-config', grpc, manifests);
  assert.equal(overGrpc.code, 0, overGrpc.out);

  const zipkin = join(dir, 'mesh-zipkin.yaml');
  await writeFile(zipkin, 'extensionProviders:\n- name: tenant\n  zipkin: { service: zipkin.observability.svc.cluster.local, port: 9411 }\n');
  const refused = await run('analyze', '--mesh-config', zipkin, manifests);
  assert.equal(refused.code, 1);
  assert.match(refused.out, /Telemetry\/shop\/traced\s+Accepted\s+False\s+.*provider "tenant" is zipkin/);

  const broken = join(dir, 'mesh-broken.yaml');
  await writeFile(broken, 'extensionProviders: [unclosed\n');
  await assert.rejects(run('analyze', '--mesh-config', broken, manifests), (err: Error) => err.message.startsWith(`mesh config ${broken}: `));
});

test('workloads lists what the running controller computed', async () => {
  const { out } = await run('workloads', '--controller', controller.adminUrl);
  assert.match(out, /^NAMESPACE\s+NAME\s+ADDRESS\s+NODE\s+PROTOCOL/m);
  assert.match(out, /^shop\s+web\s+10\.1\.0\.5\s+node1\s+HBONE\s+web\s+-$/m);
});

test('status shows the rejected policy from the running controller', async () => {
  const { out } = await run('status', '--controller', controller.adminUrl);
  assert.match(out, /AuthorizationPolicy\s+shop\/ext\s+Accepted\s+False/);
});

test('an unreachable controller gives a clear error', async () => {
  await assert.rejects(run('status', '--controller', 'http://127.0.0.1:1'), /cannot reach http:\/\/127\.0\.0\.1:1\/status/);
});
