// The shape of every workload certificate the mesh issues: identity only in the URI SAN
// (empty subject, so the SAN is critical), usable as TLS server and client, never a CA.
import { OID, pemEncode } from './der.ts';
import type { Issuer } from './issuer.ts';
import { ext, keyIdentifier, randomSerial, signCertificate } from './x509.ts';

const EMPTY_NAME = Buffer.from([0x30, 0x00]);

export interface LeafRequest {
  identity: string;
  /** DER SubjectPublicKeyInfo of the workload key. */
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
}

/** Signs a workload certificate; returns it as PEM. */
export function issueLeaf(issuer: Issuer, req: LeafRequest): string {
  const der = signCertificate({
    serial: randomSerial(),
    issuer: issuer.subject,
    subject: EMPTY_NAME,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    spki: req.spki,
    extensions: [
      ext.keyUsage([0, 2]),
      ext.extKeyUsage([OID.serverAuth, OID.clientAuth]),
      ext.basicConstraints(false),
      ext.subjectKeyId(keyIdentifier(req.spki)),
      ext.authorityKeyId(issuer.keyId),
      ext.uriSan(req.identity, true),
    ],
  }, issuer.key);
  return pemEncode('CERTIFICATE', der);
}

/** Truncates to whole seconds, the precision X.509 times carry. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

