import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { isWeftError } from '#core/errors.ts';
import { CertificateAuthority } from '#core/ca/authority.ts';
import type { PluggedCa } from '#core/ca/authority.ts';
import { buildCsr, createCsr } from '#core/ca/csr.ts';
import { OID, encode, name, pemEncode } from '#core/ca/der.ts';
import { FileCaStore } from '#core/ca/file-store.ts';
import { createRoot } from '#core/ca/root.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { ext, keyIdentifier, randomSerial, readCertificate, signCertificate } from '#core/ca/x509.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/web';
const dir = await mkdtemp(join(tmpdir(), 'weft-ca-'));
after(() => rm(dir, { recursive: true, force: true }));

let fileSeq = 0;
async function tmpFile(content: string): Promise<string> {
  const path = join(dir, `f${fileSeq++}.pem`);
  await writeFile(path, content);
  return path;
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function refused(code: string, pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isWeftError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('the root is created once, stored with a private key file, and loaded back', async () => {
  const store = new FileCaStore(join(dir, 'ca'));
  const first = await CertificateAuthority.open({ store });
  const second = await CertificateAuthority.open({ store: new FileCaStore(join(dir, 'ca')) });
  assert.deepEqual(second.rootsPem, first.rootsPem);
  assert.equal((await stat(store.keyPath)).mode & 0o777, 0o600);
  const root = new X509Certificate(first.rootsPem[0] ?? '');
  assert.equal(root.ca, true);
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(root.subject, /O=cluster\.local/);
  assert.ok(root.verify(root.publicKey));
  const text = openssl(['x509', '-noout', '-text', '-in', await tmpFile(first.rootsPem[0] ?? '')]);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  // A store holding half a root is an error, not a silent new root.
  await rm(store.certPath);
  await assert.rejects(CertificateAuthority.open({ store }), refused('WEFT_ERR_CA_STORE', /only one of/));
});

test('a signed certificate carries the identity and verifies with node:crypto and openssl', async () => {
  const ca = await CertificateAuthority.open({ store: new MemoryCaStore() });
  const { csrPem, keyPem } = await createCsr(ID);
  const before = Date.now();
  const signed = ca.sign(csrPem, { authorizedIdentities: [ID], ttlSeconds: 3600 });
  const leaf = new X509Certificate(signed.certPem);
  const root = new X509Certificate(ca.rootsPem[0] ?? '');
  assert.ok(leaf.verify(root.publicKey));
  assert.ok(leaf.checkIssued(root));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(keyPem)));
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(leaf.ca, false);
  assert.deepEqual(leaf.keyUsage, [OID.serverAuth, OID.clientAuth]);
  assert.deepEqual(signed.chainPem, []);
  assert.equal(signed.notAfter.getTime(), leaf.validToDate.getTime());
  assert.ok(Math.abs(leaf.validToDate.getTime() - (before + 3_600_000)) < 2000);
  assert.ok(Math.abs(leaf.validFromDate.getTime() - (before - 60_000)) < 2000);

  const leafPath = await tmpFile(signed.certPem);
  assert.match(openssl(['verify', '-CAfile', await tmpFile(ca.rootsPem[0] ?? ''), leafPath]), /: OK/);
  const text = openssl(['x509', '-noout', '-text', '-in', leafPath]);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
  assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  assert.match(text, new RegExp(`X509v3 Subject Alternative Name: critical\\s+URI:${ID.replace(/\./g, '\\.')}`));
});

test('serial numbers are positive, 16 bytes and unique; the default lifetime is 24 hours', async () => {
  const ca = await CertificateAuthority.open({ store: new MemoryCaStore() });
  const { csrPem } = await createCsr(ID);
  const serials = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const leaf = new X509Certificate(ca.sign(csrPem, { authorizedIdentities: [ID] }).certPem);
    assert.equal(leaf.serialNumber.length, 32);
    assert.ok(parseInt(leaf.serialNumber.slice(0, 2), 16) < 0x80);
    serials.add(leaf.serialNumber);
    if (i === 0) assert.ok(Math.abs(leaf.validToDate.getTime() - Date.now() - 86_400_000) < 2000);
  }
  assert.equal(serials.size, 50);
});

test('the lifetime is capped by the CA certificate', async () => {
  const ca = await CertificateAuthority.open({ store: new MemoryCaStore(), rootTtlDays: 1 });
  const { csrPem } = await createCsr(ID);
  const signed = ca.sign(csrPem, { authorizedIdentities: [ID], ttlSeconds: 5 * 86_400 });
  assert.equal(signed.notAfter.getTime(), new X509Certificate(ca.rootsPem[0] ?? '').validToDate.getTime());
  assert.throws(() => ca.sign(csrPem, { authorizedIdentities: [ID], ttlSeconds: 0 }), refused('WEFT_ERR_CA_CONFIG', /positive/));
});

