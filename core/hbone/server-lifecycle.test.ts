import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import net from 'node:net';
import { testPki } from '#core/ca/testing.ts';
import { isWeftError } from '#core/errors.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import { HboneServer } from '#core/hbone/server.ts';

const SERVER = 'spiffe://cluster.local/ns/dst/sa/server';
const CLIENT = 'spiffe://cluster.local/ns/src/sa/client';

test('an upstream that does not connect in time gets 503, and its late socket is closed', async () => {
  const pki = await testPki();
  const cert = await pki.issue(SERVER);
  const client = await pki.issue(CLIENT);
  const late = new net.Socket();
  const server = new HboneServer({
    trustDomain: 'cluster.local',
    certificateFor: async () => cert,
    connectUpstream: () => new Promise((r) => setTimeout(() => r(late), 300)),
    limits: { connectTimeoutMs: 50 },
  });
  const pool = new HbonePool();
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    await assert.rejects(pool.connect({ sourceCert: client, destinationIdentity: SERVER, address: { host: '127.0.0.1', port }, authority: '127.0.0.1:80' }),
      (err) => isWeftError(err, HboneErrorCode.upstream));
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(late.destroyed);
    assert.equal(server.stats().upstreamFailures, 1);
  } finally {
    await pool.close(0);
    await server.close(0);
  }
});

test('a renewed certificate is presented on new connections', async () => {
  const pki = await testPki();
  let current = await pki.issue(SERVER);
  const first = current;
  const client = await pki.issue(CLIENT);
  const server = new HboneServer({
    trustDomain: 'cluster.local',
    certificateFor: async () => current,
    connectUpstream: () => Promise.reject(new Error('not used')),
  });
  const serial = async (port: number): Promise<string> => {
    const s = tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, ca: client.rootsPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const sn = s.getPeerX509Certificate()?.serialNumber ?? '';
    s.destroy();
    return sn;
  };
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    assert.equal(await serial(port), new X509Certificate(first.certPem).serialNumber);
    current = await pki.issue(SERVER);
    assert.equal(await serial(port), new X509Certificate(current.certPem).serialNumber);
    assert.notEqual(current.certPem, first.certPem);
  } finally {
    await server.close(0);
  }
});

test('only TLS 1.3 with AES-GCM and ALPN h2 is accepted', async () => {
  const pki = await testPki();
  const cert = await pki.issue(SERVER);
  const client = await pki.issue(CLIENT);
  const server = new HboneServer({ trustDomain: 'cluster.local', certificateFor: async () => cert, connectUpstream: () => Promise.reject(new Error('not used')) });
  const attempt = (extra: tls.ConnectionOptions): Promise<tls.TLSSocket | Error> => new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, ca: client.rootsPem, checkServerIdentity: () => undefined, ALPNProtocols: ['h2'], ...extra });
    s.once('secureConnect', () => resolve(s));
    s.once('error', (e: Error) => resolve(e));
  });
  let port = 0;
  try {
    port = (await server.listen(0, '127.0.0.1')).port;
    const ok = await attempt({});
    assert.ok(ok instanceof tls.TLSSocket);
    assert.equal(ok.getProtocol(), 'TLSv1.3');
    assert.match(ok.getCipher().standardName, /^TLS_AES_(128|256)_GCM_SHA(256|384)$/);
    assert.equal(ok.alpnProtocol, 'h2');
    ok.destroy();
    assert.ok(await attempt({ maxVersion: 'TLSv1.2' }) instanceof Error, 'TLS 1.2 refused');
    assert.ok(await attempt({ ciphers: 'TLS_CHACHA20_POLY1305_SHA256' }) instanceof Error, 'ChaCha20 refused');
    const h1 = await attempt({ ALPNProtocols: ['http/1.1'] });
    assert.ok(h1 instanceof Error || h1.alpnProtocol !== 'http/1.1', 'no HTTP/1.1');
    if (!(h1 instanceof Error)) h1.destroy();
  } finally {
    await server.close(0);
  }
});
