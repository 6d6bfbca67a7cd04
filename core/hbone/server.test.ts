import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { testPki, type TestPki } from '#core/ca/testing.ts';
import { DEFAULT_MAX_STREAMS, SERVER_STREAM_HEADROOM } from '#core/hbone/settings.ts';
import { HboneServer, type HboneRequestContext, type HboneServerEvent } from '#core/hbone/server.ts';
import { HbonePool, type HboneConnectRequest } from '#core/hbone/pool.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { isWeftError } from '#core/errors.ts';
import { closedPort, dialUpstream, echoServer, readAll, tcpServer, waitFor, type TestServer } from '#core/hbone/testing/harness.ts';
import { noSanCertificate } from '#core/hbone/testing/no-san-cert.ts';

const SERVER_A = 'spiffe://cluster.local/ns/dst/sa/a';
const SERVER_B = 'spiffe://cluster.local/ns/dst/sa/b';
const CLIENT = 'spiffe://cluster.local/ns/src/sa/client';
const DENIED_PORT = 9;
const WRONG_HOST = '127.0.0.3';

describe('HboneServer', () => {
  let pki: TestPki;
  let certA: WorkloadCertificate;
  let certB: WorkloadCertificate;
  let client: WorkloadCertificate;
  let extraRoot = '';
  let noSanCert: WorkloadCertificate;
  let server: HboneServer;
  let port1 = 0;
  let port2 = 0;
  let echo: TestServer;
  let pool: HbonePool;
  const contexts: HboneRequestContext[] = [];
  const events: HboneServerEvent[] = [];

  before(async () => {
    pki = await testPki();
    const noSan = await noSanCertificate();
    extraRoot = noSan.rootPem;
    noSanCert = noSan.cert;
    // The server also trusts the no-SAN root, so that certificate passes the chain check and
    // must be refused for its missing SPIFFE id.
    const trustBoth = (c: WorkloadCertificate): WorkloadCertificate => ({ ...c, rootsPem: [...c.rootsPem, extraRoot] });
    certA = trustBoth(await pki.issue(SERVER_A));
    certB = trustBoth(await pki.issue(SERVER_B));
    client = await pki.issue(CLIENT);
    echo = await echoServer();
    server = new HboneServer({
      trustDomain: 'cluster.local',
      certificateFor: async (local) => (local === '127.0.0.2' ? certB : certA),
      checkTarget: (ctx) => (ctx.target.host === WRONG_HOST ? `${WRONG_HOST} is not an address of this workload` : undefined),
      authorize: async (ctx) => {
        contexts.push(ctx);
        return ctx.target.port === DENIED_PORT ? { allow: false, reason: 'port 9 is closed by policy' } : { allow: true };
      },
      connectUpstream: (target) => dialUpstream(target),
      onTunnel: (e) => events.push(e),
    });
    port1 = (await server.listen(0, '127.0.0.1')).port;
    port2 = (await server.listen(0, '127.0.0.2')).port;
    pool = new HbonePool();
  });

  after(async () => {
    await pool.close(100);
    await server.close(100);
    await echo.close();
  });

  const req = (over: Partial<HboneConnectRequest> = {}): HboneConnectRequest => ({
    sourceCert: client, destinationIdentity: SERVER_A, address: { host: '127.0.0.1', port: port1 },
    authority: `127.0.0.1:${echo.port}`, ...over,
  });

  test('echoes a few MB byte-exact, client half-closes first', async () => {
    const stream = await pool.connect(req());
    assert.equal(stream.status, 200);
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const got = readAll(stream);
    stream.end(payload);
    assert.ok((await got).equals(payload));
  });

  test('upstream half-closes first; the client can still send afterwards', async () => {
    let received: Promise<Buffer> | undefined;
    const greeter = await tcpServer((s) => {
      received = readAll(s);
      s.end('hello');
    });
    try {
      const stream = await pool.connect(req({ authority: `127.0.0.1:${greeter.port}` }));
      assert.equal((await readAll(stream)).toString(), 'hello');
      stream.end('after the server finished');
      await waitFor(() => received !== undefined);
      assert.equal((await received!).toString(), 'after the server finished');
    } finally {
      await greeter.close();
    }
  });

  test('request headers arrive in the context', async () => {
    const stream = await pool.connect(req({
      headers: { baggage: 'k8s.namespace.name=src,service.name=client', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      sourceAddress: { host: '10.1.2.3', port: 4567 }, serviceHostname: 'echo.dst.svc.cluster.local',
    }));
    stream.end();
    await readAll(stream);
    const ctx = contexts.at(-1)!;
    assert.equal(ctx.headers.forwarded, 'for="10.1.2.3:4567";host=echo.dst.svc.cluster.local');
    assert.equal(ctx.headers.baggage, 'k8s.namespace.name=src,service.name=client');
    assert.equal(ctx.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(ctx.peerIdentity, CLIENT);
    assert.equal(ctx.localIdentity, SERVER_A);
    assert.equal(ctx.localAddress, '127.0.0.1');
    assert.equal(ctx.localPort, port1);
    assert.equal(ctx.peerAddress, '127.0.0.1');
    assert.deepEqual(ctx.target, { host: '127.0.0.1', port: echo.port });

    const plain = await pool.connect(req());
    plain.end();
    await readAll(plain);
    const defaults = contexts.at(-1)!;
    assert.match(defaults.headers.forwarded ?? '', /^for="127\.0\.0\.1:\d+"$/);
    assert.match(defaults.headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });

  test('400 for a bad authority, 401 when denied, 503 when unreachable; the session survives each', async () => {
    const accepted = server.stats().connectionsAccepted;
    const cases: [string, string][] = [
      ['echo.example:80', HboneErrorCode.badRequest],
      ['127.0.0.1:0', HboneErrorCode.badRequest],
      [`127.0.0.1:${DENIED_PORT}`, HboneErrorCode.denied],
      // A target the endpoint does not serve is a bad request, not a policy denial (Istio answers 400).
      [`${WRONG_HOST}:${DENIED_PORT}`, HboneErrorCode.badRequest],
      [`127.0.0.1:${await closedPort()}`, HboneErrorCode.upstream],
    ];
    for (const [authority, code] of cases) {
      await assert.rejects(pool.connect(req({ authority })), (err) => isWeftError(err, code), authority);
      const ok = await pool.connect(req());
      ok.end('still here');
      assert.equal((await readAll(ok)).toString(), 'still here');
    }
    assert.equal(server.stats().connectionsAccepted, accepted, 'no new connection was needed');
    const s = server.stats();
    assert.ok(s.badRequests >= 3 && s.denied >= 1 && s.upstreamFailures >= 1);
    const wrong = events.find((e) => e.type === 'tunnel_rejected' && e.ctx?.target.host === WRONG_HOST);
    assert.deepEqual(wrong?.type === 'tunnel_rejected' ? [wrong.status, wrong.responseFlags, wrong.reason] : undefined,
      [400, 'BAD_REQUEST', `${WRONG_HOST} is not an address of this workload`]);
    assert.ok(!contexts.some((c) => c.target.host === WRONG_HOST), 'policy is not consulted for a target the endpoint does not serve');
    const denied = events.find((e) => e.type === 'tunnel_rejected' && e.status === 401);
    assert.equal(denied?.type === 'tunnel_rejected' ? denied.responseFlags : undefined, 'DENY');
  });

  test('400 for a method other than CONNECT', async () => {
    const socket = tls.connect({
      host: '127.0.0.1', port: port1, key: client.keyPem, cert: client.certPem, ca: client.rootsPem,
      ALPNProtocols: ['h2'], checkServerIdentity: () => undefined,
    });
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    const session = http2.connect(`https://127.0.0.1:${port1}`, { createConnection: () => socket });
    try {
      const status = (s: http2.ClientHttp2Stream): Promise<number> =>
        new Promise((r) => s.once('response', (h) => r(Number(h[':status']))));
      const get = session.request({ ':method': 'GET', ':path': '/' });
      get.end();
      assert.equal(await status(get), 400);
      const connect = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
      assert.equal(await status(connect), 200, 'same connection still serves CONNECT');
      connect.end('x');
      assert.equal((await readAll(connect)).toString(), 'x');
    } finally {
      session.destroy();
    }
  });

  test('the client refuses a server presenting another identity', async () => {
    await assert.rejects(pool.connect(req({ destinationIdentity: 'spiffe://cluster.local/ns/dst/sa/other' })),
      (err) => isWeftError(err, HboneErrorCode.peerIdentity) && /expected spiffe:\/\/cluster.local\/ns\/dst\/sa\/other/.test((err as Error).message));
  });

  test('the certificate is chosen by the local address', async () => {
    const a = await pool.connect(req({ destinationIdentity: SERVER_A, address: { host: '127.0.0.1', port: port1 } }));
    const b = await pool.connect(req({ destinationIdentity: SERVER_B, address: { host: '127.0.0.2', port: port2 } }));
    for (const s of [a, b]) s.end();
    await Promise.all([readAll(a), readAll(b)]);
    await assert.rejects(pool.connect(req({ destinationIdentity: SERVER_A, address: { host: '127.0.0.2', port: port2 } })),
      (err) => isWeftError(err, HboneErrorCode.peerIdentity) && (err as Error).message.includes(`presented ${SERVER_B}`));
  });

  test('bad client certificates are rejected at the handshake; good clients still served', async () => {
    const hour = 3600_000;
    const bad: [string, WorkloadCertificate, keyof ReturnType<HboneServer['stats']>][] = [
      ['expired', await pki.issue(CLIENT, { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) }), 'tlsFailures'],
      ['not yet valid', await pki.issue(CLIENT, { notBefore: new Date(Date.now() + hour), notAfter: new Date(Date.now() + 2 * hour) }), 'tlsFailures'],
      ['foreign CA', await pki.issueForeign(CLIENT), 'tlsFailures'],
      ['no SPIFFE SAN', { ...noSanCert, rootsPem: client.rootsPem }, 'peerIdentityRejected'],
      ['other trust domain', await pki.issue('spiffe://other.local/ns/src/sa/client'), 'peerIdentityRejected'],
    ];
    for (const [name, cert, counter] of bad) {
      const before = server.stats();
      const p = new HbonePool({ connectTimeoutMs: 2000, responseTimeoutMs: 2000 });
      try {
        await assert.rejects(p.connect(req({ sourceCert: cert })), (err) => isWeftError(err), name);
      } finally {
        await p.close(0);
      }
      await waitFor(() => server.stats()[counter] === before[counter] + 1);
      assert.equal(server.stats().tunnelsOpened, before.tunnelsOpened, name);
      assert.ok(events.some((e) => e.type === 'handshake_failed' && e.responseFlags === 'TLS_FAILURE'));
      const fresh = new HbonePool();
      try {
        const ok = await fresh.connect(req());
        ok.end('ok');
        assert.equal((await readAll(ok)).toString(), 'ok', `good client served after ${name}`);
      } finally {
        await fresh.close(0);
      }
    }
  });

  test('a refused client certificate gets a TLS alert that says why, not a reset', async () => {
    const hour = 3600_000;
    const cases: [string, WorkloadCertificate | undefined, number][] = [
      ['foreign CA', await pki.issueForeign(CLIENT), 48],
      ['expired', await pki.issue(CLIENT, { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) }), 45],
      ['other trust domain', await pki.issue('spiffe://other.local/ns/src/sa/client'), 46],
      ['no client certificate', undefined, 116],
    ];
    for (const [name, cert, alert] of cases) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = tls.connect({
          host: '127.0.0.1', port: port1, ca: client.rootsPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined,
          ...(cert === undefined ? {} : { key: cert.keyPem, cert: cert.certPem }),
        });
        // TLS 1.3: the client is done with its handshake before the server judges its certificate.
        socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
        socket.once('error', (err: Error & { code?: string }) => resolve(`${err.code ?? ''} ${err.message}`));
        socket.once('close', () => resolve('closed without an error'));
      });
      assert.match(outcome, new RegExp(`alert number ${alert}\\b`), `${name}: ${outcome}`);
    }
    const ok = await pool.connect(req());
    ok.end('served');
    assert.equal((await readAll(ok)).toString(), 'served');
  });

  test('a flood of streams on one connection is bounded by SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    let active = 0;
    let peak = 0;
    const holder = await tcpServer((s) => {
      active++;
      peak = Math.max(peak, active);
      s.once('close', () => active--);
      // Hold briefly so streams overlap, then answer and close.
      setTimeout(() => s.end('done'), 20);
      s.resume();
    });
    const socket = tls.connect({
      host: '127.0.0.1', port: port1, key: client.keyPem, cert: client.certPem, ca: client.rootsPem,
      ALPNProtocols: ['h2'], checkServerIdentity: () => undefined,
    });
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    const session = http2.connect(`https://127.0.0.1:${port1}`, { createConnection: () => socket, peerMaxConcurrentStreams: 1000 });
    try {
      const limit = DEFAULT_MAX_STREAMS + SERVER_STREAM_HEADROOM;
      const all = Array.from({ length: 2 * limit + 100 }, () => new Promise<string>((resolve) => {
        const s = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${holder.port}` });
        s.on('error', () => resolve(`rst:${s.rstCode ?? '?'}`));
        s.once('response', (h) => {
          s.end();
          readAll(s).then((b) => resolve(`${String(h[':status'])}:${b.toString()}`), () => resolve('error'));
        });
      }));
      const results = await Promise.all(all);
      // Streams past the limit are refused one by one (RST_STREAM REFUSED_STREAM), never the connection.
      const served = results.filter((r) => r === '200:done').length;
      const refused = results.filter((r) => r === `rst:${http2.constants.NGHTTP2_REFUSED_STREAM}`).length;
      assert.ok(served >= limit, `served ${served}`);
      assert.equal(served + refused, 2 * limit + 100, results.join(' '));
      assert.ok(peak <= limit, `at most ${limit} upstreams at once, saw ${peak}`);
      const again = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
      again.end('same connection');
      assert.equal((await readAll(again)).toString(), 'same connection');
    } finally {
      session.destroy();
      await holder.close();
    }
    const ok = await pool.connect(req());
    ok.end('alive');
    assert.equal((await readAll(ok)).toString(), 'alive');
  });
});
