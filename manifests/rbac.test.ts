// Least privilege, checked two ways. Read from the code: every Kubernetes API call in
// controller/ (client method names, the informers over KUBE_RESOURCES, server-side apply's
// implied create, the generic custom-object calls) gives the verbs the controller needs, and
// the chart's ClusterRole and Role grant exactly those, no more; ztunnel and waypoints call no
// API and are bound to nothing. Then run: the controller, as its service account, against the
// in-repo API server enforcing the chart's RBAC, goes through deploying, re-classing and
// reporting on waypoints and policies and through leader election without one request refused.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController } from '#controller/main.ts';
import { KUBE_RESOURCES } from '#controller/source/kube/resources.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { loadChart, renderChart } from './render/chart.ts';
import type { KubeObject } from './render/chart.ts';
import { CHART_DIR } from './render/plain.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NAMESPACE = 'istio-system';
const objects = renderChart(loadChart(CHART_DIR), { name: 'weft', namespace: NAMESPACE, values: { createNamespace: true } }).objects();

/** `group|resource|verb`, resource with its subresource (`gateways/status`). */
type Permission = string;
const perm = (group: string, resource: string, verb: string): Permission => `${group}|${resource}|${verb}`;

/** Where the typed clients' kinds live (group, plural); a kind missing here fails the test until added. */
const TYPED_KINDS: Readonly<Record<string, [string, string]>> = {
  Namespace: ['', 'namespaces'], Node: ['', 'nodes'], Pod: ['', 'pods'], Service: ['', 'services'], ServiceAccount: ['', 'serviceaccounts'],
  ConfigMap: ['', 'configmaps'], Secret: ['', 'secrets'], EndpointSlice: ['discovery.k8s.io', 'endpointslices'], Deployment: ['apps', 'deployments'],
  Lease: ['coordination.k8s.io', 'leases'], TokenReview: ['authentication.k8s.io', 'tokenreviews'],
};
const VERBS: Readonly<Record<string, string>> = { list: 'list', read: 'get', create: 'create', patch: 'patch', replace: 'update', delete: 'delete' };
/** Method-name look-alikes in those files that are no API calls (String.prototype.replaceAll). */
const NOT_KINDS = new Set(['All']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== 'testing' && e !== 'node_modules' && e !== 'page') out.push(...sources(p));
    } else if (e.endsWith('.ts') && !e.endsWith('.test.ts')) {
      out.push(p);
    }
  }
  return out;
}

