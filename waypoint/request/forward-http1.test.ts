import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { Pool } from 'undici';
import { ConnectFailure } from '#waypoint/endpoint/upstreams.ts';
import { attempt, bufferBody, classify, rejoin, requestHeaders, responseHeaders, type ResponseTarget } from './forward-http1.ts';

/**
 * A target that keeps what it is given. With `stall`, every write reports a full buffer and
 * the drain comes a loop turn later; a write while a drain is awaited is recorded as a fault.
 */
function collect(o: { stall?: boolean } = {}): ResponseTarget & { chunks: Buffer[]; ended: boolean; pauses: number; writesWhilePaused: number } {
  let waiting = false;
  const t = {
    chunks: [] as Buffer[],
    ended: false,
    pauses: 0,
    writesWhilePaused: 0,
    write: (c: Buffer): boolean => {
      if (waiting) t.writesWhilePaused++;
      t.chunks.push(c);
      return o.stall !== true;
    },
    onDrain: (resume: () => void): void => {
      t.pauses++;
      waiting = true;
      setImmediate(() => {
        waiting = false;
        resume();
      });
    },
    end: (): void => { t.ended = true; },
  };
  return t;
}

describe('attempt: one request through a pool, its response relayed as it arrives', () => {
  let server: http.Server;
  let pool: Pool;
  const seen: string[] = [];
  const arrivals = new EventEmitter();

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['x-test'] ?? '')}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        switch (req.url) {
          case '/ok': res.writeHead(200, { 'x-reply': 'yes', 'content-length': '5' }).end('hello'); return;
          case '/echo-body': res.writeHead(200).end(Buffer.concat(chunks)); return;
          case '/unavailable': res.writeHead(503).end('busy'); return;
          case '/early': req.socket.destroy(); return;
          case '/partial':
            res.writeHead(200, { 'content-length': '1000' });
            res.write(Buffer.alloc(10, 'a'), () => req.socket.destroy());
            return;
          case '/big': res.writeHead(200, { 'content-length': String(1 << 20) }).end(Buffer.alloc(1 << 20, 'b')); return;
          case '/slow':
            // Never answered: the client's abort is what ends it.
            arrivals.emit('slow');
            return;
          default: res.writeHead(404).end();
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 4 });
  });

  after(async () => {
    await pool.destroy();
    server.closeAllConnections();
    server.close();
  });

  const base = { method: 'GET', headers: { 'x-test': 't' }, body: null, signal: new AbortController().signal };

  test('relayed: head to the callback, body to the target, then the end', async () => {
    const target = collect();
    let head: { status: number; reply: unknown } | undefined;
    const r = await attempt({ ...base, dispatcher: pool, path: '/ok' }, (status, headers) => {
      head = { status, reply: headers['x-reply'] };
      return target;
    });
    assert.deepEqual(r, { kind: 'relayed', status: 200 });
    assert.deepEqual(head, { status: 200, reply: 'yes' });
    assert.equal(Buffer.concat(target.chunks).toString(), 'hello');
    assert.equal(target.ended, true);
    assert.ok(seen.includes('GET /ok t'));
  });

  test('a request body, buffered or streamed, reaches the backend', async () => {
    for (const body of [Buffer.from('buffered'), Readable.from([Buffer.from('str'), Buffer.from('eamed')])]) {
      const target = collect();
      const r = await attempt({ ...base, method: 'POST', dispatcher: pool, path: '/echo-body', body }, () => target);
      assert.equal(r.kind, 'relayed');
      assert.match(Buffer.concat(target.chunks).toString(), /^(buffered|streamed)$/);
    }
  });

  test('discarded: the whole response is read and dropped', async () => {
    const r = await attempt({ ...base, dispatcher: pool, path: '/unavailable' }, () => 'discard');
    assert.deepEqual(r, { kind: 'discarded', status: 503 });
  });

  test('failed before any response: no status', async () => {
    const r = await attempt({ ...base, dispatcher: pool, path: '/early' }, () => collect());
    assert.equal(r.kind, 'failed');
    assert.equal('status' in r, false);
  });

  test('failed after the head: the status, and every byte that came before the break', async () => {
    const target = collect();
    const r = await attempt({ ...base, dispatcher: pool, path: '/partial' }, () => target);
    assert.equal(r.kind, 'failed');
    assert.equal(r.kind === 'failed' ? r.status : undefined, 200);
    assert.equal(Buffer.concat(target.chunks).length, 10);
    assert.equal(target.ended, false);
  });

  test('an abort settles at once, before or during the response', async () => {
    const early = new AbortController();
    early.abort(new Error('gone'));
    const r1 = await attempt({ ...base, dispatcher: pool, path: '/ok', signal: early.signal }, () => collect());
    assert.equal(r1.kind, 'failed');
    const late = new AbortController();
    arrivals.once('slow', () => late.abort(new Error('timeout')));
    const r2 = await attempt({ ...base, dispatcher: pool, path: '/slow', signal: late.signal }, () => collect());
    assert.equal(r2.kind, 'failed');
    assert.equal(r2.kind === 'failed' ? (r2.error as Error).message : '', 'timeout');
  });

  test('a full target pauses the backend until it drains', async () => {
    const target = collect({ stall: true });
    const r = await attempt({ ...base, dispatcher: pool, path: '/big' }, () => target);
    assert.equal(r.kind, 'relayed');
    assert.equal(Buffer.concat(target.chunks).length, 1 << 20);
    assert.ok(target.pauses >= 1);
    assert.equal(target.writesWhilePaused, 0);
  });
});

test('hop-by-hop request headers and those named by Connection are dropped', () => {
  const req = { headers: { host: 'a', connection: 'keep-alive, x-private', 'x-private': '1', 'keep-alive': 'timeout=5', te: 'trailers', 'x-kept': 'k' } } as unknown as http.IncomingMessage;
  assert.deepEqual(requestHeaders(req), { host: 'a', 'x-kept': 'k' });
  assert.deepEqual(responseHeaders({ 'transfer-encoding': 'chunked', 'content-type': 'text/plain', 'x-u': undefined }), { 'content-type': 'text/plain' });
});

test('classify: timeouts, connect failures and resets as Envoy flags', () => {
  const cases: [unknown, boolean, number, string][] = [
    [new Error('x'), true, 504, 'UT'],
    [new ConnectFailure('refused'), false, 503, 'UF'],
    [Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), false, 502, 'UC'],
    [new Error('strange'), false, 502, 'UC'],
  ];
  for (const [err, timedOut, status, flags] of cases) {
    const f = classify(err, timedOut);
    assert.deepEqual([f.status, f.flags], [status, flags], String(err));
  }
});

test('bufferBody reads up to a bound; rejoin puts a read prefix back in front', async () => {
  const small = await bufferBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 10);
  assert.deepEqual(small, { body: Buffer.from('abcd') });
  const source = Readable.from([Buffer.from('12345'), Buffer.from('67890'), Buffer.from('xyz')]);
  const big = await bufferBody(source, 6);
  assert.ok('prefix' in big);
  const chunks: Buffer[] = [];
  for await (const c of rejoin(big.prefix, source)) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), '1234567890xyz');
});

test('rejoin destroyed early lets go of the rest without destroying it', async () => {
  const rest = new PassThrough();
  const joined = rejoin([Buffer.from('head-')], rest);
  const first = await new Promise<Buffer>((resolve) => joined.once('data', resolve));
  assert.equal(first.toString(), 'head-');
  joined.destroy();
  rest.end('the rest');
  assert.equal(rest.destroyed, false);
  const chunks: Buffer[] = [];
  for await (const c of rest) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), 'the rest');
});
