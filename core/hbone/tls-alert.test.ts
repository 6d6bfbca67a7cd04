import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { TlsAlert, alertForVerifyError, hkdfExpandLabel, sealAlert, serverTrafficSecret } from './tls-alert.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('alertForVerifyError picks the alert rustls would send', () => {
  const cases: [string | undefined, TlsAlert][] = [
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', TlsAlert.unknownCa],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', TlsAlert.unknownCa],
    ['SELF_SIGNED_CERT_IN_CHAIN', TlsAlert.unknownCa],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', TlsAlert.unknownCa],
    ['CERT_HAS_EXPIRED', TlsAlert.certificateExpired],
    ['CERT_NOT_YET_VALID', TlsAlert.certificateExpired],
    ['CERT_SIGNATURE_FAILURE', TlsAlert.decryptError],
    ['CERT_REVOKED', TlsAlert.certificateRevoked],
    ['INVALID_PURPOSE', TlsAlert.unsupportedCertificate],
    ['CERT_CHAIN_TOO_LONG', TlsAlert.certificateUnknown],
    [undefined, TlsAlert.certificateUnknown],
  ];
  for (const [code, want] of cases) assert.equal(alertForVerifyError(code), want, String(code));
});

test('hkdfExpandLabel matches the traffic key and IV of RFC 8448 §3', () => {
  const secret = hex('a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43');
  assert.equal(hkdfExpandLabel(secret, 'key', 16, 'sha256').toString('hex'), '9f02283b6c9c07efc26bb9f2ac92e356');
  assert.equal(hkdfExpandLabel(secret, 'iv', 12, 'sha256').toString('hex'), 'cf782b88dd83549aadf1e984');
});

test('sealAlert writes one protected record that opens to a fatal alert', () => {
  const secret = hex('a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43');
  const suites: [string, 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305', 'sha256' | 'sha384', number][] = [
    ['TLS_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256', 16],
    ['TLS_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384', 32],
    ['TLS_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256', 32],
  ];
  for (const [suite, cipher, hash, keyBytes] of suites) {
    for (const seq of [0n, 5n]) {
      const record = sealAlert(secret, suite, TlsAlert.unknownCa, seq);
      assert.ok(record !== undefined, suite);
      assert.deepEqual([...record.subarray(0, 5)], [23, 3, 3, 0, 19], `${suite}: application_data record of 3 + 16 bytes`);
      const iv = hkdfExpandLabel(secret, 'iv', 12, hash);
      iv.writeBigUInt64BE(iv.readBigUInt64BE(4) ^ seq, 4);
      const key = hkdfExpandLabel(secret, 'key', keyBytes, hash);
      const d = cipher === 'chacha20-poly1305' ? createDecipheriv(cipher, key, iv, { authTagLength: 16 }) : createDecipheriv(cipher, key, iv, { authTagLength: 16 });
      d.setAAD(record.subarray(0, 5), { plaintextLength: 3 });
      d.setAuthTag(record.subarray(record.length - 16));
      const inner = Buffer.concat([d.update(record.subarray(5, record.length - 16)), d.final()]);
      assert.deepEqual([...inner], [2, 48, 21], `${suite}: fatal unknown_ca, inner type alert`);
    }
  }
  assert.equal(sealAlert(secret, 'TLS_AES_128_CCM_SHA256', TlsAlert.unknownCa), undefined);
});

test('serverTrafficSecret reads the server application secret from a keylog line only', () => {
  const random = 'ab'.repeat(32);
  assert.equal(serverTrafficSecret(Buffer.from(`SERVER_TRAFFIC_SECRET_0 ${random} ${'0f'.repeat(48)}\n`))?.toString('hex'), '0f'.repeat(48));
  for (const other of ['CLIENT_TRAFFIC_SECRET_0', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'EXPORTER_SECRET']) {
    assert.equal(serverTrafficSecret(Buffer.from(`${other} ${random} ${'0f'.repeat(32)}\n`)), undefined, other);
  }
});
