// Reads a PKCS#10 request the way the CA needs it: proof of key possession (the signature
// verifies under the enclosed key) and the URI SANs from the extensionRequest attribute.
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { WeftError, errorMessage } from '#core/errors.ts';
import { OID, Tag, children, decode, encode, isContext, isUniversal, pemDecode, primitive, readBits, readOid } from './der.ts';
import type { Asn1 } from './der.ts';
import { verifyWith } from './signature.ts';

export interface CsrContents {
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo, copied into the certificate. */
  spki: Buffer;
  /** Every URI SAN the request asks for, in order. */
  uris: string[];
}

/** Parses and verifies a CSR; throws WEFT_ERR_BAD_CSR when it is malformed or its signature is wrong. */
export function readCsr(csrPem: string): CsrContents {
  let parsed: { info: Asn1; infoParts: Asn1[]; algOid: string; signature: Buffer };
  let publicKey: KeyObject;
  let spki: Buffer;
  try {
    const der = pemDecode(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'], 'CSR');
    const top = children(decode(der, 'CSR'), 'CertificationRequest');
    const info = top[0];
    const algOid = readOid(children(top[1], 'signatureAlgorithm')[0], 'signature algorithm');
    parsed = { info: info as Asn1, infoParts: children(info, 'CertificationRequestInfo'), algOid, signature: readBits(top[2], 'signature') };
    spki = encode(parsed.infoParts[2] as Asn1);
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new WeftError('WEFT_ERR_BAD_CSR', `unreadable CSR: ${errorMessage(err)}`, { cause: err });
  }
  if (!verifyWith(parsed.algOid, publicKey, encode(parsed.info), parsed.signature)) {
    throw new WeftError('WEFT_ERR_BAD_CSR', 'CSR signature does not verify under its own public key', {
      hint: 'the request was altered or signed with another key',
    });
  }
  let uris: string[];
  try {
    uris = uriSans(parsed.infoParts[3]);
  } catch (err) {
    throw new WeftError('WEFT_ERR_BAD_CSR', `unreadable CSR extensions: ${errorMessage(err)}`, { cause: err });
  }
  return { publicKey, spki, uris };
}

function uriSans(attributes: Asn1 | undefined): string[] {
  if (!isContext(attributes, 0)) return [];
  const uris: string[] = [];
  for (const attr of children(attributes, 'attributes')) {
    const [type, values] = children(attr, 'attribute');
    if (readOid(type, 'attribute type') !== OID.extensionRequest) continue;
    for (const exts of children(values, 'attribute values')) {
      for (const e of children(exts, 'extensions')) {
        const f = children(e, 'extension');
        if (readOid(f[0], 'extension id') !== OID.subjectAltName) continue;
        const value = f[f.length - 1];
        if (!isUniversal(value, Tag.OCTETSTRING)) continue;
        const names = children(decode(Buffer.from(primitive(value, 'SAN'), 'latin1'), 'SAN'), 'GeneralNames');
        for (const n of names) if (isContext(n, 6)) uris.push(primitive(n, 'URI'));
      }
    }
  }
  return uris;
}
