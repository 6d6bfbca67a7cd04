import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { Resource } from '#core/config/model.ts';
import { ConfigClient } from '#core/config/client.ts';
import { PUSH_PATH } from '#core/config/protocol.ts';
import type { RejectedResource } from '#core/config/protocol.ts';
import { sampleService, sampleWorkload, serviceResource, workloadResource } from '#core/config/testing.ts';
import { modelOf, pushHarness, recordingClient } from './testing.ts';
import type { PushHarness, RecordingClient } from './testing.ts';

let h: PushHarness;
const nacks: { id: string; errors: RejectedResource[] }[] = [];
let c1: RecordingClient;
let c2: RecordingClient;

const wl = (uid: string, ip: string): Resource => workloadResource(sampleWorkload({ uid, name: uid, addresses: [ip] }));
const svc = serviceResource(sampleService());
let resources: Resource[] = [wl('a', '10.0.0.1'), wl('b', '10.0.0.2'), svc];

async function pushCount(type: string): Promise<number> {
  return (await h.metrics.render()).split('\n').filter((l) => l.startsWith(`weft_xds_pushes_total{kind="ztunnel",type="${type}"}`))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

async function metric(line: string): Promise<number> {
  const found = (await h.metrics.render()).split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.split(' ').pop());
}

before(async () => {
  h = await pushHarness({ onNack: (id, errors) => nacks.push({ id, errors }), ackTimeoutMs: 1500 });
  h.push.setModel(modelOf(resources));
  // node-1's proxy refuses workloads named "refused"; validation refuses malformed ones for both.
  c1 = recordingClient(h, { kind: 'ztunnel', node: 'node-1' }, { reject: (r) => (r.kind === 'workload' && r.value.name === 'refused' ? 'not supported here' : undefined) });
  c2 = recordingClient(h, { kind: 'ztunnel', node: 'node-2' });
});

after(async () => {
  await c1.client.close();
  await c2.client.close();
  await h.close();
});

test('subscribe: each client receives a snapshot of its view and ACKs it', async () => {
  for (const c of [c1, c2]) {
    const u = await c.next();
    assert.equal(u.snapshot, true);
    assert.equal(u.updated, 3);
    assert.deepEqual([...c.store.keys()].sort(), ['service/default/svc.default.svc.cluster.local', 'workload/a', 'workload/b']);
  }
  await waitFor(async () => (await metric('weft_xds_acks_total{kind="ztunnel"}')) === 2);
  assert.equal(await metric('weft_xds_clients{kind="ztunnel"}'), 2);
  assert.equal(c1.client.state().connected, true);
});

test('a model change reaches every client as a delta with only what changed', async () => {
  resources = [wl('a', '10.0.0.11'), svc];
  h.push.setModel(modelOf(resources));
  for (const c of [c1, c2]) {
    const u = await c.next();
    assert.deepEqual({ snapshot: u.snapshot, updated: u.updated, removed: u.removed }, { snapshot: false, updated: 1, removed: 1 });
    assert.equal(c.store.has('workload/b'), false);
    const a = c.store.get('workload/a');
    assert.ok(a?.kind === 'workload');
    assert.deepEqual(a.value.addresses, ['10.0.0.11']);
  }
  // An equal model rebuilt from new objects sends nothing.
  const before = await pushCount('delta');
  h.push.setModel(modelOf(structuredClone(resources)));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await pushCount('delta'), before);
});

test('a NACK lists exactly the refused resources; the good ones are applied', async () => {
  const malformed = JSON.parse(JSON.stringify(wl('broken', '10.0.0.5'))) as { value: { addresses: string[] } };
  malformed.value.addresses = ['not-an-ip'];
  const refused = wl('refused', '10.0.0.6');
  const good = wl('c', '10.0.0.7');
  resources = [...resources, malformed as unknown as Resource, refused, good];
  h.push.setModel(modelOf(resources));
  const u1 = await c1.next();
  assert.deepEqual(u1.rejected.map((r) => r.key).sort(), ['broken', 'refused']);
  assert.ok(c1.store.has('workload/c'));
  assert.ok(!c1.store.has('workload/refused') && !c1.store.has('workload/broken'));
  const u2 = await c2.next();
  assert.deepEqual(u2.rejected.map((r) => r.key), ['broken']);
  assert.ok(c2.store.has('workload/refused') && c2.store.has('workload/c'));
  await waitFor(() => nacks.length === 2);
  const byId = new Map(nacks.map((n) => [n.id, n.errors]));
  assert.match(byId.get('ztunnel/node-1')?.find((e) => e.key === 'broken')?.reason ?? '', /value\.addresses\[0\]: must be an IP address/);
  assert.deepEqual(byId.get('ztunnel/node-1')?.find((e) => e.key === 'refused'), { kind: 'workload', key: 'refused', reason: 'not supported here' });
  assert.deepEqual(byId.get('ztunnel/node-2')?.map((e) => e.key), ['broken']);
  // The client moved to the NACKed version: it applied the rest.
  assert.equal(c1.client.state().version, u1.version);
  assert.equal(await metric('weft_xds_nacks_total{kind="ztunnel"}'), 2);
});

