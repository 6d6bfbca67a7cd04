import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { HeaderMap } from '#waypoint/request/plan-types.ts';
import type { AttemptResult } from '#waypoint/request/forward-http1.ts';
import { StreamReset, attemptHttp2 } from './forward-http2.ts';

/** A real h2c backend: /trailers-only, /late-status (head, then grpc-status in trailers), /body (data, then trailers), /reset, /echo. */
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => undefined);
  const path = headers[':path'];
  const grpc = { ':status': 200, 'content-type': 'application/grpc' };
  if (path === '/trailers-only') stream.respond({ ...grpc, 'grpc-status': '14' }, { endStream: true });
  else if (path === '/late-status') {
    stream.respond(grpc, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'later' }));
    stream.end();
  } else if (path === '/body') {
    stream.respond(grpc, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end('payload');
  } else if (path === '/reset') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.concat(chunks));
    });
  }
});
let session: http2.ClientHttp2Session;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
after(() => {
  session.destroy();
  server.close();
});

interface Seen { result: AttemptResult; status?: number; head?: HeaderMap; complete?: boolean; body: string; trailers?: HeaderMap }

async function run(path: string, opts: { hold?: boolean; body?: string; discard?: boolean } = {}): Promise<Seen> {
  const seen: Partial<Seen> & { body: string } = { body: '' };
  const body = opts.body === undefined ? null : new PassThrough().end(opts.body);
  seen.result = await attemptHttp2({
    open: (h, o) => Promise.resolve(session.request(h, o)),
    headers: { ':method': 'POST', ':path': path }, body, signal: new AbortController().signal, holdGrpcHead: opts.hold ?? false,
  }, (status, head, complete) => {
    seen.status = status;
    seen.head = head as HeaderMap;
    if (complete === true) seen.complete = true;
    if (opts.discard === true) return 'discard';
    return {
      write: (c) => { seen.body += c.toString(); return true; },
      onDrain: () => undefined,
      end: (t) => { if (t !== undefined) seen.trailers = t; },
    };
  });
  return seen as Seen;
}

test('a trailers-only answer comes as one complete head', async () => {
  const s = await run('/trailers-only');
  assert.deepEqual(s.result, { kind: 'relayed', status: 200 });
  assert.equal(s.complete, true);
  assert.equal(s.head?.['grpc-status'], '14');
});

test('a gRPC head held while a retry may follow shows the status its trailers carry', async () => {
  const held = await run('/late-status', { hold: true });
  assert.equal(held.complete, true);
  assert.equal(held.head?.['grpc-status'], '14');
  assert.equal(held.head?.['grpc-message'], 'later');
  // Not held: the head goes on at once and the status arrives in the trailers.
  const direct = await run('/late-status');
  assert.equal(direct.complete, undefined);
  assert.equal(direct.head?.['grpc-status'], undefined);
  assert.equal(direct.trailers?.['grpc-status'], '14');
});

test('a held head goes on with the first body byte, trailers at the end', async () => {
  const s = await run('/body', { hold: true });
  assert.deepEqual(s.result, { kind: 'relayed', status: 200 });
  assert.equal(s.complete, undefined);
  assert.equal(s.body, 'payload');
  assert.equal(s.trailers?.['grpc-status'], '0');
});

test('the request body reaches the backend; a discarded answer is read and dropped', async () => {
  assert.equal((await run('/echo', { body: 'ping' })).body, 'ping');
  assert.deepEqual((await run('/echo', { body: 'ping', discard: true })).result, { kind: 'discarded', status: 200 });
});

test('a reset before any answer is a failed attempt with the reset code', async () => {
  const s = await run('/reset');
  assert.equal(s.result.kind, 'failed');
  assert.ok(s.result.kind === 'failed' && s.result.error instanceof StreamReset);
  assert.equal(s.status, undefined);
});

test('a connection that cannot be opened fails the attempt with that error', async () => {
  const err = new Error('no route');
  const result = await attemptHttp2({
    open: () => Promise.reject(err), headers: { ':path': '/' }, body: null, signal: new AbortController().signal, holdGrpcHead: false,
  }, () => 'discard');
  assert.deepEqual(result, { kind: 'failed', error: err });
});
