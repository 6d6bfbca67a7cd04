import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createTcpEcho, handleHttp, type EchoReply } from './echo.ts';

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
