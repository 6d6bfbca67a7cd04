// The test API server's own checks, which the install tests lean on: RBAC decided from the stored
// roles and bindings (so a missing grant is a 403, not a silent pass), discovery, create and
// replace with their conflicts, and custom objects validated and pruned by their CRD.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TestApiServer } from '#controller/source/testing/apiserver.ts';

const servers: TestApiServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function start(options: Parameters<typeof TestApiServer.start>[0] = {}): Promise<TestApiServer> {
  const s = await TestApiServer.start(options);
  servers.push(s);
  return s;
}

async function call(s: TestApiServer, method: string, path: string, token: string | undefined, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': contentType }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

test('RBAC: a service account may do what its bindings grant, cluster-wide or in the bound namespace, by name where the rule names one', async () => {
  const s = await start({ token: 'admin', users: { sa: 'system:serviceaccount:ns:ctl' }, rbac: true });
  s.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'read-pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] });
  s.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'b' }, roleRef: { kind: 'ClusterRole', name: 'read-pods' }, subjects: [{ kind: 'ServiceAccount', name: 'ctl', namespace: 'ns' }] });
  s.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'lease', namespace: 'ns' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['mine'], verbs: ['get'] }] });
  s.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'lease', namespace: 'ns' }, roleRef: { kind: 'Role', name: 'lease' }, subjects: [{ kind: 'ServiceAccount', name: 'ctl', namespace: 'ns' }] });
  s.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mine', namespace: 'ns' }, spec: {} });
  s.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'other', namespace: 'ns' }, spec: {} });
  s.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mine', namespace: 'elsewhere' }, spec: {} });
  assert.equal((await call(s, 'GET', '/api/v1/pods', 'sa')).status, 200);
  const denied = await call(s, 'GET', '/api/v1/namespaces/ns/secrets', 'sa');
  assert.equal(denied.status, 403);
  assert.equal(denied.body['message'], 'secrets is forbidden: User "system:serviceaccount:ns:ctl" cannot list resource "secrets" in API group "" in the namespace "ns"');
  assert.equal((await call(s, 'GET', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/mine', 'sa')).status, 200);
  assert.equal((await call(s, 'GET', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/other', 'sa')).status, 403, 'resourceNames limit the rule');
  assert.equal((await call(s, 'GET', '/apis/coordination.k8s.io/v1/namespaces/elsewhere/leases/mine', 'sa')).status, 403, 'a RoleBinding grants in its namespace only');
  assert.equal((await call(s, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/mine', 'sa', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mine' } })).status, 403, 'get is not update');
  assert.equal((await call(s, 'GET', '/api/v1/namespaces/ns/secrets', 'admin')).status, 200, 'the administrator is never refused');
  assert.equal((await call(s, 'GET', '/api/v1/pods', 'nobody')).status, 401);
  assert.deepEqual(s.denials.map((r) => [r.user, r.verb, r.path]), [
    ['system:serviceaccount:ns:ctl', 'list', '/api/v1/namespaces/ns/secrets'],
    ['system:serviceaccount:ns:ctl', 'get', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/other'],
    ['system:serviceaccount:ns:ctl', 'get', '/apis/coordination.k8s.io/v1/namespaces/elsewhere/leases/mine'],
    ['system:serviceaccount:ns:ctl', 'update', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/mine'],
  ]);
});

test('create and replace: 201, 409 AlreadyExists, 409 Conflict on a stale resourceVersion, 404 for a missing object', async () => {
  const s = await start();
  const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'a' } };
  const created = await call(s, 'POST', '/apis/coordination.k8s.io/v1/namespaces/ns/leases', undefined, lease);
  assert.equal(created.status, 201);
  const meta = created.body['metadata'] as { namespace: string; resourceVersion: string };
  assert.equal(meta.namespace, 'ns');
  assert.equal((await call(s, 'POST', '/apis/coordination.k8s.io/v1/namespaces/ns/leases', undefined, lease)).body['reason'], 'AlreadyExists');
  const replaced = await call(s, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l', undefined, { ...lease, metadata: { name: 'l', resourceVersion: meta.resourceVersion }, spec: { holderIdentity: 'b' } });
  assert.equal(replaced.status, 200);
  const stale = await call(s, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l', undefined, { ...lease, metadata: { name: 'l', resourceVersion: meta.resourceVersion }, spec: { holderIdentity: 'c' } });
  assert.equal(stale.status, 409);
  assert.equal((s.get('Lease', 'ns', 'l')?.['spec'] as { holderIdentity: string }).holderIdentity, 'b');
  assert.equal((await call(s, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/none', undefined, { ...lease, metadata: { name: 'none' } })).status, 404);
});

test('discovery lists the served kinds with their scope and status subresources', async () => {
  const s = await start();
  const core = await call(s, 'GET', '/api/v1', undefined);
  const names = (core.body['resources'] as { name: string; namespaced: boolean }[]).map((r) => r.name);
  assert.ok(names.includes('pods') && names.includes('pods/status') && names.includes('configmaps'));
  const groups = (await call(s, 'GET', '/apis', undefined)).body['groups'] as { name: string }[];
  assert.ok(groups.some((g) => g.name === 'apiextensions.k8s.io') && groups.some((g) => g.name === 'coordination.k8s.io'));
  const apps = (await call(s, 'GET', '/apis/apps/v1', undefined)).body['resources'] as { name: string; kind: string; namespaced: boolean }[];
  assert.deepEqual(apps.find((r) => r.name === 'daemonsets'), { name: 'daemonsets', singularName: 'daemonset', namespaced: true, kind: 'DaemonSet', shortNames: ['ds'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] });
});

test('custom objects are validated and pruned by their CRD; fieldValidation=Strict refuses unknown fields', async () => {
  const s = await start();
  s.create({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'peerauthentications.security.istio.io' },
    spec: {
      group: 'security.istio.io', scope: 'Namespaced', names: { kind: 'PeerAuthentication', plural: 'peerauthentications' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { mtls: { type: 'object', properties: { mode: { type: 'string', enum: ['STRICT', 'PERMISSIVE'] } } } } } } } } }],
    },
  });
  const pa = (spec: unknown): Record<string, unknown> => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'p', namespace: 'ns' }, spec });
  const path = '/apis/security.istio.io/v1/namespaces/ns/peerauthentications/p?fieldManager=t';
  const bad = await call(s, 'PATCH', path, undefined, pa({ mtls: { mode: 'OFF' } }), 'application/apply-patch+yaml');
  assert.equal(bad.status, 422);
  assert.deepEqual((bad.body['details'] as { causes: unknown[] }).causes, [{ reason: 'FieldValueNotSupported', message: 'spec.mtls.mode: Unsupported value: "OFF": supported values: "STRICT", "PERMISSIVE"', field: 'spec.mtls.mode' }]);
  const strict = await call(s, 'PATCH', `${path}&fieldValidation=Strict`, undefined, pa({ mtls: { mode: 'STRICT' }, extra: 1 }), 'application/apply-patch+yaml');
  assert.equal(strict.status, 400);
  assert.match(String(strict.body['message']), /strict decoding error: unknown field "spec.extra"/);
  assert.equal((await call(s, 'PATCH', path, undefined, pa({ mtls: { mode: 'STRICT' }, extra: 1 }), 'application/apply-patch+yaml')).status, 201);
  assert.deepEqual(s.get('PeerAuthentication', 'ns', 'p')?.['spec'], { mtls: { mode: 'STRICT' } }, 'the unknown field is pruned');
});
