// The push server with an authenticator that answers later (TokenReview on a cluster): a
// subscribe waits for the answer, a second subscribe meanwhile is refused, a connection gone
// by the time the answer comes is never registered, and a failing authenticator refuses.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { PUSH_PATH } from '#core/config/protocol.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { sampleWorkload, workloadResource } from '#core/config/testing.ts';
import { modelOf, pushHarness } from './testing.ts';
import type { PushHarness } from './testing.ts';

let h: PushHarness;
/** Reviews waiting for the test to answer them. */
const waiting: { token: string; answer: (c: ClientDescriptor | undefined) => void; fail: (e: Error) => void }[] = [];

before(async () => {
  h = await pushHarness({
    authenticate: (token) => new Promise<ClientDescriptor | undefined>((resolve, reject) => {
      waiting.push({ token, answer: resolve, fail: reject });
    }),
  });
  h.push.setModel(modelOf([workloadResource(sampleWorkload({ uid: 'a', addresses: ['10.0.0.5'] }))]));
});
after(async () => {
  await h.close();
});

async function nextReview(): Promise<(typeof waiting)[number]> {
  const deadline = Date.now() + 5000;
  while (waiting.length === 0) {
    if (Date.now() > deadline) throw new Error('no review asked for');
    await new Promise((r) => setTimeout(r, 5));
  }
  const w = waiting.shift();
  assert.ok(w !== undefined);
  return w;
}

async function rawClient(): Promise<{ ws: WebSocket; frames: { type?: string; code?: string }[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${h.url}${PUSH_PATH}`, { ca: h.rootsPem });
  const frames: { type?: string; code?: string }[] = [];
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString('utf8')) as { type?: string; code?: string }));
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  await once(ws, 'open');
  return { ws, frames, closed };
}

const subscribe = (node: string, token: string): string => JSON.stringify({ type: 'subscribe', client: { kind: 'ztunnel', node }, token });

async function waitFor(pred: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a subscribe waits for the review, then gets its snapshot', async () => {
  const c = await rawClient();
  c.ws.send(subscribe('node-a', 'jwt-a'));
  const review = await nextReview();
  assert.equal(review.token, 'jwt-a');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.frames.length, 0, 'nothing before the answer');
  review.answer({ kind: 'ztunnel', node: 'node-a' });
  await waitFor(() => c.frames.length > 0);
  assert.equal(c.frames[0]?.type, 'snapshot');
  c.ws.close();
  await c.closed;
});

test('a second subscribe during the review is refused, and the answer then registers nobody', async () => {
  const c = await rawClient();
  c.ws.send(subscribe('node-b', 'jwt-b'));
  const review = await nextReview();
  c.ws.send(subscribe('node-b', 'jwt-b'));
  assert.equal(await c.closed, 4400);
  review.answer({ kind: 'ztunnel', node: 'node-b' });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(h.push.clients().some((x) => x.id === 'ztunnel/node-b'), false);
});

test('a token naming another client, no client, or a failed review is refused with 4401', async () => {
  for (const answer of [
    (w: (typeof waiting)[number]) => w.answer({ kind: 'ztunnel', node: 'node-x' }),
    (w: (typeof waiting)[number]) => w.answer(undefined),
    (w: (typeof waiting)[number]) => w.fail(new Error('API server unreachable')),
  ]) {
    const c = await rawClient();
    c.ws.send(subscribe('node-c', 'jwt-c'));
    answer(await nextReview());
    assert.equal(await c.closed, 4401);
    assert.equal(c.frames[0]?.code, 'WEFT_ERR_PUSH_UNAUTHENTICATED');
  }
});
