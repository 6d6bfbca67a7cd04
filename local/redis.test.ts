// ping() against a real redis-server on the loopback (no netns needed), and against a port
// where nothing listens.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { ping } from './redis.ts';
import { LocalProcess } from './process.ts';

const procs: LocalProcess[] = [];
after(async () => {
  for (const p of procs) await p.stop(1000);
});

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

test('ping: true once redis-server answers PONG; an error where nothing listens', async () => {
  const port = await freePort();
  await assert.rejects(ping('127.0.0.1', port), /ECONNREFUSED|closed/);
  const redis = new LocalProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'redis');
  procs.push(redis);
  await redis.waitForLine(/Ready to accept connections/, 10_000);
  assert.equal(await ping('127.0.0.1', port), true);
  await redis.stop(1000);
  await assert.rejects(ping('127.0.0.1', port), /ECONNREFUSED|closed/);
});