test('reconnect resumes from the last version: no snapshot, only the delta missed meanwhile', async () => {
  const snapshots = await pushCount('snapshot');
  const versionBefore = c1.client.state().version;
  assert.ok(h.push.disconnect('ztunnel/node-1'));
  await once(c1.client, 'disconnected');
  // The proxy keeps its config while disconnected.
  assert.ok(c1.store.has('workload/c'));
  resources = resources.filter((r) => r.key !== 'c');
  h.push.setModel(modelOf(resources));
  await c2.next();
  const u = await c1.next();
  assert.equal(u.snapshot, false);
  assert.deepEqual({ updated: u.updated, removed: u.removed }, { updated: 0, removed: 1 });
  assert.ok(!c1.store.has('workload/c'));
  assert.equal(await pushCount('snapshot'), snapshots);
  assert.ok((u.version) > (versionBefore ?? 0));
  const s = c1.client.state();
  assert.equal(s.reconnects, 1);
  assert.equal(s.terminations, 1);

  // Reconnecting when nothing changed sends nothing at all.
  const pushes = await pushCount('delta');
  h.push.disconnect('ztunnel/node-1');
  await once(c1.client, 'disconnected');
  await once(c1.client, 'connected');
  await waitFor(() => h.push.clients().find((c) => c.id === 'ztunnel/node-1')?.connected === true);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await pushCount('delta'), pushes);
  assert.equal(await pushCount('snapshot'), snapshots);
  assert.equal(c1.updates.length, 4, "snapshot, change, NACKed change, resumed delta");
});

