// splice under failure: a reset on one side reaches the other as a reset (never as a clean
// FIN that would pass a truncated transfer off as complete), and the result says which side broke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { abort } from '#core/net/abort.ts';
import { splice, type SpliceResult } from '#ztunnel/proxy/splice.ts';

/** A proxy splicing every client to `upstreamPort`, and what its splices returned. */
async function proxyTo(upstreamPort: number): Promise<{ port: number; results: SpliceResult[]; close(): void }> {
  const results: SpliceResult[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const up = net.connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
    up.once('connect', () => { void splice(client, up).then((r) => results.push(r)); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, results, close: () => server.close() };
}

function endOf(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let code = 'FIN';
    s.on('error', (err: NodeJS.ErrnoException) => { code = err.code ?? err.message; });
    s.once('close', () => resolve(code));
  });
}

async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 2000;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test('an upstream reset reaches the client as a reset; broken = b', async () => {
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => { s.write('partial'); setTimeout(() => s.resetAndDestroy(), 20); });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = await proxyTo((upstream.address() as net.AddressInfo).port);
  try {
    const c = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    assert.equal(await endOf(c), 'ECONNRESET');
    await until(() => proxy.results.length > 0);
    assert.equal(proxy.results[0]?.broken, 'b');
  } finally {
    proxy.close();
    upstream.close();
  }
});

test('a client reset reaches the upstream as a reset; broken = a', async () => {
  const ends: Promise<string>[] = [];
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => { s.resume(); ends.push(endOf(s)); });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = await proxyTo((upstream.address() as net.AddressInfo).port);
  try {
    const c = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    c.on('error', () => undefined);
    await once(c, 'connect');
    c.write(Buffer.alloc(256 * 1024));
    await until(() => ends.length > 0);
    c.resetAndDestroy();
    assert.equal(await ends[0], 'ECONNRESET');
    await until(() => proxy.results.length > 0);
    assert.equal(proxy.results[0]?.broken, 'a');
  } finally {
    proxy.close();
    upstream.close();
  }
});

test('a clean exchange with half-close has no broken side', async () => {
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => { s.resume(); s.once('end', () => s.end('bye')); });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = await proxyTo((upstream.address() as net.AddressInfo).port);
  try {
    const c = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    c.resume();
    c.end('hi');
    assert.equal(await endOf(c), 'FIN');
    await until(() => proxy.results.length > 0);
    assert.equal(proxy.results[0]?.broken, undefined);
  } finally {
    proxy.close();
    upstream.close();
  }
});

test('abort on an HTTP/2 stream resets it: the peer sees an error, never a clean end', async () => {
  const seen: string[] = [];
  const server = http2.createServer();
  server.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.on('end', () => seen.push('end'));
    s.on('error', () => seen.push('error'));
    s.once('close', () => seen.push(`close ${s.rstCode}`));
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  try {
    const st = session.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
    st.on('error', () => undefined);
    await once(st, 'response');
    st.write('some bytes');
    abort(st);
    await until(() => seen.some((x) => x.startsWith('close')));
    assert.equal(seen.includes('end'), false, seen.join(', '));
    assert.deepEqual(seen, ['error', `close ${http2.constants.NGHTTP2_INTERNAL_ERROR}`]);
  } finally {
    session.destroy();
    server.close();
  }
});