test('requests outside the authorization or malformed are refused', async () => {
  const ca = await CertificateAuthority.open({ store: new MemoryCaStore() });
  const { csrPem } = await createCsr(ID);
  assert.throws(() => ca.sign(csrPem, { authorizedIdentities: [] }), refused('WEFT_ERR_CSR_UNAUTHORIZED', /not authorized for/));
  assert.throws(() => ca.sign(csrPem, { authorizedIdentities: ['spiffe://cluster.local/ns/default/sa/other'] }),
    refused('WEFT_ERR_CSR_UNAUTHORIZED', /not authorized/));

  const foreignId = 'spiffe://example.org/ns/default/sa/web';
  const foreign = await createCsr(foreignId);
  assert.throws(() => ca.sign(foreign.csrPem, { authorizedIdentities: [foreignId] }), refused('WEFT_ERR_CSR_UNAUTHORIZED', /trust domain example\.org/));

  const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const b = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const csr = (uris: string[], pub = a.publicKey): string => pemEncode('CERTIFICATE REQUEST', buildCsr(ID, a.privateKey, pub, uris));
  assert.throws(() => ca.sign(csr([ID], b.publicKey), { authorizedIdentities: [ID] }), refused('WEFT_ERR_BAD_CSR', /signature does not verify/));
  assert.throws(() => ca.sign(csr([]), { authorizedIdentities: [ID] }), refused('WEFT_ERR_BAD_CSR', /exactly one URI SAN, found 0/));
  assert.throws(() => ca.sign(csr([ID, ID]), { authorizedIdentities: [ID] }), refused('WEFT_ERR_BAD_CSR', /found 2/));
  assert.throws(() => ca.sign(csr(['https://example.org/x']), { authorizedIdentities: ['https://example.org/x'] }),
    refused('WEFT_ERR_BAD_CSR', /not a SPIFFE id/));
  assert.throws(() => ca.sign('not a csr', { authorizedIdentities: [ID] }), refused('WEFT_ERR_BAD_CSR', /unreadable/));
  // One flipped byte inside the signed part breaks the signature.
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 90] = (der[der.length - 90] ?? 0) ^ 0x01;
  assert.throws(() => ca.sign(pemEncode('CERTIFICATE REQUEST', der), { authorizedIdentities: [ID] }), refused('WEFT_ERR_BAD_CSR', /./));
});

/** An intermediate CA signed by `parent`. */
function intermediate(parent: { certPem: string; keyPem: string }, cn: string): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const parentParts = readCertificate(new X509Certificate(parent.certPem).raw);
  const der = signCertificate({
    serial: randomSerial(),
    issuer: parentParts.subject,
    subject: encode(name([[OID.organization, 'cluster.local'], [OID.commonName, cn]])),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    spki,
    extensions: [ext.basicConstraints(true), ext.keyUsage([5, 6]), ext.subjectKeyId(keyIdentifier(spki)), ext.authorityKeyId(keyIdentifier(parentParts.spki))],
  }, createPrivateKey(parent.keyPem));
  return { certPem: pemEncode('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

test('a plugged-in intermediate signs and the chain verifies to its root', async () => {
  const root = await createRoot({ trustDomain: 'cluster.local', ttlDays: 365, now: Date.now() });
  const mid = intermediate(root, 'org intermediate');
  const mesh = intermediate(mid, 'mesh intermediate');
  const plugged: PluggedCa = { certPem: mesh.certPem, keyPem: mesh.keyPem, chainPem: [mid.certPem, root.certPem], rootPem: root.certPem };
  const ca = await CertificateAuthority.open({ pluggedCert: plugged });
  assert.deepEqual(ca.rootsPem, [new X509Certificate(root.certPem).toString()]);
  const { csrPem } = await createCsr(ID);
  const signed = ca.sign(csrPem, { authorizedIdentities: [ID] });
  assert.equal(signed.chainPem.length, 2, 'mesh intermediate then org intermediate, root left out');
  assert.ok(new X509Certificate(signed.certPem).verify(new X509Certificate(signed.chainPem[0] ?? '').publicKey));
  const out = openssl(['verify', '-CAfile', await tmpFile(root.certPem), '-untrusted', await tmpFile(signed.chainPem.join('')), await tmpFile(signed.certPem)]);
  assert.match(out, /: OK/);

  await assert.rejects(CertificateAuthority.open({ pluggedCert: { ...plugged, chainPem: [] } }), refused('WEFT_ERR_CA_CERT', /not signed by the next/));
  await assert.rejects(CertificateAuthority.open({ pluggedCert: { ...plugged, keyPem: mid.keyPem } }), refused('WEFT_ERR_CA_CERT', /does not match/));
  await assert.rejects(CertificateAuthority.open({}), refused('WEFT_ERR_CA_CONFIG', /store/));
});

test('two issued certificates complete a mutual TLS 1.3 handshake', async () => {
  const ca = await CertificateAuthority.open({ store: new MemoryCaStore() });
  const issue = async (id: string): Promise<{ key: string; cert: string }> => {
    const { csrPem, keyPem } = await createCsr(id);
    return { key: keyPem, cert: ca.sign(csrPem, { authorizedIdentities: [id] }).certPem };
  };
  const server = await issue(ID);
  const client = await issue('spiffe://cluster.local/ns/default/sa/client');
  const srv = createServer({ ...server, ca: ca.rootsPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (s) => {
    s.end((s.getPeerCertificate().subjectaltname ?? '') + '\n');
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const port = (srv.address() as { port: number }).port;
    const sock: TLSSocket = connect({ host: '127.0.0.1', port, ...client, ca: ca.rootsPem, checkServerIdentity: () => undefined });
    await once(sock, 'secureConnect');
    assert.equal(sock.getProtocol(), 'TLSv1.3');
    assert.equal(sock.getPeerCertificate().subjectaltname, `URI:${ID}`);
    let got = '';
    for await (const chunk of sock) got += String(chunk);
    assert.equal(got, 'URI:spiffe://cluster.local/ns/default/sa/client\n');
  } finally {
    srv.close();
  }
});
