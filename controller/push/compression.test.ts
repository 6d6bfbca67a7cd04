import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import { PUSH_COMPRESSION_HEADER } from '#core/config/compression.ts';
import type { Resource } from '#core/config/model.ts';
import { PUSH_PATH } from '#core/config/protocol.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { sampleService, sampleWorkload, serviceResource, workloadResource } from '#core/config/testing.ts';
import { waitUntil } from '#local/mesh.ts';
import { modelOf, pushHarness, recordingClient } from './testing.ts';
import type { PushHarness, RecordingClient } from './testing.ts';

// Compressed and plain clients on one server: the same config for both, each distinct frame
// deflated once however many clients take it, and plain text for clients that did not ask.
// Fragments of 4 KB, so the deflated snapshot goes out in several.

const ztunnel = (n: number): ClientDescriptor => ({ kind: 'ztunnel', node: `node-${n}` });
const wl = (i: number, ip: string): Resource => workloadResource(sampleWorkload({ uid: `w${i}`, name: `w${i}`, addresses: [ip] }));

let h: PushHarness;
let resources: Resource[];
const compressed: RecordingClient[] = [];
let plain: RecordingClient;

async function metric(line: string): Promise<number> {
  const found = (await h.metrics.render()).split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.split(' ').pop());
}

function sorted(c: RecordingClient): [string, Resource][] {
  return [...c.store].sort(([a], [b]) => a.localeCompare(b));
}

before(async () => {
  h = await pushHarness({ chunkedSend: { chunkBytes: 4096, window: 2 } });
  resources = [...Array.from({ length: 200 }, (_, i) => wl(i, `10.0.${i >> 8}.${i & 255}`)), serviceResource(sampleService())];
  h.push.setModel(modelOf(resources));
  for (let n = 0; n < 4; n++) compressed.push(recordingClient(h, ztunnel(n)));
  plain = recordingClient(h, ztunnel(9), { compression: false });
});

after(async () => {
  for (const c of [...compressed, plain]) await c.client.close();
  await h.close();
});

test('compressed and plain clients get the same snapshot; it is deflated once for all compressed clients', async () => {
  for (const c of [...compressed, plain]) {
    const u = await c.next();
    assert.equal(u.snapshot, true);
    assert.equal(u.updated, resources.length);
    assert.deepEqual(u.rejected, []);
  }
  for (const c of compressed) assert.deepEqual(sorted(c), sorted(plain));
  assert.equal(plain.store.size, resources.length);
  assert.equal(await metric('weft_xds_frames_deflated_total{type="snapshot"}'), 1);
  const deflatedBytes = await metric('weft_xds_push_bytes_total{kind="ztunnel",encoding="deflate"}');
  const plainBytes = await metric('weft_xds_push_bytes_total{kind="ztunnel",encoding="identity"}');
  assert.ok(plainBytes > 0 && deflatedBytes > 0);
  assert.ok(deflatedBytes / compressed.length < plainBytes / 4, `one deflated snapshot (${deflatedBytes / compressed.length} B) is much smaller than the text (${plainBytes} B)`);
  await waitUntil(async () => (await metric('weft_xds_acks_total{kind="ztunnel"}')) === 5, 5000, () => 'every client ACKed its snapshot');
});

test('a large delta is deflated once per generation; a small one stays text for everyone', async () => {
  // Every workload moves: one delta frame of 200 resources, shared by all five clients.
  resources = resources.map((r, i) => (r.kind === 'workload' ? wl(i, `10.1.${i >> 8}.${i & 255}`) : r));
  h.push.setModel(modelOf(resources));
  for (const c of [...compressed, plain]) {
    const u = await c.next();
    assert.equal(u.snapshot, false);
    assert.equal(u.updated, 200);
  }
  for (const c of compressed) assert.deepEqual(sorted(c), sorted(plain));
  assert.equal(await metric('weft_xds_frames_deflated_total{type="delta"}'), 1);

  // One workload moves: a few hundred bytes, not worth deflating.
  const bytesBefore = await metric('weft_xds_push_bytes_total{kind="ztunnel",encoding="deflate"}');
  resources = resources.map((r) => (r.key === 'w7' ? wl(7, '10.2.0.7') : r));
  h.push.setModel(modelOf(resources));
  for (const c of [...compressed, plain]) {
    const u = await c.next();
    assert.equal(u.updated, 1);
    assert.deepEqual(c.store.get('workload/w7'), resources.find((r) => r.key === 'w7'));
  }
  assert.equal(await metric('weft_xds_frames_deflated_total{type="delta"}'), 1);
  assert.equal(await metric('weft_xds_push_bytes_total{kind="ztunnel",encoding="deflate"}'), bytesBefore);
});

/** A bare WebSocket subscriber: the frames as they arrive (binary or text) and the upgrade answer's header. */
async function rawSubscriber(who: ClientDescriptor, deflate: boolean): Promise<{ ws: WebSocket; answered: string | undefined; frame: Promise<[Buffer, boolean]> }> {
  const ws = new WebSocket(`${h.url}${PUSH_PATH}`, { ca: h.rootsPem, ...(deflate ? { headers: { [PUSH_COMPRESSION_HEADER]: 'gzip, Deflate' } } : {}) });
  let answered: string | undefined;
  ws.once('upgrade', (res: IncomingMessage) => {
    const v = res.headers[PUSH_COMPRESSION_HEADER];
    answered = typeof v === 'string' ? v : undefined;
  });
  const frame = new Promise<[Buffer, boolean]>((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve([d, isBinary])));
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'subscribe', client: who, token: h.tokens.mint(who) }));
  return { ws, answered, frame };
}

test('on the wire: binary deflate to a client that asked (and the answer says so), text to one that did not', async () => {
  const asked = await rawSubscriber(ztunnel(20), true);
  const notAsked = await rawSubscriber(ztunnel(21), false);
  try {
    assert.equal(asked.answered, 'deflate');
    assert.equal(notAsked.answered, undefined);
    const [deflated, binary] = await asked.frame;
    const [text, textBinary] = await notAsked.frame;
    assert.equal(binary, true);
    assert.equal(textBinary, false);
    assert.ok(deflated.length < text.length / 4);
    const inflated = JSON.parse(inflateRawSync(deflated).toString('utf8')) as { type: string; resources: unknown[] };
    const plainSnapshot = JSON.parse(text.toString('utf8')) as { type: string; resources: unknown[] };
    assert.equal(inflated.type, 'snapshot');
    assert.deepEqual(inflated.resources, plainSnapshot.resources);
    // Same generation, same view: the one deflated snapshot of this generation is reused.
    assert.equal(await metric('weft_xds_frames_deflated_total{type="snapshot"}'), 2);
  } finally {
    asked.ws.terminate();
    notAsked.ws.terminate();
  }
});
