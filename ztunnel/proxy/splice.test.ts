// splice under failure: a reset on one side reaches the other as a reset (never as a clean
// FIN that would pass a truncated transfer off as complete), and the result says which side broke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { readAll } from '#core/hbone/testing/harness.ts';
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

// The HBONE side breaking under a spliced client: its connection lost (the far ztunnel
// killed, its kernel sending a FIN), or the stream reset with CANCEL, both of which Node
// reports as 'aborted' and an 'end' without error. The client must see a reset.

interface SplicedClient {
  /** The app's socket; the other end of its TCP pair is spliced to a CONNECT stream. */
  app: net.Socket;
  /** The server's side of the CONNECT stream. */
  serverStream: http2.ServerHttp2Stream;
  /** Every TCP connection the HTTP/2 server accepted (destroy() = FIN, as from a killed peer). */
  serverSockets: Set<net.Socket>;
  result: Promise<SpliceResult>;
  close(): void;
}

async function splicedToH2(): Promise<SplicedClient> {
  const serverSockets = new Set<net.Socket>();
  const server = http2.createServer();
  server.on('connection', (s: net.Socket) => serverSockets.add(s));
  const streams: http2.ServerHttp2Stream[] = [];
  server.on('stream', (s) => {
    s.on('error', () => undefined);
    s.respond({ ':status': 200 }, { endStream: false });
    streams.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  session.on('error', () => undefined);
  const st = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:1' }, { endStream: false });
  st.on('error', () => undefined);
  await once(st, 'response');
  // The app's connection to ztunnel: a loopback pair, ztunnel's end spliced to the stream.
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const app = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [down] = await accepted;
  listener.close();
  await until(() => streams.length > 0);
  return {
    app, serverStream: streams[0]!, serverSockets, result: splice(down, st),
    close: () => { app.destroy(); session.destroy(); server.close(); },
  };
}

/** How a socket's reading side ended: its error code, or FIN. */
function readEnd(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.once('end', () => resolve('FIN'));
  });
}

test('the HBONE connection lost mid-download resets the client; broken = b', async () => {
  const t = await splicedToH2();
  try {
    const ended = readEnd(t.app);
    let got = 0;
    t.app.on('data', (b: Buffer) => { got += b.length; });
    t.serverStream.write(Buffer.alloc(64 * 1024, 3));
    await until(() => got === 64 * 1024);
    for (const s of t.serverSockets) s.destroy();
    assert.equal(await ended, 'ECONNRESET');
    assert.equal((await t.result).broken, 'b');
  } finally {
    t.close();
  }
});

test('the HBONE connection lost after the client half-closed (no \'aborted\' then) still resets it', async () => {
  const t = await splicedToH2();
  try {
    const ended = readEnd(t.app);
    let got = 0;
    t.app.on('data', (b: Buffer) => { got += b.length; });
    const request = readAll(t.serverStream);
    t.app.end('request');
    assert.equal((await request).toString(), 'request');
    t.serverStream.write(Buffer.alloc(64 * 1024, 3));
    await until(() => got === 64 * 1024);
    for (const s of t.serverSockets) s.destroy();
    assert.equal(await ended, 'ECONNRESET');
    assert.equal((await t.result).broken, 'b');
  } finally {
    t.close();
  }
});

test('RST_STREAM(CANCEL) from the HBONE peer resets the client', async () => {
  const t = await splicedToH2();
  try {
    const ended = readEnd(t.app);
    let got = 0;
    t.app.on('data', (b: Buffer) => { got += b.length; });
    t.serverStream.write('partial');
    await until(() => got === 7);
    let cancel: Error | undefined;
    await once(new EventEmitter(), 'never', { signal: AbortSignal.abort() }).catch((err: unknown) => { cancel = err as Error; });
    // Destroyed with an AbortError, Node's HTTP/2 sends RST_STREAM(CANCEL) and nothing before it.
    t.serverStream.destroy(cancel);
    assert.equal(await ended, 'ECONNRESET');
    assert.equal((await t.result).broken, 'b');
  } finally {
    t.close();
  }
});

test('a clean END_STREAM from the HBONE peer reaches the client as a FIN after every byte', async () => {
  const t = await splicedToH2();
  try {
    const all = readAll(t.app);
    t.serverStream.end(Buffer.alloc(300 * 1024, 4));
    assert.equal((await all).length, 300 * 1024);
    t.app.end();
    assert.equal((await t.result).broken, undefined);
  } finally {
    t.close();
  }
});
