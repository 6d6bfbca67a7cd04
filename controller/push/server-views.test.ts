import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { Resource } from '#core/config/model.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import {
  authorizationResource, sampleAuthorization, sampleService, sampleWorkload, serviceResource, workloadResource,
} from '#core/config/testing.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { viewFor } from '#controller/model/view.ts';
import { modelOf, pushHarness, recordingClient } from './testing.ts';
import type { PushHarness, RecordingClient } from './testing.ts';

// The server's default views (shared part + per-node policy overlay, diffed over changed keys),
// with every message larger than 64 bytes sent as fragments: each client's store must equal
// viewFor(model, client) after every change.

const n1: ClientDescriptor = { kind: 'ztunnel', node: 'n1' };
const n2: ClientDescriptor = { kind: 'ztunnel', node: 'n2' };
const wp: ClientDescriptor = { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/a/sa/waypoint' };

const wl = (uid: string, node: string, extra: Partial<Parameters<typeof sampleWorkload>[0]> = {}): Resource =>
  workloadResource(sampleWorkload({ uid, name: uid, namespace: 'a', node, ...extra }));
const policy = (name: string, scope: 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR', namespace = 'a', dryRun = false): Resource =>
  authorizationResource(sampleAuthorization({ name, namespace, scope, dryRun }));

let h: PushHarness;
const clients = new Map<ClientDescriptor, RecordingClient>();
let model: MeshModel;

function setModel(resources: Resource[]): void {
  model = modelOf(resources);
  h.push.setModel(model);
}

function assertHolds(c: ClientDescriptor): void {
  const store = clients.get(c)?.store;
  assert.ok(store !== undefined);
  const want = [...viewFor(model, c)].sort(([a], [b]) => a.localeCompare(b));
  const got = [...store].sort(([a], [b]) => a.localeCompare(b));
  assert.deepEqual(got, want, `${JSON.stringify(c)} holds its view`);
}

async function allApply(...cs: ClientDescriptor[]): Promise<void> {
  for (const c of cs) {
    await clients.get(c)?.next();
    assertHolds(c);
  }
}

let resources: Resource[] = [
  wl('w1', 'n1', { authorizationPolicies: ['a/sel'] }), wl('w2', 'n2', { namespace: 'b' }),
  serviceResource(sampleService({ namespace: 'a' })),
  policy('global', 'GLOBAL', 'istio-system'), policy('ns-a', 'NAMESPACE'), policy('ns-b', 'NAMESPACE', 'b'), policy('sel', 'WORKLOAD_SELECTOR'),
];

before(async () => {
  h = await pushHarness({ modelViews: true, chunkedSend: { chunkBytes: 64, window: 2 } });
  setModel(resources);
  for (const c of [n1, n2, wp]) clients.set(c, recordingClient(h, c));
});

after(async () => {
  for (const c of clients.values()) await c.client.close();
  await h.close();
});

test('snapshots: each client gets the shared part and only its own policies', async () => {
  await allApply(n1, n2, wp);
  const keys = (c: ClientDescriptor): string[] => [...(clients.get(c)?.store.keys() ?? [])].filter((k) => k.startsWith('authorization/')).sort();
  assert.deepEqual(keys(n1), ['authorization/a/ns-a', 'authorization/a/sel', 'authorization/istio-system/global']);
  assert.deepEqual(keys(n2), ['authorization/b/ns-b', 'authorization/istio-system/global']);
  assert.deepEqual(keys(wp), []);
  assert.deepEqual(h.push.clients().map((c) => c.resources).sort(), [3, 5, 6]);
});

test('a workload change reaches everyone as a one-resource delta', async () => {
  resources = resources.map((r) => (r.key === 'w2' ? wl('w2', 'n2', { namespace: 'b', addresses: ['10.0.0.9'] }) : r));
  setModel(resources);
  for (const c of [n1, n2, wp]) {
    const u = await clients.get(c)?.next();
    assert.deepEqual({ snapshot: u?.snapshot, updated: u?.updated, removed: u?.removed }, { snapshot: false, updated: 1, removed: 0 });
    assertHolds(c);
  }
});

test('a workload moving node moves its policies from one overlay to the other', async () => {
  resources = resources.map((r) => (r.key === 'w1' ? wl('w1', 'n2', { authorizationPolicies: ['a/sel'] }) : r));
  setModel(resources);
  const u1 = await clients.get(n1)?.next();
  assert.deepEqual({ updated: u1?.updated, removed: u1?.removed }, { updated: 1, removed: 2 });
  assertHolds(n1);
  const u2 = await clients.get(n2)?.next();
  assert.deepEqual({ updated: u2?.updated, removed: u2?.removed }, { updated: 3, removed: 0 });
  assertHolds(n2);
  await allApply(wp);
});

test('a client that missed several generations resumes with their union', async () => {
  const c = clients.get(n2);
  assert.ok(c !== undefined);
  h.push.disconnect('ztunnel/n2');
  await once(c.client, 'disconnected');
  resources = [...resources, wl('w3', 'n1')];
  setModel(resources);
  resources = resources.filter((r) => r.kind !== 'service');
  setModel(resources);
  resources = resources.map((r) => (r.key === 'a/sel' ? policy('sel', 'WORKLOAD_SELECTOR', 'a', true) : r));
  setModel(resources);
  const u = await c.next();
  assert.deepEqual({ snapshot: u.snapshot, updated: u.updated, removed: u.removed }, { snapshot: false, updated: 2, removed: 1 });
  assertHolds(n2);
  // The others may have had changes folded together while a push was in flight.
  for (const other of [n1, wp]) {
    const rc = clients.get(other);
    while (rc?.client.state().version !== u.version) await rc?.next();
  }
  assertHolds(n1);
  assertHolds(wp);
});

test('an equal model rebuilt from new objects sends nothing', async () => {
  while (h.push.clients().some((c) => c.inFlightVersion !== undefined)) await new Promise((r) => setTimeout(r, 5));
  const pushes = h.push.clients().map((c) => c.version);
  setModel(structuredClone(resources));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(h.push.clients().map((c) => c.version), pushes);
  assert.ok(h.push.clients().every((c) => c.inFlightVersion === undefined));
});