/** The permissions the code under `dir` needs, each with the file and call that needs it. */
function calledPermissions(dir: string): Map<Permission, string[]> {
  const need = new Map<Permission, string[]>();
  const add = (p: Permission, why: string): void => {
    need.set(p, [...(need.get(p) ?? []), why]);
  };
  const custom = KUBE_RESOURCES.filter((r) => r.group !== '' && !(r.group in TYPED_KINDS));
  for (const file of sources(join(ROOT, dir))) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('@kubernetes/client-node')) continue;
    const where = relative(ROOT, file);
    // Informers list, then watch, every kind weft reads.
    if (/new ListWatch\b/.test(text)) {
      for (const r of KUBE_RESOURCES) {
        add(perm(r.group, r.plural, 'list'), `${where}: ListWatch`);
        add(perm(r.group, r.plural, 'watch'), `${where}: ListWatch`);
      }
    }
    // Watches of one object by name (controller/ca/object-watch.ts) on a core collection path.
    if (text.includes('new ObjectWatch(')) {
      for (const m of text.matchAll(/path: [`']\/api\/v1\/(?:namespaces\/\$\{[^}]+\}\/)?([a-z]+)[`']/g)) add(perm('', m[1] ?? '', 'watch'), `${where}: ObjectWatch`);
    }
    const serverSideApply = text.includes('PatchStrategy.ServerSideApply');
    for (const m of text.matchAll(/\.(list|read|create|patch|replace|delete)(Namespaced|Cluster)?([A-Z][A-Za-z]*?)(ForAllNamespaces)?\(/g)) {
      const [call = '', method = '', , kindPart = ''] = m;
      if (NOT_KINDS.has(kindPart)) continue;
      const verb = VERBS[method] ?? method;
      if (kindPart === 'CustomObject') {
        for (const r of custom) add(perm(r.group, r.plural, verb), `${where}: ${call}`);
        continue;
      }
      if (kindPart === 'CustomObjectStatus') {
        for (const r of KUBE_RESOURCES.filter((x) => x.writesConditions)) add(perm(r.group, `${r.plural}/status`, verb), `${where}: ${call}`);
        continue;
      }
      const status = kindPart.endsWith('Status') && !(kindPart in TYPED_KINDS);
      const kind = status ? kindPart.slice(0, -'Status'.length) : kindPart;
      const typed = TYPED_KINDS[kind];
      assert.ok(typed !== undefined, `${where}: ${call} — which group and resource is ${kind}? add it to TYPED_KINDS`);
      const resource = status ? `${typed[1]}/status` : typed[1];
      add(perm(typed[0], resource, verb), `${where}: ${call}`);
      // An apply that creates the object is authorized as create too.
      if (verb === 'patch' && serverSideApply) add(perm(typed[0], resource, 'create'), `${where}: ${call} (server-side apply creates)`);
    }
  }
  return need;
}

/** What an account may do by the chart's bindings (resourceNames noted apart). */
function grants(subject: { name: string; namespace: string }): { perms: Set<Permission>; named: Map<Permission, string[]>; namespaced: Set<Permission> } {
  const perms = new Set<Permission>();
  const named = new Map<Permission, string[]>();
  const namespaced = new Set<Permission>();
  const bound = (o: KubeObject): boolean => ((o['subjects'] ?? []) as { kind: string; name: string; namespace?: string }[])
    .some((s) => s.kind === 'ServiceAccount' && s.name === subject.name && s.namespace === subject.namespace);
  for (const b of objects.filter((o) => (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && bound(o))) {
    const ref = b['roleRef'] as { kind: string; name: string };
    const role = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name);
    assert.ok(role !== undefined, `${b.kind} ${b.metadata.name} binds ${ref.kind} ${ref.name}, which the chart renders`);
    for (const rule of (role['rules'] ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]) {
      for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) {
        assert.ok(g !== '*' && r !== '*' && v !== '*', `${role.kind} ${role.metadata.name}: no wildcards`);
        const p = perm(g, r, v);
        perms.add(p);
        if (b.kind === 'RoleBinding') namespaced.add(p);
        if (rule.resourceNames !== undefined) named.set(p, rule.resourceNames);
      }
    }
  }
  return { perms, named, namespaced };
}

test('the controller\'s Role and ClusterRole grant exactly the verbs its code calls', () => {
  const called = calledPermissions('controller');
  const granted = grants({ name: 'weft-controller', namespace: NAMESPACE });
  const missing = [...called.keys()].filter((p) => !granted.perms.has(p)).map((p) => `${p} (${(called.get(p) ?? []).join('; ')})`);
  const unused = [...granted.perms].filter((p) => !called.has(p));
  assert.deepEqual(missing, [], 'called but not granted');
  assert.deepEqual(unused, [], 'granted but never called');
  // The Lease: only in the release namespace, and by name wherever the verb allows it.
  for (const v of ['get', 'update']) {
    assert.ok(granted.namespaced.has(perm('coordination.k8s.io', 'leases', v)));
    assert.deepEqual(granted.named.get(perm('coordination.k8s.io', 'leases', v)), ['weft-controller']);
  }
  assert.ok(granted.namespaced.has(perm('coordination.k8s.io', 'leases', 'create')));
});

test('ztunnel and waypoints call no Kubernetes API, and their accounts are bound to nothing', () => {
  for (const dir of ['ztunnel', 'waypoint', 'core']) assert.deepEqual([...calledPermissions(dir).keys()], [], `${dir}/ calls the Kubernetes API`);
  assert.equal(grants({ name: 'ztunnel', namespace: NAMESPACE }).perms.size, 0);
  const ztunnel = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'ztunnel');
  assert.equal(ztunnel?.['automountServiceAccountToken'], false, 'no API token in ztunnel pods');
});

