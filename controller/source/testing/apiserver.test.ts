// The in-repo API server's own protocol behaviour, seen with plain HTTP.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestApiServer } from '#controller/source/testing/apiserver.ts';

type Obj = Record<string, unknown>;
let server: TestApiServer;
const auth = { authorization: 'Bearer t0ken' };

before(async () => { server = await TestApiServer.start({ token: 't0ken', historyLimit: 4, bookmarkIntervalMs: 30 }); });
after(async () => { await server.close(); });

const pod = (name: string, ip = '10.0.0.1'): Obj =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { nodeName: 'n1' }, status: { podIP: ip } });
const policy = (name: string): Obj =>
  ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'shop' }, spec: { action: 'DENY' } });

async function json(path: string, init: RequestInit = {}): Promise<{ status: number; body: Obj }> {
  const res = await fetch(`${server.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
  return { status: res.status, body: await res.json() as Obj };
}

/** Opens a watch and reads its newline-delimited events. */
async function watch(path: string): Promise<{ next(): Promise<Obj | 'end'>; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(`${server.url}${path}`, { headers: auth, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.ok(res.body !== null);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  return {
    async next() {
      for (;;) {
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          return JSON.parse(line) as Obj;
        }
        const { done, value } = await reader.read() as { done: boolean; value?: Uint8Array };
        if (done) return 'end';
        buffered += decoder.decode(value, { stream: true });
      }
    },
    close() { ac.abort(); },
  };
}

test('requests without the token are refused with a Status', async () => {
  const res = await fetch(`${server.url}/api/v1/pods`);
  assert.equal(res.status, 401);
  assert.equal((await res.json() as Obj)['kind'], 'Status');
});

test('lists carry the current resourceVersion; built-in items omit kind, custom ones keep it', async () => {
  server.create(pod('a'));
  server.create(policy('p'));
  const pods = await json('/api/v1/pods');
  assert.equal(pods.body['kind'], 'PodList');
  assert.deepEqual(pods.body['metadata'], { resourceVersion: String(server.resourceVersion) });
  const items = pods.body['items'] as Obj[];
  assert.equal(items.length, 1);
  assert.equal(items[0]?.['kind'], undefined);
  assert.equal((items[0]?.['metadata'] as Obj)['namespace'], 'shop');
  const policies = await json('/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies');
  assert.equal((policies.body['items'] as Obj[])[0]?.['kind'], 'AuthorizationPolicy');
  assert.equal((await json('/api/v1/namespaces/other/pods')).body['items'] instanceof Array, true);
  assert.equal(((await json('/api/v1/namespaces/other/pods')).body['items'] as Obj[]).length, 0);
  assert.equal((await json('/apis/example.com/v1/widgets')).status, 404);
});

test('a watch replays from its resourceVersion, streams live changes and bookmarks, and ends at timeoutSeconds', async () => {
  const from = server.resourceVersion;
  server.update(pod('a', '10.0.0.2'));
  const w = await watch(`/api/v1/pods?watch=true&resourceVersion=${from}&allowWatchBookmarks=true&timeoutSeconds=1`);
  const replay = await w.next() as Obj;
  assert.equal(replay['type'], 'MODIFIED');
  assert.equal((replay['object'] as Obj)['kind'], 'Pod');
  server.delete('Pod', 'shop', 'a');
  const deleted = await w.next() as Obj;
  assert.equal(deleted['type'], 'DELETED');
  assert.equal(((deleted['object'] as Obj)['metadata'] as Obj)['resourceVersion'], String(server.resourceVersion));
  const bookmark = await w.next() as Obj;
  assert.equal(bookmark['type'], 'BOOKMARK');
  assert.deepEqual(bookmark['object'], { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(server.resourceVersion) } });
  let e: Obj | 'end';
  do e = await w.next(); while (e !== 'end');
  assert.equal(server.watchCount(), 0);
});

test('a watch from a compacted or overflowed resourceVersion gets ERROR 410 Expired and the stream ends', async () => {
  const old = server.resourceVersion;
  for (let i = 0; i < 6; i++) server.create(pod(`overflow-${i}`)); // more than historyLimit
  const w = await watch(`/api/v1/pods?watch=true&resourceVersion=${old}`);
  const e = await w.next() as Obj;
  assert.equal(e['type'], 'ERROR');
  assert.deepEqual({ ...(e['object'] as Obj), message: 'm' }, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'm', reason: 'Expired', code: 410 });
  assert.equal(await w.next(), 'end');

  const current = server.resourceVersion;
  server.compact();
  const fresh = await watch(`/api/v1/pods?watch=true&resourceVersion=${current}`);
  server.create(pod('after-compact'));
  assert.equal((await fresh.next() as Obj)['type'], 'ADDED');
  fresh.close();
  const stale = await watch(`/api/v1/pods?watch=true&resourceVersion=${current - 1}`);
  assert.equal((await stale.next() as Obj)['type'], 'ERROR');
  assert.equal(server.goneCount, 2);
});

test('a watch without resourceVersion starts with the current objects as ADDED; dropWatches ends it', async () => {
  const w = await watch('/api/v1/pods?watch=1');
  const first = await w.next() as Obj;
  assert.equal(first['type'], 'ADDED');
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(server.dropWatches() >= 1);
  let e: Obj | 'end';
  do e = await w.next(); while (e !== 'end');
});

test('status subresource: merge patch touches only status; other patch types and stale PUTs are refused', async () => {
  server.create(policy('s'));
  const path = '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies/s/status';
  const patched = await json(path, {
    method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify({ spec: { action: 'ALLOW' }, status: { conditions: [{ type: 'Accepted', status: 'True' }] } }),
  });
  assert.equal(patched.status, 200);
  const stored = server.get('AuthorizationPolicy', 'shop', 's');
  assert.deepEqual(stored?.['status'], { conditions: [{ type: 'Accepted', status: 'True' }] });
  assert.deepEqual(stored?.['spec'], { action: 'DENY' });
  const jsonPatch = await json(path, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: '[]' });
  assert.equal(jsonPatch.status, 415);
  const stale = await json(path, { method: 'PUT', body: JSON.stringify({ metadata: { resourceVersion: '1' }, status: {} }) });
  assert.equal(stale.status, 409);
  const put = await json(path, { method: 'PUT', body: JSON.stringify({ metadata: { resourceVersion: (stored?.['metadata'] as Obj)['resourceVersion'] }, status: { x: 1 } }) });
  assert.equal(put.status, 200);
  assert.deepEqual(server.get('AuthorizationPolicy', 'shop', 's')?.['status'], { x: 1 });
  assert.equal((await json('/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/none/status', { method: 'PATCH', body: '{}' })).status, 405);
});

test('server-side apply creates, then merges by field manager: dropped fields go, other managers\' fields stay', async () => {
  const path = '/apis/apps/v1/namespaces/shop/deployments/wp';
  const apply = (body: Obj, manager = 'weft-controller'): Promise<{ status: number; body: Obj }> => json(`${path}?fieldManager=${manager}&force=true`, {
    method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify(body),
  });
  const deployment = (labels: Record<string, string>, env: Obj[]): Obj => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'wp', labels },
    spec: { template: { spec: { containers: [{ name: 'waypoint', env }] } } }, status: { replicas: 9 },
  });
  const created = await apply(deployment({ a: '1', b: '2' }, [{ name: 'X', value: '1' }]));
  assert.equal(created.status, 201);
  const meta = created.body['metadata'] as Obj;
  assert.equal(meta['namespace'], 'shop');
  assert.equal(typeof meta['uid'], 'string');
  assert.equal(created.body['status'], undefined, 'status is ignored by apply');
  const fields = meta['managedFields'] as Obj[];
  assert.deepEqual(fields.map((f) => [f['manager'], f['operation'], f['fieldsType']]), [['weft-controller', 'Apply', 'FieldsV1']]);
  assert.deepEqual((fields[0]?.['fieldsV1'] as Obj)['f:metadata'], { 'f:name': {}, 'f:labels': { 'f:a': {}, 'f:b': {} } });
  assert.equal(server.requests.at(-1)?.contentType, 'application/apply-patch+yaml');
  assert.equal(server.requests.at(-1)?.query['force'], 'true');

  // Another writer's label is kept; the manager's own dropped label goes; lists replace whole.
  const stored = server.get('Deployment', 'shop', 'wp') ?? {};
  server.update({ ...stored, metadata: { ...(stored['metadata'] as Obj), labels: { a: '1', b: '2', theirs: 'x' } } });
  const rv = server.resourceVersion;
  const merged = await apply(deployment({ a: '1' }, [{ name: 'Y', value: '2' }]));
  assert.equal(merged.status, 200);
  assert.deepEqual((merged.body['metadata'] as Obj)['labels'], { a: '1', theirs: 'x' });
  assert.deepEqual(((merged.body['spec'] as { template: { spec: { containers: Obj[] } } }).template.spec.containers[0])?.['env'], [{ name: 'Y', value: '2' }]);
  assert.equal((merged.body['metadata'] as Obj)['generation'], 2);
  assert.equal(server.resourceVersion, rv + 1);

  // The same configuration again changes nothing: no new resourceVersion, no event.
  await apply(deployment({ a: '1' }, [{ name: 'Y', value: '2' }]));
  assert.equal(server.resourceVersion, rv + 1);
  // A second manager gets its own entry.
  const other = await apply(deployment({ c: '3' }, [{ name: 'Y', value: '2' }]), 'kubectl');
  assert.deepEqual(((other.body['metadata'] as Obj)['managedFields'] as Obj[]).map((f) => f['manager']), ['weft-controller', 'kubectl']);
  assert.deepEqual((other.body['metadata'] as Obj)['labels'], { a: '1', theirs: 'x', c: '3' });

  assert.equal((await json(path, { method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body: '{}' })).status, 422, 'fieldManager is required');
  assert.equal((await apply({ ...deployment({}, []), kind: 'Service' })).status, 400, 'kind must match the URL');
  assert.equal((await apply({ ...deployment({}, []), metadata: { name: 'other' } })).status, 400, 'name must match the URL');
  assert.equal((await json(path, { method: 'PATCH', headers: { 'content-type': 'application/strategic-merge-patch+json' }, body: '{"spec":{"template":{"spec":{"containers":[]}}}}' })).status, 415, 'a strategic merge of lists');
});

test('merge patch of an object keeps its status and identity; DELETE answers Success, then 404', async () => {
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mp', labels: { a: '1' } }, status: { phase: 'Active' } });
  const patched = await json('/api/v1/namespaces/mp', {
    method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify({ metadata: { name: 'renamed', labels: { b: '2', a: null } }, status: { phase: 'Gone' } }),
  });
  assert.equal(patched.status, 200);
  const ns = server.get('Namespace', '', 'mp');
  assert.deepEqual((ns?.['metadata'] as Obj)['labels'], { b: '2' });
  assert.deepEqual(ns?.['status'], { phase: 'Active' });
  assert.equal((await json('/api/v1/namespaces/none', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{}' })).status, 404);

  server.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'shop' } });
  const deleted = await json('/api/v1/namespaces/shop/serviceaccounts/sa?propagationPolicy=Background', { method: 'DELETE' });
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body['status'], 'Success');
  assert.equal(server.get('ServiceAccount', 'shop', 'sa'), undefined);
  assert.equal((await json('/api/v1/namespaces/shop/serviceaccounts/sa', { method: 'DELETE' })).status, 404);
});

test('what kubectl reads and sends: version, an empty OpenAPI v2, short names; a plain strategic merge patch, not one with lists', async () => {
  assert.match(String((await json('/version')).body['gitVersion']), /^v1\.\d+/);
  const openapi = await fetch(`${server.url}/openapi/v2`, { headers: auth });
  assert.equal(openapi.status, 200);
  assert.deepEqual([...new Uint8Array(await openapi.arrayBuffer())], [0x0a, 0x03, ...Buffer.from('2.0')]);
  const core = (await json('/api/v1')).body['resources'] as Obj[];
  assert.deepEqual(core.find((r) => r['name'] === 'namespaces')?.['shortNames'], ['ns']);
  server.create(pod('smp'));
  const smp = (body: Obj): Promise<{ status: number; body: Obj }> => json('/api/v1/namespaces/shop/pods/smp', {
    method: 'PATCH', headers: { 'content-type': 'application/strategic-merge-patch+json' }, body: JSON.stringify(body),
  });
  const plain = await smp({ metadata: { labels: { tier: 'web' } } });
  assert.equal(plain.status, 200);
  assert.deepEqual((server.get('Pod', 'shop', 'smp')?.['metadata'] as Obj)['labels'], { tier: 'web' });
  assert.equal((await smp({ spec: { containers: [{ name: 'x' }] } })).status, 415);
  assert.equal((await smp({ metadata: { $patch: 'replace' } })).status, 415);
  const proto = await fetch(`${server.url}/api/v1/namespaces`, { method: 'POST', headers: { ...auth, 'content-type': 'application/vnd.kubernetes.protobuf' }, body: 'x' });
  assert.equal(proto.status, 415);
});
