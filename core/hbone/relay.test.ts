// relay: bytes and half-close both ways, and under failure a broken side reaching the other as
// a reset (TCP RST, or RST_STREAM without END_STREAM), never as a clean end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { testPki } from '#core/ca/testing.ts';
import { defaultDialer } from '#core/hbone/dial.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import { relay, type RelayResult, type RelayStrategy } from '#core/hbone/relay.ts';
import { HboneServer } from '#core/hbone/server.ts';
import { dialUpstream, readAll, tcpServer, waitFor, type TestServer } from '#core/hbone/testing/harness.ts';

/** A connected TCP pair on loopback, both ends half-open capable. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const pair: [net.Socket, net.Socket] = [client, await accepted];
  server.close();
  return pair;
}

for (const strategy of ['pipe', 'manual', 'batched'] as RelayStrategy[]) {
  test(`relay (${strategy}) carries bytes and half-close both ways, and counts them`, async () => {
    const [app, tunnel] = await socketPair();
    const [upstream, target] = await socketPair();
    const done = relay(tunnel, upstream, () => assert.fail('no upstream error expected'), strategy);
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    const atTarget = readAll(target);
    // The target answers and finishes first; the app keeps sending after that.
    target.end('bye');
    assert.equal((await readAll(app)).toString(), 'bye');
    app.end(big);
    assert.ok((await atTarget).equals(big));
    const result = await done;
    assert.equal(result.toUpstream, big.length);
    assert.equal(result.toTunnel, 3);
    assert.equal(result.error, undefined);
  });
}

test('an upstream reset is reported and tears the tunnel down', async () => {
  const [app, tunnel] = await socketPair();
  const [upstream, target] = await socketPair();
  let reported = 0;
  const done = relay(tunnel, upstream, () => {
    reported++;
    tunnel.destroy();
  });
  app.on('error', () => undefined);
  target.resetAndDestroy();
  await done;
  assert.ok(reported >= 1);
  assert.ok(tunnel.destroyed);
});

// A tunnel that breaks: the CONNECT stream reset, or its connection gone, without END_STREAM.
// Node reports each of these as 'aborted' and then an 'end' (no error for a CANCEL or a lost
// connection), which must reach the upstream as a reset, not as a FIN.

interface H2cTunnel {
  /** A CONNECT stream whose server side is being relayed; resolves once answered 200. */
  open(): Promise<http2.ClientHttp2Stream>;
  /** The client's TCP connection of the session (destroy() = FIN, as from a killed peer). */
  clientSocket(): net.Socket;
  results: RelayResult[];
  close(): Promise<void>;
}

