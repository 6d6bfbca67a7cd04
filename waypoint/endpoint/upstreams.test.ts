// The upstream pools under a destination's maxConnections, against real HTTP/1.1 and h2c
// servers on loopback: the tunnel to the endpoint is replaced by a plain TCP connect, so what
// is tested is how many connections the pools open and what waits for them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { silentLogger } from '#core/log.ts';
import type { ConnectionSettings } from '#waypoint/backend/destinations.ts';
import { attempt } from '#waypoint/request/forward-http1.ts';
import { attemptHttp2 } from '#waypoint/request/forward-http2.ts';
import { Upstreams, type Endpoint, type Origin } from './upstreams.ts';

/**
 * Upstreams whose connections are plain TCP to the endpoint's address and port, counted
 * per port as the waypoint holds them (a server sees a closed one go a little later).
 */
class LoopbackUpstreams extends Upstreams {
  readonly open = new Map<number, number>();
  readonly peak = new Map<number, number>();
  override connect(ep: Endpoint): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const s = net.connect(ep.port, ep.address, () => {
        const n = (this.open.get(ep.port) ?? 0) + 1;
        this.open.set(ep.port, n);
        this.peak.set(ep.port, Math.max(n, this.peak.get(ep.port) ?? 0));
        s.once('close', () => this.open.set(ep.port, (this.open.get(ep.port) ?? 1) - 1));
        resolve(s);
      });
      s.once('error', reject);
    });
  }
}

/** Counts the connections open at once; answers every request after `release()` lets it. */
interface Counted {
  port: number;
  peak: () => number;
  open: () => number;
  total: () => number;
  close: () => void;
}

function counting(server: net.Server, onConnection: (track: () => void) => void = () => undefined): Promise<Counted> {
  let open = 0;
  let peak = 0;
  let total = 0;
  server.on('connection', (s: net.Socket) => {
    open++;
    total++;
    peak = Math.max(peak, open);
    s.once('close', () => { open--; });
    onConnection(() => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as net.AddressInfo).port,
    peak: () => peak,
    open: () => open,
    total: () => total,
    close: () => { server.close(); },
  })));
}

const origin = (host: string): Origin => ({ source: { host, port: 40000 } });
const settings = (max: number, extra: ConnectionSettings = {}): ConnectionSettings => ({ maxConnections: max, cluster: 'shop/h|', ...extra });
const ep = (port: number): Endpoint => ({ address: '127.0.0.1', port, identity: 'spiffe://cluster.local/ns/shop/sa/backend' });
const none = { get: () => Promise.reject(new Error('no certificates in this test')) };

describe('upstream pools under maxConnections', () => {
  const upstreams = new LoopbackUpstreams({ certificates: none, identity: 'spiffe://cluster.local/ns/shop/sa/waypoint', logger: silentLogger, connectTimeoutMs: 1000 });
  const servers: Counted[] = [];
  after(async () => {
    await upstreams.close();
    for (const s of servers) s.close();
  });

  test('HTTP/1.1: 40 concurrent requests from two clients share 2 connections; every one is answered', async () => {
    const h1 = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 5));
    h1.keepAliveTimeout = 60_000;
    const srv = await counting(h1);
    servers.push(srv);
    const one = (client: string): Promise<number> => attempt({
      dispatcher: upstreams.http1(ep(srv.port), origin(client), settings(2)),
      method: 'GET', path: '/', headers: {}, body: null, signal: AbortSignal.timeout(20_000),
    }, () => 'discard').then((r) => (r.kind === 'discarded' ? r.status : 0));
    // The first client's pool holds both slots idle once its burst is over: the second's
    // requests get them when that pool lets go, not at once.
    const first = await Promise.all(Array.from({ length: 20 }, () => one('10.0.0.1')));
    const second = await Promise.all(Array.from({ length: 20 }, () => one('10.0.0.2')));
    assert.deepEqual([...first, ...second], Array.from({ length: 40 }, () => 200));
    assert.equal(upstreams.peak.get(srv.port), 2, 'the burst used both connections and never a third');
    assert.ok(srv.peak() >= 2);
    assert.equal(srv.total(), 4, 'each client\'s pool opened 2 and kept them');
  });

  test('HTTP/2: sessions retired after 3 requests are replaced one at a time, never more than 2 open; every request is answered', async () => {
    const h2 = http2.createServer();
    h2.on('stream', (stream) => {
      stream.on('error', () => undefined);
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 5);
    });
    const srv = await counting(h2);
    servers.push(srv);
    const s = settings(2, { maxRequestsPerConnection: 3 });
    const statuses = await Promise.all(Array.from({ length: 30 }, () => attemptHttp2({
      open: (h, o) => upstreams.http2Request(ep(srv.port), origin('10.0.0.3'), s, h, o),
      headers: { ':method': 'GET', ':path': '/', ':authority': 'h', ':scheme': 'http' },
      body: null, signal: AbortSignal.timeout(20_000), holdGrpcHead: false,
    }, () => 'discard').then((r) => (r.kind === 'discarded' ? r.status : 0))));
    assert.deepEqual(statuses, Array.from({ length: 30 }, () => 200));
    const peak = upstreams.peak.get(srv.port) ?? 0;
    assert.ok(peak === 2, `the waypoint held ${peak} sessions at once`);
  });

  test('without maxConnections concurrent first HTTP/2 requests still share one session', async () => {
    const h2 = http2.createServer();
    h2.on('stream', (stream) => {
      stream.respond({ ':status': 204 });
      stream.end();
    });
    const srv = await counting(h2);
    servers.push(srv);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => attemptHttp2({
      open: (h, o) => upstreams.http2Request(ep(srv.port), origin('10.0.0.4'), {}, h, o),
      headers: { ':method': 'GET', ':path': '/', ':authority': 'h', ':scheme': 'http' },
      body: null, signal: AbortSignal.timeout(20_000), holdGrpcHead: false,
    }, () => 'discard').then((r) => (r.kind === 'discarded' ? r.status : 0))));
    assert.deepEqual(statuses, Array.from({ length: 10 }, () => 204));
    assert.equal(upstreams.peak.get(srv.port), 1);
    assert.equal(srv.peak(), 1);
  });
});
