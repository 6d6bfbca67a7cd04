import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { ConnectionHold, type HeldConnection } from './hold.ts';

// Real loopback sockets: the held side is what a refusing listener accepts.
let server: net.Server;
/** Server sides by the client's port, so each client finds its own. */
const accepted = new Map<number, net.Socket>();
const waiting = new Map<number, (s: net.Socket) => void>();

before(async () => {
  server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    const port = s.remotePort ?? 0;
    const w = waiting.get(port);
    if (w === undefined) accepted.set(port, s);
    else w(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** A client connection and the server side of it. */
async function pair(): Promise<{ client: net.Socket; held: net.Socket }> {
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  const port = client.localPort ?? 0;
  const held = accepted.get(port) ?? await new Promise<net.Socket>((resolve) => waiting.set(port, resolve));
  accepted.delete(port);
  waiting.delete(port);
  return { client, held };
}

const pod = (uid: string): HeldConnection['pod'] => ({ uid, namespace: 'ns', name: uid, ip: '10.0.0.1', netnsPath: '/var/run/netns/x' });

test('a held connection is handed over on release, with what the client sent meanwhile', async () => {
  const expired: string[] = [];
  const hold = new ConnectionHold({ holdMs: 60_000, onExpired: (_c, reason) => expired.push(reason) });
  const { client, held } = await pair();
  hold.hold({ pod: pod('a'), socket: held, src: 's', dst: 'd' });
  client.write('early');
  assert.equal(hold.size, 1);
  assert.equal(hold.release('other', () => assert.fail('not this pod')), 0);
  const taken: HeldConnection[] = [];
  assert.equal(hold.release('a', (c) => taken.push(c)), 1);
  assert.equal(hold.size, 0);
  assert.equal(taken[0]?.socket, held);
  const [data] = await once(held, 'data') as [Buffer];
  assert.equal(data.toString(), 'early');
  assert.deepEqual(expired, []);
  client.destroy();
  held.destroy();
});

test('a connection not released within the bound is reset and reported', async () => {
  const reported = new Promise<[HeldConnection, string]>((resolve) => {
    const hold = new ConnectionHold({ holdMs: 50, onExpired: (c, reason) => resolve([c, reason]) });
    void pair().then(({ held }) => hold.hold({ pod: pod('b'), socket: held, src: 's', dst: '10.96.0.1:80' }));
  });
  const [c, reason] = await reported;
  assert.equal(c.dst, '10.96.0.1:80');
  assert.match(reason, /no config for this pod within 50 ms/);
  assert.ok(c.socket.destroyed);
});

test('a client that gives up leaves the queue; the cap refuses at once; close resets the rest', async () => {
  const expired: string[] = [];
  const hold = new ConnectionHold({ holdMs: 60_000, maxPerPod: 2, onExpired: (_c, reason) => expired.push(reason) });
  const one = await pair();
  const two = await pair();
  const three = await pair();
  hold.hold({ pod: pod('c'), socket: one.held, src: 's', dst: 'd' });
  hold.hold({ pod: pod('c'), socket: two.held, src: 's', dst: 'd' });
  hold.hold({ pod: pod('c'), socket: three.held, src: 's', dst: 'd' });
  assert.deepEqual(expired, ['too many connections held for this pod']);
  assert.equal(hold.size, 2);
  // Given up with a reset: a FIN alone may be a half-close, after which the client still reads.
  const closed = new Promise((r) => one.held.once('close', r));
  one.client.resetAndDestroy();
  await closed;
  assert.equal(hold.size, 1);
  hold.close();
  assert.equal(hold.size, 0);
  assert.deepEqual(expired, ['too many connections held for this pod', 'ztunnel shutting down']);
  assert.ok(two.held.destroyed);
  const late = await pair();
  hold.hold({ pod: pod('d'), socket: late.held, src: 's', dst: 'd' });
  assert.equal(expired.at(-1), 'ztunnel shutting down');
  for (const p of [two, three, late]) p.client.destroy();
});
