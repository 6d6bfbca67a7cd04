import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { ReplayBody } from './replay-body.ts';

async function readAll(r: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Resolves with the next chunk the reader gives. */
function nextChunk(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    r.once('data', (c: Buffer) => {
      r.pause();
      resolve(c.toString());
    });
    r.resume();
  });
}

test('the first reader streams the body as it arrives, before it ends', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 1024);
  const r = body.reader();
  src.write('one');
  assert.equal(await nextChunk(r), 'one');
  src.write('two');
  assert.equal(await nextChunk(r), 'two');
  src.end();
});

test('a later reader gets what the first took, then the rest live', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 1024);
  const first = body.reader();
  src.write('a');
  assert.equal(await nextChunk(first), 'a');
  first.destroy();
  assert.equal(body.replayable, true);
  const second = body.reader();
  const all = readAll(second);
  src.write('b');
  src.end('c');
  assert.equal(await all, 'abc');
  // And once ended, a third reader gets the whole body from the copy.
  second.destroy();
  assert.equal(await readAll(body.reader()), 'abc');
});

test('past the limit the body is no longer replayable, but the current reader still gets all of it', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 4);
  const r = body.reader();
  const all = readAll(r);
  src.write('abc');
  src.end('defgh');
  assert.equal(await all, 'abcdefgh');
  assert.equal(body.replayable, false);
});

test('release drains what the client still sends', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 1024);
  body.reader().destroy();
  body.release();
  const ended = new Promise((resolve) => src.once('end', resolve));
  src.end('late');
  await ended;
  assert.equal(body.replayable, false);
});

test('a mirror gets the whole body once the attempt read it to the end, without holding the attempt back', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 1024);
  const whole = body.whole();
  let settled = false;
  void whole.then(() => { settled = true; });
  const r = body.reader();
  src.write('one');
  assert.equal(await nextChunk(r), 'one', 'the attempt streams while the mirror waits');
  assert.equal(settled, false);
  src.end('two');
  assert.equal(await readAll(r), 'two');
  assert.equal((await whole)?.toString(), 'onetwo');
  assert.equal((await body.whole())?.toString(), 'onetwo', 'asked after the end');
});

test('past the bound, or once the exchange is over, a mirror gets no body and the attempt still gets all of it', async () => {
  const src = new PassThrough();
  const body = new ReplayBody(src, 4);
  const whole = body.whole();
  const r = body.reader();
  src.end('longer than four');
  assert.equal(await readAll(r), 'longer than four');
  assert.equal(await whole, undefined);
  const src2 = new PassThrough();
  const body2 = new ReplayBody(src2, 1024);
  const early = body2.whole();
  body2.release();
  assert.equal(await early, undefined);
  assert.equal(await body2.whole(), undefined);
});
