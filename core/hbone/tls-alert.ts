// A TLS 1.3 fatal alert for a client certificate the HBONE server refuses. Node's TLS server
// checks the client chain only after the handshake and then just closes the socket, so the
// peer sees a reset and never learns why; Istio's ztunnel (rustls) answers with an alert
// (unknown_ca for a foreign CA, certificate_expired, ...). Node has no call to send one, so
// the record is sealed here with the server's application traffic secret (from the socket's
// keylog) and written under TLS. It is the first record under that secret: the server has
// sent nothing since its Finished (no session tickets yet, no data), so its sequence is 0.
import { createCipheriv, createHmac } from 'node:crypto';
import type { CipherChaCha20Poly1305, CipherGCM } from 'node:crypto';

/** TLS alert descriptions (RFC 8446 §6) a certificate refusal can carry. */
export const TlsAlert = {
  badCertificate: 42,
  unsupportedCertificate: 43,
  certificateRevoked: 44,
  certificateExpired: 45,
  certificateUnknown: 46,
  unknownCa: 48,
  accessDenied: 49,
  decryptError: 51,
  certificateRequired: 116,
} as const;
export type TlsAlert = (typeof TlsAlert)[keyof typeof TlsAlert];

/**
 * The alert for an OpenSSL verification error (Node's `authorizationError`), as rustls
 * chooses them: a chain to no trusted root is unknown_ca, outside its validity window is
 * certificate_expired, a bad signature is decrypt_error, anything else certificate_unknown.
 */
export function alertForVerifyError(code: string | undefined): TlsAlert {
  switch (code) {
    case 'CERT_HAS_EXPIRED': case 'CERT_NOT_YET_VALID':
      return TlsAlert.certificateExpired;
    case 'UNABLE_TO_GET_ISSUER_CERT': case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY': case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN': case 'DEPTH_ZERO_SELF_SIGNED_CERT': case 'CERT_UNTRUSTED':
      return TlsAlert.unknownCa;
    case 'CERT_SIGNATURE_FAILURE':
      return TlsAlert.decryptError;
    case 'CERT_REVOKED':
      return TlsAlert.certificateRevoked;
    case 'INVALID_PURPOSE':
      return TlsAlert.unsupportedCertificate;
    case 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY': case 'CERT_SIGNATURE_INVALID':
      return TlsAlert.badCertificate;
    default:
      return TlsAlert.certificateUnknown;
  }
}

interface Suite {
  hash: 'sha256' | 'sha384';
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
  keyBytes: number;
}

const SUITES: Readonly<Record<string, Suite>> = {
  TLS_AES_128_GCM_SHA256: { hash: 'sha256', cipher: 'aes-128-gcm', keyBytes: 16 },
  TLS_AES_256_GCM_SHA384: { hash: 'sha384', cipher: 'aes-256-gcm', keyBytes: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { hash: 'sha256', cipher: 'chacha20-poly1305', keyBytes: 32 },
};

const CONTENT_ALERT = 21;
const CONTENT_APPLICATION_DATA = 23;
const LEVEL_FATAL = 2;
const TAG_BYTES = 16;

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context; `length` never exceeds one hash block here. */
export function hkdfExpandLabel(secret: Buffer, label: string, length: number, hash: Suite['hash']): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

/** The record's nonce: the write IV with the 64-bit sequence number XORed into its tail. */
function nonceFor(iv: Buffer, seq: bigint): Buffer {
  const nonce = Buffer.from(iv);
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(seq);
  for (let i = 0; i < 8; i++) nonce[nonce.length - 8 + i] = (nonce[nonce.length - 8 + i] ?? 0) ^ (s[i] ?? 0);
  return nonce;
}

/**
 * One protected TLS 1.3 record carrying a fatal alert, for the cipher suite's standard name
 * (`getCipher().standardName`); undefined for a suite it does not know.
 */
export function sealAlert(trafficSecret: Buffer, suiteName: string, alert: TlsAlert, seq = 0n): Buffer | undefined {
  const suite = SUITES[suiteName];
  if (suite === undefined) return undefined;
  const key = hkdfExpandLabel(trafficSecret, 'key', suite.keyBytes, suite.hash);
  const iv = hkdfExpandLabel(trafficSecret, 'iv', 12, suite.hash);
  const inner = Buffer.from([LEVEL_FATAL, alert, CONTENT_ALERT]);
  const header = Buffer.from([CONTENT_APPLICATION_DATA, 0x03, 0x03, 0, inner.length + TAG_BYTES]);
  const nonce = nonceFor(iv, seq);
  const cipher: CipherGCM | CipherChaCha20Poly1305 = suite.cipher === 'chacha20-poly1305'
    ? createCipheriv(suite.cipher, key, nonce, { authTagLength: TAG_BYTES })
    : createCipheriv(suite.cipher, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(header, { plaintextLength: inner.length });
  return Buffer.concat([header, cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
}

/** The server's application traffic secret from one keylog line, or undefined for other lines. */
export function serverTrafficSecret(line: Buffer): Buffer | undefined {
  const m = /^SERVER_TRAFFIC_SECRET_0 [0-9a-f]+ ([0-9a-f]+)\s*$/i.exec(line.toString('latin1'));
  return m?.[1] === undefined ? undefined : Buffer.from(m[1], 'hex');
}
