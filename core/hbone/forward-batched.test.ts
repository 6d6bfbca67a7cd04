import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { forwardBatched } from '#core/hbone/forward-batched.ts';

/** A destination that records each write call (single or vectored) and completes it on demand. */
function recordingSink(opts: { hold?: boolean } = {}): { sink: Duplex; calls: number[][]; release: () => void; ended: Promise<void> } {
  const calls: number[][] = [];
  const held: (() => void)[] = [];
  let onEnd: () => void = () => undefined;
  const ended = new Promise<void>((r) => { onEnd = r; });
  const done = (cb: () => void): void => {
    if (opts.hold === true) held.push(cb);
    else cb();
  };
  const sink = new Duplex({
    read() { /* never produces */ },
    write(chunk: Buffer, _enc, cb) { calls.push([chunk.length]); done(cb); },
    writev(chunks, cb) { calls.push(chunks.map((c) => (c.chunk as Buffer).length)); done(cb); },
    final(cb) { onEnd(); cb(); },
  });
  return { sink, calls, ended, release: () => { for (const cb of held.splice(0)) cb(); } };
}

test('chunks arriving in one loop turn leave as one vectored write', async () => {
  const src = new PassThrough();
  const { sink, calls, ended } = recordingSink();
  let counted = 0;
  forwardBatched(src, sink, (n) => { counted += n; });
  for (let i = 0; i < 4; i++) src.write(Buffer.alloc(16 * 1024));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [[16384, 16384, 16384, 16384]]);
  src.end(Buffer.alloc(10));
  await ended;
  assert.equal(counted, 4 * 16 * 1024 + 10);
  assert.deepEqual(calls.at(-1), [10]);
});

test('the source pauses once the destination queues past the limit, and resumes on drain', async () => {
  const src = new PassThrough();
  const { sink, calls, release } = recordingSink({ hold: true });
  forwardBatched(src, sink, () => undefined, 64 * 1024);
  for (let i = 0; i < 8; i++) src.write(Buffer.alloc(16 * 1024));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(src.isPaused(), true);
  assert.ok(sink.writableLength >= 64 * 1024);
  // Each released batch lets the next one through, until all eight chunks are written.
  for (let i = 0; i < 10 && calls.flat().length < 8; i++) {
    release();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(calls.flat().reduce((a, b) => a + b, 0), 8 * 16 * 1024);
  assert.ok(calls.length >= 2, 'written in more than one batch');
});

test("a source that reports 'aborted' (an HTTP/2 stream reset) resets the destination instead of ending it", async () => {
  const src = new PassThrough();
  const { sink, ended } = recordingSink();
  let finalCalled = false;
  void ended.then(() => { finalCalled = true; });
  forwardBatched(src, sink, () => undefined);
  src.write(Buffer.alloc(10));
  src.emit('aborted');
  // The 'end' that Node emits after an abort must not be passed on either.
  src.end();
  await new Promise((r) => setImmediate(r));
  assert.equal(sink.destroyed, true);
  assert.equal(finalCalled, false);
});

test('onBreak takes over from the reset, and a clean end still ends the destination', async () => {
  const broken = new PassThrough();
  const a = recordingSink();
  let breaks = 0;
  forwardBatched(broken, a.sink, () => undefined, { onBreak: () => { breaks++; } });
  broken.emit('aborted');
  broken.emit('aborted');
  assert.equal(breaks, 1);
  assert.equal(a.sink.destroyed, false);

  const clean = new PassThrough();
  const b = recordingSink();
  forwardBatched(clean, b.sink, () => undefined, { onBreak: () => assert.fail('a clean end is no break') });
  clean.end(Buffer.alloc(3));
  await b.ended;
  assert.deepEqual(b.calls.flat(), [3]);
});
