// Root-only tests of the native socket layer against real network namespaces: listeners and
// connections inside a namespace, marks, SO_ORIGINAL_DST after REDIRECT, transparent connects
// from a foreign source, ports of bound client sockets chosen at connect(), clean errors, and
// a main thread that always comes home.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  connectInNetns, getBindAddressNoPort, getMark, getOriginalDst, listenInNetns, openSocketInNetns, originalDst, setMark, setTransparent, socketFd,
} from './index.ts';
import { NetnsFixture, inNetns, isRoot, readAll, sh, threadNetnsInode } from './netns-fixture.ts';

const MARK = 0x539;
const POD_IP = '198.18.2.2';
const CALLER_IP = '198.18.2.77';
const PEER_IP = '198.18.2.1';
const skip = isRoot ? false : 'needs root (network namespaces)';

function isErrno(err: unknown, code: string, syscall?: string): boolean {
  return err instanceof Error && Reflect.get(err, 'code') === code &&
    (syscall === undefined || Reflect.get(err, 'syscall') === syscall);
}

function port(server: net.Server): number {
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

async function closeServer(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Echo-like app: answers every connection with "hello <remote address>" and closes. */
function greet(server: net.Server): void {
  server.on('connection', (s) => s.end(`hello ${s.remoteAddress ?? '?'}`));
}

describe('native sockets in network namespaces', { skip }, () => {
  const fixture = new NetnsFixture('n');
  let pod = { name: '', path: '' };
  const servers: net.Server[] = [];
  let inodeBefore = 0;

  before(async () => {
    inodeBefore = threadNetnsInode();
    pod = await fixture.add('p');
    const peer = await fixture.add('q');
    await fixture.veth({ ns: pod.name, address: `${POD_IP}/24` }, { ns: peer.name, address: `${PEER_IP}/24` });
  });

  after(async () => {
    await Promise.all(servers.splice(0).map(closeServer));
    await fixture.dispose();
  });

  test('a bad namespace path gives a clean errno error and changes nothing', () => {
    assert.throws(() => openSocketInNetns('/var/run/netns/weft-does-not-exist', { bind: { address: '0.0.0.0' } }),
      (err: unknown) => isErrno(err, 'ENOENT', 'open') && /weft-does-not-exist/.test((err as Error).message));
    assert.throws(() => openSocketInNetns('/etc/hostname', {}),
      (err: unknown) => isErrno(err, 'EINVAL', 'setns') && /setns EINVAL/.test((err as Error).message));
    assert.throws(() => openSocketInNetns(pod.path, { listen: { address: 'not-an-ip', port: 1 } }), TypeError);
    assert.throws(() => openSocketInNetns(pod.path, { listen: { address: '0.0.0.0', port: 70000 } }), TypeError);
    assert.equal(threadNetnsInode(), inodeBefore);
  });

  test('a bind failure inside the namespace reports the syscall and still returns home', () => {
    // 198.18.2.200 is not configured in the pod and neither transparent nor freebind is set.
    assert.throws(() => openSocketInNetns(pod.path, { listen: { address: '198.18.2.200', port: 0 } }),
      (err: unknown) => isErrno(err, 'EADDRNOTAVAIL', 'bind') && Reflect.get(err as Error, 'errno') === -99);
    assert.equal(threadNetnsInode(), inodeBefore);
  });

  test('a listener opened in the namespace is reachable there and not from the root namespace', async () => {
    const server = await listenInNetns(pod.path, { address: '0.0.0.0', port: 0, mark: MARK, reusePort: true });
    servers.push(server);
    greet(server);
    const p = port(server);
    assert.equal(threadNetnsInode(), inodeBefore);

    const inside = await connectInNetns(pod.path, { host: POD_IP, port: p });
    assert.equal(await readAll(inside), `hello ${POD_IP}`);
    // Also from a process in the namespace, not through the addon.
    const viaShell = await inNetns(pod.name, 'bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${p} && cat <&3`]);
    assert.equal(viaShell, 'hello 127.0.0.1');

    let accepted = 0;
    server.on('connection', () => { accepted += 1; });
    await assert.rejects(connectInNetns(null, { host: '127.0.0.1', port: p, timeoutMs: 2000 }),
      (err: unknown) => isErrno(err, 'ECONNREFUSED'));
    assert.equal(accepted, 0);
  });

  test('marks: listener, accepted and connected sockets carry SO_MARK; setMark/getMark round-trip', async () => {
    const server = await listenInNetns(pod.path, { address: '127.0.0.1', port: 0, mark: MARK });
    servers.push(server);
    const acceptedMark = new Promise<number>((resolve) => server.once('connection', (s) => { resolve(getMark(socketFd(s))); s.destroy(); }));
    assert.equal(getMark(socketFd(server)), MARK);
    const client = await connectInNetns(pod.path, { host: '127.0.0.1', port: port(server), mark: 0x77 });
    assert.equal(getMark(socketFd(client)), 0x77);
    setMark(socketFd(client), MARK);
    assert.equal(getMark(socketFd(client)), MARK);
    setTransparent(socketFd(client));
    assert.equal(await acceptedMark, MARK, 'accepted sockets inherit the listener mark');
    client.destroy();
    assert.throws(() => getMark(1_000_000), (err: unknown) => isErrno(err, 'EBADF'));
  });

  test('SO_ORIGINAL_DST reports the address a REDIRECTed connection was sent to', async () => {
    const server = await listenInNetns(pod.path, { address: '0.0.0.0', port: 0, mark: MARK });
    servers.push(server);
    const p = port(server);
    await inNetns(pod.name, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '198.18.2.9', '--dport', '80',
      '-j', 'REDIRECT', '--to-ports', String(p)]);
    const seen = new Promise<{ address: string; port: number }>((resolve) => server.once('connection', (s) => {
      resolve(originalDst(s));
      s.destroy();
    }));
    const client = await connectInNetns(pod.path, { host: '198.18.2.9', port: 80 });
    assert.deepEqual(await seen, { address: '198.18.2.9', port: 80 });
    client.destroy();

    // A tracked connection that was not redirected reports its own destination.
    const direct = new Promise<unknown>((resolve) => server.once('connection', (s) => {
      resolve(getOriginalDst(socketFd(s)));
      s.destroy();
    }));
    const plain = await connectInNetns(pod.path, { host: '127.0.0.1', port: p });
    assert.deepEqual(await direct, { address: '127.0.0.1', port: p });
    plain.destroy();
  });

  test('connect errors: refused, timeout, and a non-IPv4 host', async () => {
    await assert.rejects(connectInNetns(pod.path, { host: '127.0.0.1', port: 1 }),
      (err: unknown) => isErrno(err, 'ECONNREFUSED', 'connect'));
    // SYNs to this port vanish inside the pod, so only the timeout can end the attempt.
    await inNetns(pod.name, 'iptables', ['-A', 'OUTPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
    const started = performance.now();
    await assert.rejects(connectInNetns(pod.path, { host: POD_IP, port: 9, timeoutMs: 150 }),
      (err: unknown) => isErrno(err, 'ETIMEDOUT', 'connect'));
    const took = performance.now() - started;
    assert.ok(took >= 140 && took < 2000, `timed out after ${took} ms`);
    await assert.rejects(connectInNetns(pod.path, { host: 'localhost', port: 80 }), TypeError);
    await assert.rejects(connectInNetns('/nonexistent/netns', { host: '127.0.0.1', port: 80 }),
      (err: unknown) => isErrno(err, 'ENOENT', 'open'));
  });

  test('an adopted, unconnected fd is not read before connect (why connectInNetns uses manualStart)', async () => {
    const server = await listenInNetns(pod.path, { address: POD_IP, port: 0 });
    servers.push(server);
    greet(server);
    const outcome = async (manualStart: boolean): Promise<string> => {
      const options: net.SocketConstructorOpts & { manualStart: boolean } = { fd: openSocketInNetns(pod.path, {}), manualStart };
      const socket = new net.Socket(options);
      const failed = new Promise<string>((resolve) => socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '?')));
      // A loop turn between adoption and connect, as any await in a caller would give.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (socket.destroyed) return failed;
      socket.connect({ host: POD_IP, port: port(server) });
      return Promise.race([failed, readAll(socket)]);
    };
    assert.equal(await outcome(false), 'ENOTCONN', 'Node starts reading an adopted fd at once');
    assert.equal(await outcome(true), `hello ${POD_IP}`);
  });

  test('transparent connect from a foreign caller address reaches the app and gets its replies', async () => {
    const app = await listenInNetns(pod.path, { address: POD_IP, port: 0 });
    servers.push(app);
    greet(app);
    const opts = { host: POD_IP, port: port(app), localAddress: CALLER_IP, mark: MARK, transparent: true, timeoutMs: 400 };

    // Without the reply route the SYN-ACK heads for the caller's subnet and never comes back.
    await assert.rejects(connectInNetns(pod.path, opts), (err: unknown) => isErrno(err, 'ETIMEDOUT'));

    await inNetns(pod.name, 'iptables', ['-t', 'mangle', '-A', 'PREROUTING', '-m', 'mark', '--mark', '0x539/0xfff',
      '-j', 'CONNMARK', '--set-xmark', '0x111/0xfff']);
    await inNetns(pod.name, 'iptables', ['-t', 'mangle', '-A', 'OUTPUT', '-m', 'connmark', '--mark', '0x111/0xfff',
      '-j', 'CONNMARK', '--restore-mark', '--nfmask', '0xffffffff', '--ctmask', '0xffffffff']);
    await sh('ip', ['-n', pod.name, 'rule', 'add', 'fwmark', '0x111/0xfff', 'lookup', '100']);
    await sh('ip', ['-n', pod.name, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100']);

    const socket = await connectInNetns(pod.path, opts);
    assert.equal(socket.localAddress, CALLER_IP);
    assert.equal(await readAll(socket), `hello ${CALLER_IP}`, 'the app sees the caller address and its reply arrives');
  });

  test('a socket bound to a source address with port 0 gets its port at connect() (IP_BIND_ADDRESS_NO_PORT)', async (t) => {
    const { closeSync } = await import('node:fs');
    const optionOf = (opts: Parameters<typeof openSocketInNetns>[1]): boolean => {
      const fd = openSocketInNetns(pod.path, opts);
      try {
        return getBindAddressNoPort(fd);
      } finally {
        closeSync(fd);
      }
    };
    try {
      optionOf({});
    } catch (err) {
      if (!isErrno(err, 'ENOPROTOOPT')) throw err;
      t.skip('this kernel has no IP_BIND_ADDRESS_NO_PORT (Linux before 4.2): binds search for a port as before');
      return;
    }
    assert.equal(optionOf({ bind: { address: POD_IP } }), true, 'no port given');
    assert.equal(optionOf({ bind: { address: POD_IP, port: 0 } }), true, 'port 0');
    assert.equal(optionOf({ bind: { address: CALLER_IP }, transparent: true, freebind: true }), true, 'a foreign (transparent) source');
    assert.equal(optionOf({ bind: { address: POD_IP, port: 40123 } }), false, 'a port of its own: nothing to defer');
    assert.equal(optionOf({ listen: { address: POD_IP, port: 0 } }), false, 'a listener');
    assert.equal(optionOf({}), false, 'no bind');

    // The deferred port is still a real one once connected, and the connection works.
    const app = await listenInNetns(pod.path, { address: POD_IP, port: 0 });
    servers.push(app);
    greet(app);
    const socket = await connectInNetns(pod.path, { host: POD_IP, port: port(app), localAddress: POD_IP });
    assert.equal(getBindAddressNoPort(socketFd(socket)), true);
    assert.equal(socket.localAddress, POD_IP);
    assert.ok((socket.localPort ?? 0) > 0, `a port was chosen at connect: ${String(socket.localPort)}`);
    assert.equal(await readAll(socket), `hello ${POD_IP}`);
  });

  test('the main thread stays in its own namespace after all of the above', () => {
    assert.equal(threadNetnsInode(), inodeBefore);
  });

  test('cost: openSocketInNetns and connectInNetns in a quick loop', async (t) => {
    const server = await listenInNetns(pod.path, { address: '127.0.0.1', port: 0 });
    servers.push(server);
    server.on('connection', (s) => s.destroy());
    const { closeSync } = await import('node:fs');
    const rounds = 300;
    let start = performance.now();
    for (let i = 0; i < rounds; i++) closeSync(openSocketInNetns(pod.path, { bind: { address: '127.0.0.1' }, mark: MARK }));
    const openUs = ((performance.now() - start) / rounds) * 1000;
    start = performance.now();
    for (let i = 0; i < rounds; i++) closeSync(openSocketInNetns(null, { bind: { address: '127.0.0.1' }, mark: MARK }));
    const openHereUs = ((performance.now() - start) / rounds) * 1000;
    start = performance.now();
    for (let i = 0; i < rounds; i++) (await connectInNetns(pod.path, { host: '127.0.0.1', port: port(server), mark: MARK })).destroy();
    const connectUs = ((performance.now() - start) / rounds) * 1000;
    const rootServer = net.createServer((s) => s.destroy());
    servers.push(rootServer);
    await new Promise<void>((resolve) => rootServer.listen(0, '127.0.0.1', resolve));
    start = performance.now();
    for (let i = 0; i < rounds; i++) {
      const s = net.connect({ host: '127.0.0.1', port: port(rootServer) });
      await once(s, 'connect');
      s.destroy();
    }
    const plainUs = ((performance.now() - start) / rounds) * 1000;
    start = performance.now();
    for (let i = 0; i < rounds; i++) (await connectInNetns(null, { host: '127.0.0.1', port: port(rootServer), mark: MARK })).destroy();
    const adoptUs = ((performance.now() - start) / rounds) * 1000;
    t.diagnostic(`openSocketInNetns: ${openUs.toFixed(1)} us (no namespace switch: ${openHereUs.toFixed(1)} us); ` +
      `connectInNetns: ${connectUs.toFixed(1)} us into the pod, ${adoptUs.toFixed(1)} us in the root namespace, ` +
      `where net.connect takes ${plainUs.toFixed(1)} us`);
    assert.ok(openUs < 2000 && connectUs < 5000, 'a namespace switch must stay cheap enough for per-connection use');
    assert.equal(threadNetnsInode(), inodeBefore);
  });
});