/** Plain-text HTTP/2 (h2c) CONNECT: each stream relayed to `target` with `strategy`. */
async function h2cTunnel(target: TestServer, strategy: RelayStrategy, onUpstreamError: (stream: http2.ServerHttp2Stream) => void = () => undefined): Promise<H2cTunnel> {
  const results: RelayResult[] = [];
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    void dialUpstream({ host: '127.0.0.1', port: target.port }).then(async (up) => {
      stream.respond({ ':status': 200 }, { endStream: false });
      results.push(await relay(stream, up, () => onUpstreamError(stream), strategy));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const raw = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  const session = http2.connect('http://127.0.0.1', { createConnection: () => raw });
  session.on('error', () => undefined);
  return {
    open: async () => {
      const st = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${target.port}` }, { endStream: false });
      st.on('error', () => undefined);
      await once(st, 'response');
      return st;
    },
    clientSocket: () => raw,
    results,
    close: async () => {
      session.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** How a socket's reading side ended: its error code, or FIN. */
function endOf(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.once('end', () => resolve('FIN'));
  });
}

/** An Error Node's HTTP/2 turns into RST_STREAM(CANCEL) when a stream is destroyed with it. */
async function abortError(): Promise<Error> {
  try {
    await once(new EventEmitter(), 'never', { signal: AbortSignal.abort() });
  } catch (err) {
    return err as Error;
  }
  throw new Error('not aborted');
}

/** A target that counts what it reads and remembers how each connection ended. */
async function recordingTarget(onSocket: (s: net.Socket) => void = () => undefined): Promise<{ server: TestServer; ends: Promise<string>[]; bytes: () => number }> {
  const ends: Promise<string>[] = [];
  let bytes = 0;
  const server = await tcpServer((s) => {
    ends.push(endOf(s));
    s.on('data', (b: Buffer) => { bytes += b.length; });
    onSocket(s);
  });
  return { server, ends, bytes: () => bytes };
}

for (const strategy of ['pipe', 'manual', 'batched'] as RelayStrategy[]) {
  test(`relay (${strategy}): the tunnel's connection lost mid-upload resets the upstream; broken = tunnel`, async () => {
    const target = await recordingTarget();
    const t = await h2cTunnel(target.server, strategy);
    try {
      const st = await t.open();
      st.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(() => target.bytes() === 64 * 1024);
      // The peer's process dies: its kernel closes the connection with a FIN, no RST_STREAM.
      t.clientSocket().destroy();
      assert.equal(await target.ends[0], 'ECONNRESET');
      await waitFor(() => t.results.length === 1);
      assert.equal(t.results[0]?.broken, 'tunnel');
    } finally {
      await t.close();
      await target.server.close();
    }
  });

  test(`relay (${strategy}): lost after the upstream finished sending (no 'aborted' then) still resets it`, async () => {
    // The target answers and half-closes at once, so the tunnel's own writing side is done.
    const target = await recordingTarget((s) => s.end('bye'));
    const t = await h2cTunnel(target.server, strategy);
    try {
      const st = await t.open();
      assert.equal((await readAll(st)).toString(), 'bye');
      st.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(() => target.bytes() === 64 * 1024);
      t.clientSocket().destroy();
      assert.equal(await target.ends[0], 'ECONNRESET');
    } finally {
      await t.close();
      await target.server.close();
    }
  });

  test(`relay (${strategy}): a clean END_STREAM after the data still ends the upstream with a FIN`, async () => {
    const target = await recordingTarget();
    const t = await h2cTunnel(target.server, strategy);
    try {
      const st = await t.open();
      st.end(Buffer.alloc(200 * 1024, 2));
      assert.equal(await target.ends[0], 'FIN');
      assert.equal(target.bytes(), 200 * 1024);
    } finally {
      await t.close();
      await target.server.close();
    }
  });
}

test('relay: RST_STREAM(CANCEL) from the peer resets the upstream (Node reports no error for it)', async () => {
  const target = await recordingTarget();
  const t = await h2cTunnel(target.server, 'batched');
  try {
    const st = await t.open();
    st.write('some bytes');
    await waitFor(() => target.bytes() > 0);
    st.destroy(await abortError());
    assert.equal(await target.ends[0], 'ECONNRESET');
    await waitFor(() => t.results.length === 1);
    assert.equal(t.results[0]?.broken, 'tunnel');
    assert.equal(t.results[0]?.error, undefined);
  } finally {
    await t.close();
    await target.server.close();
  }
});

test('relay: RST_STREAM(INTERNAL_ERROR) from the peer resets the upstream', async () => {
  const target = await recordingTarget();
  const t = await h2cTunnel(target.server, 'batched');
  try {
    const st = await t.open();
    st.write('some bytes');
    await waitFor(() => target.bytes() > 0);
    st.destroy(new Error('client side broke'));
    assert.equal(await target.ends[0], 'ECONNRESET');
  } finally {
    await t.close();
    await target.server.close();
  }
});

test('relay: an upstream reset on an idle tunnel reaches the peer as RST_STREAM alone, never END_STREAM', async () => {
  let app: net.Socket | undefined;
  const target = await recordingTarget((s) => { app = s; });
  // The caller's callback as HboneServer has it: close(CONNECT_ERROR) would send END_STREAM first.
  const t = await h2cTunnel(target.server, 'batched', (stream) => { if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CONNECT_ERROR); });
  try {
    const st = await t.open();
    const seen: string[] = [];
    st.on('end', () => seen.push('end'));
    st.on('error', () => seen.push('error'));
    st.write('hello');
    await waitFor(() => target.bytes() === 5);
    const closed = new Promise((r) => st.once('close', r));
    app?.resetAndDestroy();
    await closed;
    assert.deepEqual(seen, ['error']);
    assert.notEqual(st.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    await waitFor(() => t.results.length === 1);
    assert.equal(t.results[0]?.broken, 'upstream');
  } finally {
    await t.close();
    await target.server.close();
  }
});

test('through HboneServer and HbonePool (mutual TLS): the client\'s connection lost mid-upload resets the target', async () => {
  const pki = await testPki();
  const serverId = 'spiffe://cluster.local/ns/dst/sa/server';
  const [serverCert, clientCert] = await Promise.all([pki.issue(serverId), pki.issue('spiffe://cluster.local/ns/src/sa/client')]);
  const target = await recordingTarget();
  const server = new HboneServer({ trustDomain: 'cluster.local', certificateFor: async () => serverCert, connectUpstream: (t) => dialUpstream(t) });
  const pool = new HbonePool();
  let raw: net.Socket | undefined;
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    const stream = await pool.connect({
      sourceCert: clientCert, destinationIdentity: serverId, address: { host: '127.0.0.1', port }, authority: `127.0.0.1:${target.server.port}`,
      dial: async (host, p) => { raw = await defaultDialer(host, p); return raw; },
    });
    stream.on('error', () => undefined);
    stream.write(Buffer.alloc(64 * 1024, 5));
    await waitFor(() => target.bytes() === 64 * 1024);
    // The client ztunnel's process dies: its kernel ends the TCP connection with a FIN.
    raw?.destroy();
    assert.equal(await target.ends[0], 'ECONNRESET');
  } finally {
    await pool.close(0);
    await server.close(0);
    await target.server.close();
  }
});
