// X.509 v3 certificates built field by field (RFC 5280) and signed with node:crypto, because
// node-forge's certificate API only handles RSA keys and the mesh uses ECDSA P-256.
import { createHash, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  OID, Tag, bits, bool, children, decode, encode, explicit, extension, implicitPrimitive, isContext, isUniversal,
  namedBits, octets, oid, raw, readBits, readOid, primitive, seq, smallInt, time, uint,
} from './der.ts';
import type { Asn1 } from './der.ts';
import { algorithmFor, algorithmIdentifier, signWith } from './signature.ts';

export interface CertificateFields {
  serial: Buffer;
  /** DER Name of the issuer, copied verbatim from the issuer's certificate. */
  issuer: Buffer;
  /** DER Name of the subject (may be an empty SEQUENCE when the SAN is critical). */
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  extensions: Asn1[];
}

/** Encodes and signs a certificate; returns its DER. */
export function signCertificate(fields: CertificateFields, issuerKey: KeyObject): Buffer {
  // The algorithm is fixed by the key, and it appears both inside and outside the signed part.
  const alg = algorithmFor(issuerKey);
  const tbs = seq([
    explicit(0, smallInt(2)),
    uint(fields.serial),
    algorithmIdentifier(alg),
    raw(fields.issuer),
    seq([time(fields.notBefore), time(fields.notAfter)]),
    raw(fields.subject),
    raw(fields.spki),
    explicit(3, seq(fields.extensions)),
  ]);
  const tbsDer = encode(tbs);
  const { signature } = signWith(issuerKey, tbsDer);
  return encode(seq([tbs, algorithmIdentifier(alg), bits(signature)]));
}

/** 16 random bytes, top bit clear (positive) and second bit set (no leading zero to trim). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40;
  return b;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const parts = children(decode(spki, 'SubjectPublicKeyInfo'), 'SubjectPublicKeyInfo');
  return createHash('sha1').update(readBits(parts[1], 'subjectPublicKey')).digest();
}

export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): Asn1 {
    const body: Asn1[] = ca ? [bool(true)] : [];
    if (ca && pathLen !== undefined) body.push(smallInt(pathLen));
    return extension(OID.basicConstraints, true, encode(seq(body)));
  },
  /** Bits: 0 digitalSignature, 2 keyEncipherment, 5 keyCertSign, 6 cRLSign. */
  keyUsage(bitNumbers: number[]): Asn1 {
    return extension(OID.keyUsage, true, encode(namedBits(bitNumbers)));
  },
  extKeyUsage(oids: string[]): Asn1 {
    return extension(OID.extKeyUsage, false, encode(seq(oids.map(oid))));
  },
  /** URI SAN; critical because workload certificates have an empty subject. */
  uriSan(uri: string, critical: boolean): Asn1 {
    return extension(OID.subjectAltName, critical, encode(seq([implicitPrimitive(6, uri)])));
  },
  subjectKeyId(id: Buffer): Asn1 {
    return extension(OID.subjectKeyIdentifier, false, encode(octets(id)));
  },
  authorityKeyId(id: Buffer): Asn1 {
    return extension(OID.authorityKeyIdentifier, false, encode(seq([implicitPrimitive(0, id.toString('latin1'))])));
  },
};

export interface CertificateParts {
  subject: Buffer;
  spki: Buffer;
  /** Extension values (the inner DER) by OID. */
  extensions: Map<string, Buffer>;
}

/** Reads the parts of a certificate the CA needs to issue under it. */
export function readCertificate(der: Buffer): CertificateParts {
  const cert = children(decode(der, 'certificate'), 'certificate');
  const tbs = children(cert[0], 'TBSCertificate');
  // version [0] is present in every v3 certificate; without it the fields shift left by one.
  const o = isContext(tbs[0], 0) ? 1 : 0;
  const subject = tbs[o + 4];
  const spki = tbs[o + 5];
  if (subject === undefined || spki === undefined) throw new Error('certificate lacks subject or key');
  const extensions = new Map<string, Buffer>();
  for (const node of tbs.slice(o + 6)) {
    if (!isContext(node, 3)) continue;
    for (const e of children(children(node, 'extensions')[0], 'extensions')) {
      const f = children(e, 'extension');
      const value = f[f.length - 1];
      if (!isUniversal(value, Tag.OCTETSTRING)) continue;
      extensions.set(readOid(f[0], 'extension id'), Buffer.from(primitive(value, 'extension value'), 'latin1'));
    }
  }
  return { subject: encode(subject), spki: encode(spki), extensions };
}

/** The key identifier a certificate declares for itself, or the one RFC 5280 derives. */
export function subjectKeyIdOf(parts: CertificateParts): Buffer {
  const declared = parts.extensions.get(OID.subjectKeyIdentifier);
  if (declared !== undefined) {
    const node = decode(declared, 'subjectKeyIdentifier');
    if (isUniversal(node, Tag.OCTETSTRING)) return Buffer.from(primitive(node, 'subjectKeyIdentifier'), 'latin1');
  }
  return keyIdentifier(parts.spki);
}
