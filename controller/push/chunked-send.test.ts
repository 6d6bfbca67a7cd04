import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { loopbackWebSocketServer } from '#core/config/testing.ts';
import type { LoopbackWebSocketServer } from '#core/config/testing.ts';
import { fragmentRanges, sendChunked } from './chunked-send.ts';

test('fragmentRanges', () => {
  const cases: [number, number, [number, number][]][] = [
    [0, 4, [[0, 0]]],
    [3, 4, [[0, 3]]],
    [4, 4, [[0, 4]]],
    [9, 4, [[0, 4], [4, 8], [8, 9]]],
  ];
  for (const [length, chunk, want] of cases) assert.deepEqual(fragmentRanges(length, chunk), want, `${length}/${chunk}`);
  assert.throws(() => fragmentRanges(1, 0), RangeError);
});

let server: LoopbackWebSocketServer;
before(async () => {
  server = await loopbackWebSocketServer();
});
after(() => server.close());

async function pair(): Promise<{ sender: WebSocket; receiver: WebSocket }> {
  const accepted = once(server.wss, 'connection') as Promise<[WebSocket]>;
  const receiver = new WebSocket(server.url);
  const [sender] = await accepted;
  if (receiver.readyState !== WebSocket.OPEN) await once(receiver, 'open');
  return { sender, receiver };
}

test('a large message arrives whole, as one text message, split on any byte (multi-byte UTF-8 too)', async () => {
  const { sender, receiver } = await pair();
  const text = JSON.stringify({ type: 'snapshot', body: 'héllo wörld ✓ '.repeat(5000) });
  const got = new Promise<[Buffer, boolean]>((resolve) => receiver.once('message', (d: Buffer, isBinary: boolean) => resolve([d, isBinary])));
  const done = new Promise<Error | undefined>((resolve) => sendChunked(sender, Buffer.from(text), { chunkBytes: 1001, window: 2 }, resolve));
  const [data, isBinary] = await got;
  assert.equal(isBinary, false);
  assert.equal(data.toString('utf8'), text);
  assert.equal(await done, undefined);
  // The stream is clean afterwards: the next message is a message of its own.
  const next = once(receiver, 'message') as Promise<[Buffer]>;
  sender.send('{"type":"delta"}');
  assert.equal((await next)[0].toString(), '{"type":"delta"}');
  receiver.terminate();
});

test('a binary message arrives whole and binary, its fragments continuing the first one', async () => {
  const { sender, receiver } = await pair();
  const message = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) & 255));
  const got = new Promise<[Buffer, boolean]>((resolve) => receiver.once('message', (d: Buffer, isBinary: boolean) => resolve([d, isBinary])));
  const done = new Promise<Error | undefined>((resolve) => sendChunked(sender, message, { chunkBytes: 999, window: 2 }, resolve, true));
  const [data, isBinary] = await got;
  assert.equal(isBinary, true);
  assert.deepEqual(data, message);
  assert.equal(await done, undefined);
  // A text message after it is text again.
  const next = once(receiver, 'message') as Promise<[Buffer, boolean]>;
  sender.send('{"type":"delta"}');
  const [text, nextBinary] = await next;
  assert.equal(nextBinary, false);
  assert.equal(text.toString(), '{"type":"delta"}');
  receiver.terminate();
});

test('at most `window` fragments are unflushed while the reader is not reading', async () => {
  const { sender, receiver } = await pair();
  receiver.pause();
  const message = Buffer.alloc(16 * 1024 * 1024, 0x61);
  let finished = false;
  sendChunked(sender, message, { chunkBytes: 64 * 1024, window: 2 }, () => { finished = true; });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(finished, false);
  // Kernel buffers hold some; the process holds at most the window on top of them.
  assert.ok(sender.bufferedAmount <= 2 * (64 * 1024 + 16), `bufferedAmount ${sender.bufferedAmount}`);
  receiver.terminate();
  await once(sender, 'close');
});

test('a connection lost mid-message reports an error once', async () => {
  const { sender, receiver } = await pair();
  receiver.pause();
  const errors: (Error | undefined)[] = [];
  sendChunked(sender, Buffer.alloc(8 * 1024 * 1024, 0x61), { chunkBytes: 64 * 1024, window: 2 }, (err) => errors.push(err));
  receiver.terminate();
  await once(sender, 'close');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof Error);
});
