import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { testPki } from '#core/ca/testing.ts';
import { HboneServer } from '#core/hbone/server.ts';
import { HbonePool, type HboneConnectRequest, type HboneStream } from '#core/hbone/pool.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { defaultTuning } from '#core/hbone/settings.ts';
import { isWeftError } from '#core/errors.ts';
import { dialUpstream, echoServer, readAll, waitFor, type TestServer } from '#core/hbone/testing/harness.ts';

const SERVER = 'spiffe://cluster.local/ns/dst/sa/server';
const CLIENT = 'spiffe://cluster.local/ns/src/sa/client';

describe('HbonePool', () => {
  let serverCert: WorkloadCertificate;
  let client: WorkloadCertificate;
  let server: HboneServer;
  let listener: net.Server;
  let port = 0;
  let echo: TestServer;
  /** Every socket the server accepted, so a test can cut connections from the server side. */
  const accepted = new Set<net.Socket>();
  let dials = 0;

  before(async () => {
    const pki = await testPki();
    serverCert = await pki.issue(SERVER);
    client = await pki.issue(CLIENT);
    echo = await echoServer();
    server = new HboneServer({
      trustDomain: 'cluster.local',
      certificateFor: async () => serverCert,
      connectUpstream: (target) => dialUpstream(target),
    });
    // Sockets from our own listener, as the ztunnel feeds sockets accepted in a pod netns.
    listener = net.createServer((s) => {
      accepted.add(s);
      s.once('close', () => accepted.delete(s));
      server.handleConnection(s);
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    port = (listener.address() as AddressInfo).port;
  });

  after(async () => {
    await server.close(100);
    await new Promise<void>((r) => listener.close(() => r()));
    await echo.close();
  });

  const req = (over: Partial<HboneConnectRequest> = {}): HboneConnectRequest => ({
    sourceCert: client, destinationIdentity: SERVER, address: { host: '127.0.0.1', port },
    authority: `127.0.0.1:${echo.port}`,
    dial: (host, p) => {
      dials++;
      return dialUpstream({ host, port: p });
    },
    ...over,
  });

  async function roundTrip(s: HboneStream, text: string): Promise<void> {
    const got = readAll(s);
    s.end(text);
    assert.equal((await got).toString(), text);
  }

  test('two streams share one session; the caller-supplied dialer is used once', async () => {
    const pool = new HbonePool();
    try {
      const before = dials;
      const [a, b] = await Promise.all([pool.connect(req()), pool.connect(req())]);
      assert.deepEqual(pool.stats(), { sessions: 1, streams: 2 });
      assert.equal(dials - before, 1);
      assert.equal(a.session, b.session);
      // Flow-control windows are raised on both ends (Node's 64 KiB default throttles bulk transfer).
      assert.equal(a.session?.state.effectiveLocalWindowSize, defaultTuning.connectionWindow);
      assert.equal(a.session?.state.remoteWindowSize, defaultTuning.connectionWindow);
      assert.equal(a.state?.localWindowSize, defaultTuning.streamWindow);
      await Promise.all([roundTrip(a, 'a'), roundTrip(b, 'b')]);
      await waitFor(() => pool.stats().streams === 0);
    } finally {
      await pool.close(0);
    }
  });

  test('the 101st concurrent stream opens a second session', async () => {
    const pool = new HbonePool();
    try {
      const streams = await Promise.all(Array.from({ length: 101 }, () => pool.connect(req())));
      assert.deepEqual(pool.stats(), { sessions: 2, streams: 101 });
      assert.equal(new Set(streams.map((s) => s.session)).size, 2);
      await Promise.all(streams.map((s, i) => roundTrip(s, `stream ${i}`)));
    } finally {
      await pool.close(0);
    }
  });

  test('an idle session is released after the idle timeout', async () => {
    const pool = new HbonePool({ idleTimeoutMs: 100 });
    try {
      await roundTrip(await pool.connect(req()), 'idle soon');
      await waitFor(() => pool.stats().streams === 0);
      assert.equal(pool.stats().sessions, 1);
      await waitFor(() => pool.stats().sessions === 0, 2000);
      await waitFor(() => accepted.size === 0, 2000);
    } finally {
      await pool.close(0);
    }
  });

  test('evict drops every session to an address; open streams finish, new ones reconnect', async () => {
    const pool = new HbonePool();
    try {
      const open = await pool.connect(req());
      const before = dials;
      assert.equal(pool.evict('127.0.0.1'), 1);
      assert.deepEqual(pool.stats(), { sessions: 0, streams: 0 });
      await roundTrip(open, 'in flight');
      await roundTrip(await pool.connect(req()), 'fresh');
      assert.equal(dials - before, 1, 'a new session was dialed');
      assert.equal(pool.evict('127.0.0.9'), 0);
    } finally {
      await pool.close(0);
    }
  });

  test('a session that dies is dropped and replaced', async () => {
    const pool = new HbonePool();
    try {
      await roundTrip(await pool.connect(req()), 'first');
      assert.equal(pool.stats().sessions, 1);
      for (const s of accepted) s.destroy();
      await waitFor(() => pool.stats().sessions === 0);
      const before = dials;
      await roundTrip(await pool.connect(req()), 'second');
      assert.equal(dials - before, 1);
      assert.equal(pool.stats().sessions, 1);
    } finally {
      await pool.close(0);
    }
  });

  test('sessions are keyed by destination identity too: a reused IP with another identity never shares', async () => {
    const pool = new HbonePool();
    try {
      const s = await pool.connect(req());
      await assert.rejects(pool.connect(req({ destinationIdentity: 'spiffe://cluster.local/ns/dst/sa/new-owner' })),
        (err) => isWeftError(err, HboneErrorCode.peerIdentity));
      assert.equal(pool.stats().sessions, 1);
      await roundTrip(s, 'untouched');
    } finally {
      await pool.close(0);
    }
  });

  test('a provider-backed source certificate, and a closed pool refuses', async () => {
    const pool = new HbonePool();
    let asked = 0;
    const provider = { get: async (id: string) => { asked++; assert.equal(id, CLIENT); return client; } };
    await roundTrip(await pool.connect(req({ sourceCert: { provider, identity: CLIENT } })), 'via provider');
    assert.equal(asked, 1);
    await pool.close(0);
    await assert.rejects(pool.connect(req()), (err) => isWeftError(err, HboneErrorCode.closed));
  });

  test('an unreachable endpoint fails with a connect error', async () => {
    const pool = new HbonePool({ connectTimeoutMs: 1000 });
    try {
      const dead = net.createServer();
      await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
      const deadPort = (dead.address() as AddressInfo).port;
      await new Promise<void>((r) => dead.close(() => r()));
      await assert.rejects(pool.connect(req({ address: { host: '127.0.0.1', port: deadPort } })),
        (err) => isWeftError(err, HboneErrorCode.connect));
      assert.equal(pool.stats().sessions, 0);
    } finally {
      await pool.close(0);
    }
  });
  test('close(grace) lets an open stream finish within the grace, and destroys one that outlives it', async () => {
    const pool = new HbonePool();
    const open = await pool.connect(req());
    const session = open.session;
    let closed = false;
    const closing = pool.close(60_000).then(() => { closed = true; });
    // The stream still carries data after close() began: the session is only closing.
    const cut = new Promise<never>((_, reject) => open.once('close', () => reject(new Error('the stream was destroyed by close()'))));
    cut.catch(() => undefined);
    await Promise.race([roundTrip(open, 'after close began'), cut]);
    await closing;
    assert.ok(closed && session?.destroyed === true, 'close() returned once its last stream ended');

    const pool2 = new HbonePool();
    const stuck = await pool2.connect(req());
    const stuckSession = stuck.session;
    stuck.on('error', () => undefined);
    await pool2.close(50);
    assert.equal(stuckSession?.destroyed, true, 'destroyed at the end of the grace');
    assert.equal(stuck.destroyed, true);
  });
});
