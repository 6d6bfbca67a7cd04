import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { http1Exchange, http1HasBody, http2Exchange, type ClientExchange } from './exchange.ts';

async function listen(server: net.Server | http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Raw HTTP/1.1: everything the server sent before the connection ended, and whether it was a reset. */
async function rawGet(port: number, path: string): Promise<{ text: string; reset: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let reset = false;
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.on('error', () => { reset = true; });
  sock.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
  sock.once('end', () => sock.end());
  await new Promise((resolve) => sock.once('close', resolve));
  return { text: Buffer.concat(chunks).toString('latin1'), reset };
}

test('which HTTP/1.1 requests have a body', () => {
  const cases: [Record<string, string>, boolean][] = [
    [{}, false], [{ 'content-length': '0' }, false], [{ 'content-length': '3' }, true], [{ 'transfer-encoding': 'chunked' }, true],
  ];
  for (const [headers, want] of cases) assert.equal(http1HasBody({ headers } as unknown as http.IncomingMessage), want, JSON.stringify(headers));
});

test('HTTP/1.1: a reply, a streamed answer, and one broken off after its head (a close, not a reset)', async (t) => {
  const server = http.createServer((req, res) => {
    const x: ClientExchange = http1Exchange(req, res);
    assert.equal(x.body, null);
    if (req.url === '/reply') {
      assert.equal(x.reply(418, 'teapot', { 'x-why': 'test' }), 6);
      return;
    }
    x.respond(200, { 'content-length': '100', 'x-upstream': 'yes' });
    assert.equal(x.headersSent(), true);
    x.sink.write('0123456789');
    if (req.url === '/broken') x.abort();
    else x.sink.end('x'.repeat(90));
  });
  const port = await listen(server);
  t.after(() => server.close());
  const reply = await fetch(`http://127.0.0.1:${port}/reply`);
  assert.equal(reply.status, 418);
  assert.equal(reply.headers.get('x-why'), 'test');
  assert.equal(await reply.text(), 'teapot');
  const whole = await fetch(`http://127.0.0.1:${port}/whole`);
  assert.equal((await whole.text()).length, 100);
  const broken = await rawGet(port, '/broken');
  assert.match(broken.text, /^HTTP\/1\.1 200 OK\r\n[^]*x-upstream: yes\r\n[^]*\r\n\r\n0123456789$/);
  assert.equal(broken.reset, false);
});

test('HTTP/1.1: gone() and onGone() when the client leaves mid-answer', async (t) => {
  let exchange: ClientExchange | undefined;
  const left = new Promise<void>((resolve) => {
    const server = http.createServer((req, res) => {
      exchange = http1Exchange(req, res);
      exchange.onGone(resolve);
      exchange.respond(200, { 'content-length': '100' });
      exchange.sink.write('partial');
    });
    t.after(() => server.close());
    void listen(server).then((port) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      sock.once('data', () => sock.destroy());
    });
  });
  await left;
  assert.equal(exchange?.gone(), true);
});

test('HTTP/2: connection-specific headers dropped, a broken answer reset after its head and data', async (t) => {
  const server = http2.createServer();
  server.on('stream', (stream, _headers, flags: number) => {
    const x = http2Exchange(stream, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0);
    assert.equal(x.body, null);
    stream.on('error', () => undefined);
    x.respond(200, { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'x-upstream': 'yes' });
    x.sink.write('0123456789');
    if (stream.id === 1) x.abort();
    else x.sink.end();
  });
  const port = await listen(server);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => {
    session.close();
    server.close();
  });
  const get = (): Promise<{ status: number; upstream: unknown; connection: unknown; body: string; error?: string }> => new Promise((resolve) => {
    const req = session.request({ ':path': '/' });
    let status = 0;
    let upstream: unknown;
    let connection: unknown;
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      upstream = h['x-upstream'];
      connection = h['connection'];
    });
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => resolve({ status, upstream, connection, body }));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status, upstream, connection, body, error: e.code ?? e.message }));
    req.end();
  });
  const broken = await get();
  assert.deepEqual(broken, { status: 200, upstream: 'yes', connection: undefined, body: '0123456789', error: 'ERR_HTTP2_STREAM_ERROR' });
  const whole = await get();
  assert.deepEqual(whole, { status: 200, upstream: 'yes', connection: undefined, body: '0123456789' });
});