async function rawClient(): Promise<{ ws: WebSocket; frames: unknown[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${h.url}${PUSH_PATH}`, { ca: h.rootsPem });
  const frames: unknown[] = [];
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString('utf8'))));
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  await once(ws, 'open');
  return { ws, frames, closed };
}

test('garbage frames and bad tokens are refused; good clients carry on', async () => {
  const refusedBefore = await metric('weft_xds_rejected_connections_total{reason="bad_message"}');
  const garbage = await rawClient();
  garbage.ws.send('{{{ not json');
  assert.equal(await garbage.closed, 4400);
  assert.equal((garbage.frames[0] as { code?: string }).code, 'WEFT_ERR_PUSH_BAD_MESSAGE');

  const noSubscribe = await rawClient();
  noSubscribe.ws.send(JSON.stringify({ type: 'ack', version: 1 }));
  assert.equal(await noSubscribe.closed, 4400);

  const forged = await rawClient();
  forged.ws.send(JSON.stringify({ type: 'subscribe', client: { kind: 'ztunnel', node: 'node-1' }, token: 'weft1.ztunnel.bm9kZS0x.AAAA' }));
  assert.equal(await forged.closed, 4401);
  assert.equal((forged.frames[0] as { code?: string }).code, 'WEFT_ERR_PUSH_UNAUTHENTICATED');

  // A real token, but for another node.
  const borrowed = await rawClient();
  borrowed.ws.send(JSON.stringify({ type: 'subscribe', client: { kind: 'ztunnel', node: 'node-1' }, token: h.tokens.mint({ kind: 'ztunnel', node: 'node-2' }) }));
  assert.equal(await borrowed.closed, 4401);

  assert.equal(await metric('weft_xds_rejected_connections_total{reason="bad_message"}'), refusedBefore + 1);
  assert.equal(await metric('weft_xds_rejected_connections_total{reason="unauthenticated"}'), 2);

  resources = [...resources, wl('d', '10.0.0.8')];
  h.push.setModel(modelOf(resources));
  for (const c of [c1, c2]) {
    const u = await c.next();
    assert.equal(u.updated, 1);
    assert.ok(c.store.has('workload/d'));
  }
  assert.equal(c1.client.state().connected && c2.client.state().connected, true);
});

test('a stuck client (reading nothing, acking nothing) does not delay the others, and is dropped', async () => {
  const stuck = await rawClient();
  stuck.ws.send(JSON.stringify({ type: 'subscribe', client: { kind: 'ztunnel', node: 'node-3' }, token: h.tokens.mint({ kind: 'ztunnel', node: 'node-3' }) }));
  await waitFor(() => stuck.frames.length === 1);
  stuck.ws.pause(); // stops reading its socket, never acks
  for (let i = 0; i < 5; i++) {
    resources = [...resources.filter((r) => r.key !== 'e'), workloadResource(sampleWorkload({ uid: 'e', name: 'e', addresses: [`10.1.0.${i + 1}`], canonicalRevision: 'x'.repeat(200_000) }))];
    const started = performance.now();
    h.push.setModel(modelOf(resources));
    await Promise.all([c1.next(), c2.next()]);
    assert.ok(performance.now() - started < 1000, 'the good clients were served promptly');
  }
  const info = h.push.clients().find((c) => c.id === 'ztunnel/node-3');
  assert.ok(info?.inFlightVersion !== undefined, 'the stuck client has one push in flight, later changes are coalesced');
  assert.equal(await metric('weft_xds_pushes_total{kind="ztunnel",type="snapshot"}') >= 3, true);
  stuck.ws.resume();
  assert.equal(await stuck.closed, 4429);
  assert.equal(await metric('weft_xds_rejected_connections_total{reason="ack_timeout"}'), 1);
  assert.equal(stuck.frames.length, 2, 'only the snapshot (the error frame follows), no queued deltas');
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a client that reads its token from a source reads it again on every connection (rotated tokens)', async () => {
  const who = { kind: 'ztunnel', node: 'node-9' } as const;
  let reads = 0;
  const client = new ConfigClient({
    url: h.url, client: who, rootsPem: h.rootsPem, apply: () => ({ rejected: [] }), backoff: { initialMs: 20, maxMs: 200 },
    token: () => {
      reads++;
      return Promise.resolve(h.tokens.mint(who));
    },
  });
  try {
    client.start();
    await once(client, 'update');
    assert.equal(reads, 1);
    assert.ok(h.push.disconnect('ztunnel/node-9'));
    await once(client, 'disconnected');
    // 'connected' follows the subscribe, which carries the token read for this connection.
    await once(client, 'connected');
    assert.equal(reads, 2, 'the token was read again for the new connection');
    await waitFor(() => h.push.clients().find((c) => c.id === 'ztunnel/node-9')?.connected === true);
  } finally {
    await client.close();
  }
});

test('a paused client steps off the stream and stays off while another subscribes as the same client; resumed, it gets the current config', async () => {
  const who = { kind: 'ztunnel', node: 'node-handoff' } as const;
  const old = recordingClient(h, who);
  try {
    assert.equal((await old.next()).snapshot, true);
    await old.client.pause();
    assert.equal(old.client.state().connected, false);
    const successor = recordingClient(h, who);
    let replaced = 0;
    successor.client.on('disconnected', () => replaced++);
    try {
      assert.equal((await successor.next()).snapshot, true);
      // Two pushes reach the successor; the paused client (20 ms backoff) would have taken the
      // stream back many times over by then, had it reconnected.
      for (const ip of ['10.0.0.21', '10.0.0.22']) {
        resources = [wl('a', ip), svc];
        h.push.setModel(modelOf(resources));
        assert.equal((await successor.next()).snapshot, false);
      }
      assert.equal(replaced, 0, 'the successor was never replaced');
      assert.equal(old.updates.length, 1, 'the paused client got nothing meanwhile');
      await successor.client.close();
      old.client.resume();
      // The server last heard of this client at the successor's version, not the paused one's:
      // a snapshot.
      assert.equal((await old.next()).snapshot, true);
      const a = old.store.get('workload/a');
      assert.ok(a?.kind === 'workload');
      assert.deepEqual(a.value.addresses, ['10.0.0.22']);
    } finally {
      await successor.client.close();
    }
  } finally {
    await old.client.close();
  }
});
