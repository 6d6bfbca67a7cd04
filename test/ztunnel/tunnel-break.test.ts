// End-to-end: the ztunnel at the far end of an HBONE tunnel dies mid-transfer (SIGKILL, or
// SIGTERM with its short drain), and the app on the surviving side must see a TCP reset, never
// a FIN that would pass a stream that had not ended off as complete. Once in each direction:
// the client's ztunnel resets the client (outbound splice), the server's resets the server
// (inbound relay). The transfer never ends, but it is idle at the moment of the kill (every
// byte sent so far delivered and acknowledged by a message the other way): a ztunnel killed
// with unread bytes makes its kernel send the RST itself, which would hide the fault; an idle
// one is closed by its kernel with a FIN, which ztunnel must not pass on. Each test gets a
// fresh mesh (controller and both ztunnels as processes), since it kills one of them. Needs root.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { Logger } from '#core/log.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { connectInNetns, listenInNetns } from '#ztunnel/native/index.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const verbose = process.env['WEFT_TEST_LOG'] === '1';
const MB = 1024 * 1024;
const BURST = MB;
/** Bursts asked for before the kill; the stream itself never ends. */
const BURSTS = 3;
const DOWNLOAD_PORT = 7100;
const UPLOAD_PORT = 7101;
const NAMESPACE = 'brk';
const MORE = 'm';
const HOLD = 'h';

/** Resolves with how the socket's reading side ended: the error code, or 'FIN' for a clean end. */
function endOf(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.once('end', () => resolve('FIN'));
    s.once('close', () => resolve('closed without FIN or error'));
  });
}

/** Fails the test (rather than hanging it) if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); }),
  ]);
}

/** A promise and the function that resolves it. */
function signal(): { reached: Promise<void>; set: () => void } {
  let set: () => void = () => undefined;
  const reached = new Promise<void>((r) => { set = r; });
  return { reached, set };
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const burst = Buffer.alloc(BURST, 0x77);

interface Dump {
  openInboundConnections: number;
  hbone: { pool: { streams: number }; server: { streamsActive: number } };
}

describe('a tunnel whose far ztunnel dies mid-transfer', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let server: LocalPod;
  const apps: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  /** The server app's side of the current test's connection. */
  let serverSide: Promise<net.Socket>;
  let gotServerSide: (s: net.Socket) => void = () => undefined;
  /** Set when the server app has been told to hold (download) or has all the bursts (upload). */
  let held = signal();

  const track = (s: net.Socket): net.Socket => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    return s;
  };

  beforeEach(async () => {
    held = signal();
    serverSide = new Promise((r) => { gotServerSide = r; });
    mesh = await LocalMesh.start({
      name: 'ztbrk', nodes: 2, logLevel: verbose ? 'debug' : 'warn', echo: verbose, logger: new Logger({ level: verbose ? 'debug' : 'off' }),
    });
    [client, server] = await Promise.all([
      mesh.cluster.addPod({ namespace: NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'client' }),
      mesh.cluster.addPod({ namespace: NAMESPACE, name: 'server', node: 'node2', serviceAccount: 'server' }),
    ]);
    // Sends a burst for every MORE, never ends; HOLD marks the moment everything sent was read.
    const download = await listenInNetns(server.netnsPath, { address: '0.0.0.0', port: DOWNLOAD_PORT, server: { allowHalfOpen: true } });
    download.on('connection', (s: net.Socket) => {
      gotServerSide(track(s));
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        for (const c of d) {
          if (c === MORE) s.write(burst);
          else if (c === HOLD) held.set();
        }
      });
    });
    // Reads; once BURSTS bursts are in, answers HOLD (so the client knows every byte arrived).
    const upload = await listenInNetns(server.netnsPath, { address: '0.0.0.0', port: UPLOAD_PORT, server: { allowHalfOpen: true } });
    upload.on('connection', (s: net.Socket) => {
      gotServerSide(track(s));
      let got = 0;
      s.on('data', (b: Buffer) => {
        got += b.length;
        if (got === BURSTS * BURST) s.write(HOLD);
      });
    });
    apps.push(download, upload);
    await mesh.enrollNamespace(NAMESPACE);
    const m = mesh;
    await Promise.all([m.waitForEnrollment(client, true, 30_000), m.waitForEnrollment(server, true, 30_000)]).catch((err: unknown) => {
      const tails = m.ztunnels.map((z) => `${z.node.name}: ${z.process.stderr.slice(-1500)}`).join('\n');
      throw new Error(`${String(err)}\nztunnel output:\n${tails}`);
    });
    await mesh.settle(30_000);
  });

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(apps.splice(0).map((a) => new Promise<void>((r) => a.close(() => r()))));
    await mesh?.stop();
    mesh = undefined;
  });

  async function dial(port: number): Promise<net.Socket> {
    const s = track(await connectInNetns(client.netnsPath, { host: server.ip, port, timeoutMs: 5000 }));
    s.allowHalfOpen = true;
    return s;
  }

  async function dump(node: string): Promise<Dump> {
    return (await mesh!.configDump(node)) as Dump;
  }

  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    test(`the server's ztunnel gets ${sig} in the middle of an endless download: the client sees a reset`, async () => {
      const s = await dial(DOWNLOAD_PORT);
      const ended = endOf(s);
      let received = 0;
      s.on('data', (b: Buffer) => {
        received += b.length;
        if (received % BURST !== 0) return;
        s.write(received < BURSTS * BURST ? MORE : HOLD);
      });
      s.write(MORE);
      await within(held.reached, 15_000, `${BURSTS} bursts through the mesh`);
      const far = mesh!.ztunnel('node2').process;
      far.signal(sig);
      await within(far.exited, 10_000, `the server's ztunnel to exit on ${sig}`);
      const how = await within(ended, 10_000, 'the client connection to end');
      assert.equal(how, 'ECONNRESET', `the client saw ${how} after ${received} bytes of a stream that had not ended; a FIN would pass it off as complete`);
      await eventually('the client ztunnel to hold no stream', async () => (await dump('node1')).hbone.pool.streams === 0);
    });
  }

  test('the client\'s ztunnel gets SIGKILL in the middle of an endless upload: the server sees a reset', async () => {
    const s = await dial(UPLOAD_PORT);
    s.on('data', (b: Buffer) => { if (b.toString('latin1').includes(HOLD)) held.set(); });
    for (let i = 0; i < BURSTS; i++) s.write(burst);
    const ended = endOf(await within(serverSide, 10_000, 'the server app to accept'));
    await within(held.reached, 15_000, `${BURSTS} bursts through the mesh`);
    const far = mesh!.ztunnel('node1').process;
    far.signal('SIGKILL');
    await within(far.exited, 10_000, 'the client\'s ztunnel to exit');
    const how = await within(ended, 10_000, 'the server connection to end');
    assert.equal(how, 'ECONNRESET', `the server saw ${how} after ${BURSTS * BURST} bytes of an upload that had not ended`);
    await eventually('the server ztunnel to hold no stream or inbound connection', async () => {
      const d = await dump('node2');
      return d.hbone.server.streamsActive === 0 && d.openInboundConnections === 0;
    });
  });
});
