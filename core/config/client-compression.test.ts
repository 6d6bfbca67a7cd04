import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import type { RawData, WebSocket } from 'ws';
import { waitUntil } from '#local/mesh.ts';
import { ConfigClient } from './client.ts';
import type { ConfigUpdate } from './client.ts';
import { PUSH_COMPRESSION_HEADER } from './compression.ts';
import type { Resource } from './model.ts';
import { PUSH_PATH } from './protocol.ts';
import { loopbackWebSocketServer, sampleWorkload, workloadResource, zipBomb } from './testing.ts';
import type { LoopbackWebSocketServer } from './testing.ts';
import { validateResources } from './validate.ts';

// The client against a scripted controller (plain WebSocket, no TLS): deflated binary frames are
// inflated and applied like text ones; a corrupt one or a zip bomb is refused without applying
// anything, the last good config stays, and the client reconnects and resumes as it does after
// a bad text frame.

const MAX = 8 * 1024 * 1024;
const wl = (uid: string): Resource => workloadResource(sampleWorkload({ uid, name: uid, canonicalRevision: 'r'.repeat(2000) }));

interface Peer {
  ws: WebSocket;
  asked: string | undefined;
  subscribe: { resumeVersion?: number };
  /** Resolves with the next message the client sends. */
  next(): Promise<{ type: string; version?: number }>;
  closed: Promise<number>;
}

let server: LoopbackWebSocketServer;
const peers: Peer[] = [];
let url = '';

function onConnection(ws: WebSocket, req: IncomingMessage): void {
  const queue: { type: string; version?: number }[] = [];
  const waiting: ((m: { type: string; version?: number }) => void)[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  let first = true;
  const header = req.headers[PUSH_COMPRESSION_HEADER];
  ws.on('message', (data: RawData) => {
    const m = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : '') as { type: string; version?: number; resumeVersion?: number };
    if (first) {
      first = false;
      peers.push({
        ws, asked: typeof header === 'string' ? header : undefined, subscribe: m.resumeVersion === undefined ? {} : { resumeVersion: m.resumeVersion }, closed,
        next: () => new Promise((resolve) => {
          const q = queue.shift();
          if (q !== undefined) resolve(q);
          else waiting.push(resolve);
        }),
      });
      return;
    }
    const w = waiting.shift();
    if (w !== undefined) w(m);
    else queue.push(m);
  });
}

async function peer(n: number): Promise<Peer> {
  await waitUntil(() => peers.length > n, 5000, () => `connection ${n + 1} subscribed`);
  const p = peers[n];
  assert.ok(p !== undefined);
  return p;
}

const deflated = (message: object): Buffer => deflateRawSync(Buffer.from(JSON.stringify(message)), { level: 1 });

before(async () => {
  server = await loopbackWebSocketServer({ path: PUSH_PATH });
  server.wss.on('connection', onConnection);
  url = server.url;
});

after(() => server.close());

test('deflated frames apply like text; a corrupt one or a zip bomb is refused, the last config kept, the client resumes', async () => {
  const store = new Map<string, Resource>();
  const applied: ConfigUpdate[] = [];
  const client = new ConfigClient({
    url, client: { kind: 'ztunnel', node: 'n1' }, token: 't', rootsPem: [], maxMessageBytes: MAX, backoff: { initialMs: 10, maxMs: 50 },
    apply: (u) => {
      // Nothing is removed in this script: the store only grows.
      applied.push(u);
      const { valid, rejected } = validateResources(u.updated);
      for (const r of valid) store.set(`${r.kind}/${r.key}`, r);
      return { rejected };
    },
  });
  const disconnects: string[] = [];
  client.on('disconnected', (reason) => disconnects.push(reason));
  client.start();
  try {
    const p1 = await peer(0);
    assert.equal(p1.asked, 'deflate', 'the client asks for deflated frames');
    p1.ws.send(JSON.stringify({ type: 'snapshot', version: 1, resources: [wl('a')] }));
    assert.deepEqual(await p1.next(), { type: 'ack', version: 1 });
    p1.ws.send(deflated({ type: 'delta', version: 2, updated: [wl('b')], removed: [] }));
    assert.deepEqual(await p1.next(), { type: 'ack', version: 2 });
    assert.deepEqual([...store.keys()].sort(), ['workload/a', 'workload/b']);

    // Corrupt: not deflate data.
    const good = deflated({ type: 'delta', version: 3, updated: [wl('c')], removed: [] });
    const corrupt = Buffer.from(good);
    corrupt.fill(0xff, 0, 8);
    p1.ws.send(corrupt);
    assert.equal(await p1.closed, 4400);
    const p2 = await peer(1);
    assert.deepEqual(p2.subscribe, { resumeVersion: 2 }, 'the client resumes from its last good version');
    assert.match(disconnects[0] ?? '', /bad message from the controller: compressed frame is not valid deflate data/);

    // A zip bomb: 1 GiB of zeros in ≈ 1 MB, refused once inflating passes the client's bound.
    p2.ws.send(zipBomb(1));
    assert.equal(await p2.closed, 4400);
    const p3 = await peer(2);
    assert.deepEqual(p3.subscribe, { resumeVersion: 2 });
    assert.equal(disconnects[1], `bad message from the controller: compressed frame inflates to more than ${MAX} bytes`);
    assert.equal(applied.length, 2, 'nothing of the refused frames was applied');
    assert.deepEqual([...store.keys()].sort(), ['workload/a', 'workload/b']);
    assert.equal(client.state().version, 2);

    // The stream carries on.
    p3.ws.send(good);
    assert.deepEqual(await p3.next(), { type: 'ack', version: 3 });
    assert.deepEqual([...store.keys()].sort(), ['workload/a', 'workload/b', 'workload/c']);
  } finally {
    await client.close();
  }
});

test('a client that does not ask for compression sends no header and refuses a binary frame', async () => {
  const applied: ConfigUpdate[] = [];
  const client = new ConfigClient({
    url, client: { kind: 'ztunnel', node: 'n2' }, token: 't', rootsPem: [], compression: false, backoff: { initialMs: 10, maxMs: 50 },
    apply: (u) => {
      applied.push(u);
      return { rejected: [] };
    },
  });
  const disconnected = once(client, 'disconnected') as Promise<[string]>;
  const base = peers.length;
  client.start();
  try {
    const p = await peer(base);
    assert.equal(p.asked, undefined);
    p.ws.send(deflated({ type: 'snapshot', version: 1, resources: [wl('a')] }));
    assert.equal(await p.closed, 4400);
    assert.match((await disconnected)[0], /did not ask for compressed frames/);
    assert.equal(applied.length, 0);
  } finally {
    await client.close();
  }
});
