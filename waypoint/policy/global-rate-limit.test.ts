// The global rate limit and its Redis client: RESP encoding and decoding, fixed windows aligned
// to the unit, and, against a real redis-server on a free port, one count shared by several
// limiters (replicas), failing open (or closed) while Redis is stopped, logged once, and
// counting again once it is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { RateLimitPolicy } from '#core/config/routes.ts';
import { Logger } from '#core/log.ts';
import { GlobalRateLimiter, verdictFromCounts, windowOf } from '#waypoint/policy/global-rate-limit.ts';
import { decodeReply, encodeCommand, RedisClient, RedisError } from '#waypoint/policy/redis.ts';
import { drawsFor } from '#waypoint/policy/rate-limit.ts';

const SVC = 'shop/echo.shop.svc.cluster.local';
const req = { header: (): undefined => undefined, sourceIp: '10.0.0.1' };
const limits = (requests: number, unit: 'Minute' | 'Hour' = 'Hour', name = 'shop/global'): RateLimitPolicy[] => [
  { policy: name, type: 'Global', rules: [{ clientSelectors: [], requests, unit }] },
];

test('RESP: commands as arrays of bulk strings; every reply type decoded, partial input waits', () => {
  assert.equal(encodeCommand(['SET', 'k', 0, 'PX', 60000]).toString(), '*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n0\r\n$2\r\nPX\r\n$5\r\n60000\r\n');
  const rows: [string, unknown][] = [['+OK\r\n', 'OK'], [':42\r\n', 42], ['$5\r\nhello\r\n', 'hello'], ['$-1\r\n', null], ['*2\r\n:1\r\n$1\r\nx\r\n', [1, 'x']], ['*-1\r\n', null]];
  for (const [wire, reply] of rows) assert.deepEqual(decodeReply(Buffer.from(wire))?.reply, reply, wire);
  const err = decodeReply(Buffer.from('-ERR wrong\r\n'))?.reply;
  assert.ok(err instanceof RedisError && err.message === 'ERR wrong');
  for (const partial of ['+OK', '$5\r\nhel', '*2\r\n:1\r\n']) assert.equal(decodeReply(Buffer.from(partial)), undefined, partial);
  assert.equal(decodeReply(Buffer.from(':1\r\n:2\r\n'), 4)?.reply, 2);
});

test('windows start on the unit; the verdict names the bucket closest to its limit', () => {
  assert.deepEqual(windowOf(125_000, 60_000), { start: 120_000, end: 180_000 });
  const draws = drawsFor(SVC, [...limits(5, 'Minute', 'shop/a'), ...limits(2, 'Minute', 'shop/b')], req, undefined, 'Global');
  assert.deepEqual(verdictFromCounts(draws, [3, 2], 125_000), {
    kind: 'allow', headers: { 'x-ratelimit-limit': '2, 2;w=60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '55' },
  });
  assert.equal(verdictFromCounts(draws, [3, 3], 125_000).kind, 'deny');
  assert.equal(drawsFor(SVC, limits(1), req).length, 0, 'the local limiter leaves global policies alone');
});

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return proc;
}

async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const gone = once(proc, 'exit');
  proc.kill('SIGKILL');
  await gone;
}

const hasRedis = await new Promise<boolean>((resolve) => {
  const p = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  p.once('error', () => resolve(false));
  p.once('exit', (code) => resolve(code === 0));
});

describe('global rate limit against redis-server', { skip: hasRedis ? false : 'redis-server is not installed (scripts/bootstrap.sh installs it)' }, () => {
  let port: number;
  let redis: ChildProcess;
  const clients: RedisClient[] = [];
  const lines: string[] = [];
  const logger = new Logger({ level: 'info', sink: { write: (l: string) => void lines.push(l) } });
  const client = (): RedisClient => {
    const c = new RedisClient({ host: '127.0.0.1', port, timeoutMs: 500, retryMs: 50 });
    clients.push(c);
    return c;
  };

  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
  });

  after(async () => {
    for (const c of clients) c.close();
    await stopRedis(redis);
  });

  test('three replicas share one count: N + k requests, exactly k refused', async () => {
    const replicas = [0, 1, 2].map(() => new GlobalRateLimiter({ store: client(), logger }));
    const n = 30;
    const k = 7;
    const kinds: string[] = [];
    for (let i = 0; i < n + k; i++) kinds.push((await replicas[i % 3]?.check(SVC, limits(n, 'Hour', 'shop/shared'), req))?.kind ?? '');
    assert.equal(kinds.filter((x) => x === 'allow').length, n);
    assert.equal(kinds.filter((x) => x === 'deny').length, k);
    assert.deepEqual(kinds.slice(n), Array<string>(k).fill('deny'));
  });

  test('Redis stopped: requests pass (or are refused when failing closed), logged once; counted again once it returns', async () => {
    const open = new GlobalRateLimiter({ store: client(), logger });
    const closed = new GlobalRateLimiter({ store: client(), logger, failClosed: true });
    const policy = limits(1000, 'Hour', 'shop/outage');
    assert.equal((await open.check(SVC, policy, req)).kind, 'allow');
    await stopRedis(redis);
    lines.length = 0;
    for (let i = 0; i < 5; i++) {
      const v = await open.check(SVC, policy, req);
      assert.ok(v.kind === 'error' && v.allowed, JSON.stringify(v));
    }
    const refused = await closed.check(SVC, policy, req);
    assert.ok(refused.kind === 'error' && !refused.allowed);
    assert.equal(lines.filter((l) => l.includes('unreachable')).length, 2, 'one line per limiter and outage');
    redis = await startRedis(port);
    const back = async (): Promise<string> => (await open.check(SVC, policy, req)).kind;
    const deadline = Date.now() + 5000;
    let kind = await back();
    while (kind !== 'allow' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 60));
      kind = await back();
    }
    assert.equal(kind, 'allow');
    assert.ok(lines.some((l) => l.includes('reachable again')));
  });

  test('no Redis configured: global limits fail open at once', async () => {
    const v = await new GlobalRateLimiter({ store: undefined, logger }).check(SVC, limits(1), req);
    assert.ok(v.kind === 'error' && v.allowed);
  });
});