// ---- running under the chart's RBAC -----------------------------------------------------------

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function waitFor(pred: () => boolean, label: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `group|resource` of an API path (`/apis/apps/v1/namespaces/x/deployments/y` → `apps|deployments`). */
function resourceOfPath(path: string): { group: string; resource: string } {
  const parts = path.split('/').filter((p) => p !== '');
  const [group, rest] = parts[0] === 'api' ? ['', parts.slice(2)] : [parts[1] ?? '', parts.slice(3)];
  const r = rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' ? rest.slice(2) : rest;
  return { group, resource: r[2] === undefined ? (r[0] ?? '') : `${r[0] ?? ''}/${r[2]}` };
}

test('the controller runs as its service account under the chart\'s RBAC without a refused request', async () => {
  const sa = `system:serviceaccount:${NAMESPACE}:weft-controller`;
  const h: ApiServerHarness = await startApiServerHarness({ users: { 'sa-token': sa }, rbac: true });
  cleanups.push(() => h.close());
  for (const o of objects) h.server.create(o);
  // The optional BackendTrafficPolicy CRD too, so its status is written under the same rules.
  const btpCrd = renderChart(loadChart(CHART_DIR), { name: 'weft', namespace: NAMESPACE, values: { rateLimit: { installCRD: true } } }).objects()
    .find((o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'backendtrafficpolicies.gateway.envoyproxy.io');
  assert.ok(btpCrd !== undefined);
  h.server.create(btpCrd);
  const dir = await mkdtemp(join(tmpdir(), 'weft-rbac-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, (await readFile(h.kubeconfigPath, 'utf8')).replace(/token: .*/, 'token: sa-token'), { mode: 0o600 });
  const controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), source: 'kubernetes', kubeconfig, listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 10,
    rootNamespace: NAMESPACE, leaderElect: true, leaseName: 'weft-controller', leaseDurationMs: 1500, identity: 'weft-controller-0',
  }), { logger: silentLogger });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await controller.close();
  });
  await waitFor(() => controller.isLeader(), 'leadership');

  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  const gw = h.server.create({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  // A policy with a field weft does not know: its condition goes to the policy's status.
  h.server.create({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'odd', namespace: 'shop' },
    spec: { action: 'ALLOW', rules: [{ from: [{ source: { principals: ['x'], trustDomains: ['y'] } }] }] },
  });
  h.server.create({
    apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: { name: 'limit', namespace: 'shop' },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'nope' }], rateLimit: { type: 'Local', local: { rules: [{ limit: { requests: 1, unit: 'Second' } }] } } },
  });
  await waitFor(() => h.server.get('Deployment', 'shop', 'waypoint') !== undefined, 'the waypoint Deployment');
  await waitFor(() => (h.server.get('BackendTrafficPolicy', 'shop', 'limit')?.['status'] as { ancestors?: unknown[] } | undefined)?.ancestors !== undefined, 'the rate-limit policy\'s status');
  await waitFor(() => (h.server.get('AuthorizationPolicy', 'shop', 'odd')?.['status'] as { conditions?: unknown[] } | undefined)?.conditions !== undefined, 'the policy\'s status');
  await waitFor(() => (h.server.get('Gateway', 'shop', 'waypoint')?.['status'] as { conditions?: unknown[] } | undefined)?.conditions !== undefined, 'the Gateway\'s status');
  // The Gateway stops being a waypoint: its objects are read back (owner check) and deleted.
  h.server.update({ ...gw, spec: { ...(gw['spec'] as object), gatewayClassName: 'other' } });
  await waitFor(() => h.server.get('Deployment', 'shop', 'waypoint') === undefined, 'the waypoint Deployment to be deleted');
  await controller.close();
  closed = true;

  assert.deepEqual(h.server.denials.map((r) => `${r.verb ?? ''} ${r.path}`), [], 'no request was refused');
  const granted = grants({ name: 'weft-controller', namespace: NAMESPACE }).perms;
  const called = calledPermissions('controller');
  const used = new Set(h.server.requests.filter((r) => r.user === sa).flatMap((r) => {
    const { group, resource } = resourceOfPath(r.path);
    return [perm(group, resource, r.verb ?? ''), ...(r.creates === true ? [perm(group, resource, 'create')] : [])];
  }));
  for (const p of used) {
    assert.ok(granted.has(p), `${p} was used and is granted`);
    assert.ok(called.has(p), `${p} was used, so the code listing must name it`);
  }
  for (const p of ['apps|deployments|create', 'apps|deployments|delete', 'apps|deployments|get', 'gateway.networking.k8s.io|gateways/status|patch',
    'security.istio.io|authorizationpolicies/status|patch', 'gateway.envoyproxy.io|backendtrafficpolicies/status|patch', 'coordination.k8s.io|leases|create', 'coordination.k8s.io|leases|update']) {
    assert.ok(used.has(p), `the run exercised ${p}`);
  }
});
