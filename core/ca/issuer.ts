// A signing certificate and its key, checked once and pre-parsed so each issuance only
// builds and signs the leaf.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { WeftError, errorMessage } from '#core/errors.ts';
import { readCertificate, subjectKeyIdOf } from './x509.ts';

export interface Issuer {
  certPem: string;
  cert: X509Certificate;
  key: KeyObject;
  /** DER Name, copied verbatim into the issuer field of what this signs. */
  subject: Buffer;
  keyId: Buffer;
}

export function loadIssuer(certPem: string, keyPem: string, what: string): Issuer {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certPem);
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new WeftError('WEFT_ERR_CA_CERT', `${what}: unreadable certificate or key: ${errorMessage(err)}`, { cause: err });
  }
  if (!cert.ca) throw new WeftError('WEFT_ERR_CA_CERT', `${what}: certificate is not a CA (basicConstraints CA:false)`);
  if (!cert.checkPrivateKey(key)) throw new WeftError('WEFT_ERR_CA_CERT', `${what}: the key does not match the certificate`);
  const parts = readCertificate(cert.raw);
  return { certPem: cert.toString(), cert, key, subject: parts.subject, keyId: subjectKeyIdOf(parts) };
}
