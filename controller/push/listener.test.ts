import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:https';
import type { Server } from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { issueServerCertificate } from '#controller/ca/server-cert.ts';
import { createControllerListener } from './listener.ts';

let server: Server;
let port = 0;
let rootsPem: string[] = [];
const metrics = new Registry();
const LIMIT = 5;
const HANDSHAKE_MS = 300;

before(async () => {
  const store = new MemoryCaStore();
  const ca = await CertificateAuthority.open({ store });
  const root = await store.load();
  assert.ok(root);
  rootsPem = ca.rootsPem;
  const cert = await issueServerCertificate(root, { dnsNames: ['weft-controller'], ipAddresses: ['127.0.0.1'], uris: [] });
  server = createControllerListener({
    cert: cert.certPem, key: cert.keyPem, metrics, limits: { handshakeTimeoutMs: HANDSHAKE_MS, maxConnectionsPerSource: LIMIT },
  }, (_req, res) => res.end('ok'));
  server.listen(0, '0.0.0.0');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A TCP connection that never starts TLS; resolves with how long the server kept it. */
function stalled(localAddress = '127.0.0.1'): { connected: Promise<void>; closed: Promise<number>; socket: net.Socket } {
  const started = Date.now();
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  return {
    socket,
    connected: once(socket, 'connect').then(() => undefined),
    closed: once(socket, 'close').then(() => Date.now() - started),
  };
}

function get(localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', localAddress, ca: rootsPem, servername: 'weft-controller', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.once('end', () => resolve(body));
    });
    req.once('error', reject);
    req.end();
  });
}

async function refusedCount(reason: string): Promise<number> {
  const page = await metrics.render();
  const line = page.split('\n').find((l) => l.startsWith(`weft_controller_connections_refused_total{reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('a connection that never completes its TLS handshake is closed after the handshake timeout', async () => {
  const s = stalled();
  await s.connected;
  const held = await s.closed;
  assert.ok(held >= HANDSHAKE_MS - 50 && held < HANDSHAKE_MS + 1500, `held ${held} ms`);
  assert.equal(await refusedCount('handshake_timeout'), 1);
});

test('one source holds at most the per-source limit of connections; other sources and later connections are served', async () => {
  const held = Array.from({ length: LIMIT }, () => stalled());
  await Promise.all(held.map((s) => s.connected));
  // Give the server the accepts before the next one, so the count is settled.
  await new Promise((r) => setTimeout(r, 50));
  const extra = Array.from({ length: 3 }, () => stalled());
  const extraHeld = await Promise.all(extra.map((s) => s.closed));
  for (const ms of extraHeld) assert.ok(ms < HANDSHAKE_MS - 100, `a connection over the limit was held ${ms} ms`);
  assert.equal(await refusedCount('per_source_limit'), 3);
  // Another address is counted on its own.
  assert.equal(await get('127.0.0.2'), 'ok');
  // The held ones time out; then the first source may connect again.
  await Promise.all(held.map((s) => s.closed));
  assert.equal(await get(), 'ok');
});
