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
