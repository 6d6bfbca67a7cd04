import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';
import { RetiringClient } from './retiring-client.ts';

const served = new Map<Socket, number>();
const server = http.createServer((req, res) => {
  served.set(req.socket, (served.get(req.socket) ?? 0) + 1);
  res.end('ok');
});
server.keepAliveTimeout = 60_000;
let origin = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

async function perConnection(max: number | undefined, requests: number, concurrency: number): Promise<number[]> {
  served.clear();
  const pool = new Pool(origin, {
    connections: 8, pipelining: 1,
    ...(max === undefined ? {} : { factory: (o: string | URL, opts: object) => new RetiringClient(o, opts, max) }),
  });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        const res = await pool.request({ method: 'GET', path: '/' });
        assert.equal(await res.body.text(), 'ok');
      }
    }));
  } finally {
    await pool.close();
  }
  return [...served.values()];
}

test('no connection carries more than n requests, sequential or concurrent', async () => {
  for (const [max, concurrency] of [[1, 1], [3, 1], [4, 1], [3, 4], [1, 4]] as const) {
    const counts = await perConnection(max, 40, concurrency);
    assert.equal(counts.reduce((a, b) => a + b, 0), 40);
    assert.ok(counts.every((c) => c <= max), `maxRequestsPerConnection ${max}, ${concurrency} at a time: ${counts.join(',')}`);
    assert.ok(counts.length >= Math.ceil(40 / max));
    if (max === 1) assert.equal(counts.length, 40, 'no keep-alive at all');
  }
});

test('without a limit connections are kept alive and reused', async () => {
  const counts = await perConnection(undefined, 40, 1);
  assert.equal(counts.reduce((a, b) => a + b, 0), 40);
  assert.ok(counts.length < 40 && counts.some((c) => c > 4), `per connection: ${counts.join(',')}`);
});
