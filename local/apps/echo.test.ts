import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createTcpEcho, handleHttp, type EchoReply, type SeenRequest } from './echo.ts';

async function listen(server: Server | ReturnType<typeof createTcpEcho>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

test('HTTP echo: caller address, method, path, headers; /status and /bytes', async (t) => {
  process.env['POD_NAME'] = 'echo-test';
  const server = createServer(handleHttp);
  const port = await listen(server);
  t.after(() => server.close());
  const res = await fetch(`http://127.0.0.1:${port}/hello?x=1`, { method: 'POST', body: 'abc', headers: { 'x-test': 'yes' } });
  const body = await res.json() as EchoReply;
  assert.equal(body.pod, 'echo-test');
  assert.equal(body.remoteAddress, '127.0.0.1');
  assert.ok(body.remotePort > 0);
  assert.equal(body.method, 'POST');
  assert.equal(body.path, '/hello?x=1');
  assert.equal(body.headers['x-test'], 'yes');
  assert.equal((await fetch(`http://127.0.0.1:${port}/status/503`)).status, 503);
  const bytes = await fetch(`http://127.0.0.1:${port}/bytes/200000`);
  assert.equal((await bytes.arrayBuffer()).byteLength, 200000);
  server.closeAllConnections();
});

test('TCP echo writes back and closes after the client half-closes', async (t) => {
  const server = createTcpEcho();
  const port = await listen(server);
  t.after(() => server.close());
  const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(sock, 'connect');
  const chunks: Buffer[] = [];
  sock.on('data', (b: Buffer) => chunks.push(b));
  sock.write('ping ');
  sock.end('pong');
  await once(sock, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'ping pong');
  sock.destroy();
});

test('HTTP echo: /flaky fails n times per key, /delay waits, /seen lists what was served', async (t) => {
  const server = createServer(handleHttp);
  const port = await listen(server);
  t.after(() => server.close());
  const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await fetch(url('/flaky/k1/2'), { headers: { connection: 'close' } })).status);
  assert.deepEqual(codes, [503, 503, 200]);
  // Another key counts on its own.
  assert.equal((await fetch(url('/flaky/k2/1'))).status, 503);
  assert.equal((await fetch(url('/flaky/k1/2'))).status, 200);
  await assert.rejects(fetch(url('/flaky/k3/1?fail=reset')));
  assert.equal((await fetch(url('/flaky/k3/1?fail=reset'))).status, 200);
  const started = performance.now();
  const delayed = await fetch(url('/delay/50'));
  assert.equal(delayed.status, 200);
  assert.equal((await delayed.json() as EchoReply).path, '/delay/50');
  assert.ok(performance.now() - started >= 45);
  const seen = await (await fetch(url('/seen'))).json() as SeenRequest[];
  assert.deepEqual(seen.slice(-2).map((s) => s.path), ['/flaky/k3/1?fail=reset', '/delay/50']);
  assert.equal(seen.at(-1)?.host, `127.0.0.1:${port}`);
  server.closeAllConnections();
});

test('HTTP echo: /reset closes after headers and part of the body, /reset/early before any byte', async (t) => {
  const server = createServer(handleHttp);
  const port = await listen(server);
  t.after(() => server.close());
  const raw = async (path: string): Promise<string> => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.on('error', () => undefined);
    sock.end(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    // events.once would reject on the reset's 'error'; only the close matters here.
    await new Promise((resolve) => sock.once('close', resolve));
    return Buffer.concat(chunks).toString('latin1');
  };
  const partial = await raw('/reset');
  assert.match(partial, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(partial, /content-length: 1048576/i);
  const body = partial.slice(partial.indexOf('\r\n\r\n') + 4);
  assert.ok(body.length > 0 && body.length < 1 << 20, `${body.length} body bytes`);
  assert.equal(await raw('/reset/early'), '');
  server.closeAllConnections();
});
