// DER building and reading blocks over node-forge's ASN.1 codec. Forge speaks "binary
// strings" (one char per byte); these helpers keep Buffers at the edges so the rest of the CA
// never touches that representation.
import forge from 'node-forge';
import { WeftError } from '#core/errors.ts';

export type Asn1 = forge.asn1.Asn1;

const { Class, Type } = forge.asn1;

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  extensionRequest: '1.2.840.113549.1.9.14',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export function toBinary(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
}

export function fromBinary(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export function encode(node: Asn1): Buffer {
  return fromBinary(forge.asn1.toDer(node).getBytes());
}

type FromDer = (bytes: string, options: { strict: boolean; parseAllBytes: boolean; decodeBitStrings: boolean }) => Asn1;

/** Parses DER strictly; bit strings stay opaque so signatures and keys are read verbatim. */
export function decode(der: Uint8Array, what: string): Asn1 {
  try {
    return (forge.asn1.fromDer as unknown as FromDer)(toBinary(der), { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch (err) {
    throw new WeftError('WEFT_ERR_BAD_DER', `${what} is not valid DER: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export function seq(items: Asn1[]): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
}

export function set(items: Asn1[]): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.SET, true, items);
}

export function oid(dotted: string): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.OID, false, forge.asn1.oidToDer(dotted).getBytes());
}

export function bool(v: boolean): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, v ? '\xff' : '\x00');
}

export function nullValue(): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.NULL, false, '');
}

/** A non-negative INTEGER from its big-endian magnitude (a zero byte is prefixed when needed). */
export function uint(bytes: Uint8Array): Asn1 {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const needsPad = trimmed.length === 0 || (trimmed[0] ?? 0) >= 0x80;
  const value = needsPad ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, toBinary(value));
}

export function smallInt(n: number): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, forge.asn1.integerToDer(n).getBytes());
}

export function octets(bytes: Uint8Array): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, toBinary(bytes));
}

/** A BIT STRING holding whole bytes (no unused bits). */
export function bits(bytes: Uint8Array): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, '\x00' + toBinary(bytes));
}

/** A named-bit BIT STRING (DER: trailing zero bits dropped). Bit 0 is the most significant. */
export function namedBits(bitNumbers: number[]): Asn1 {
  const max = Math.max(...bitNumbers);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bitNumbers) bytes[b >> 3] = (bytes[b >> 3] ?? 0) | (0x80 >> (b & 7));
  const unused = 7 - (max & 7);
  return forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unused) + toBinary(bytes));
}

export function utf8(s: string): Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.UTF8, false, forge.util.encodeUtf8(s));
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(d: Date): Asn1 {
  return d.getUTCFullYear() < 2050
    ? forge.asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, forge.asn1.dateToUtcTime(d))
    : forge.asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, forge.asn1.dateToGeneralizedTime(d));
}

export function explicit(tag: number, inner: Asn1): Asn1 {
  return forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, true, [inner]);
}

export function implicitPrimitive(tag: number, bytes: string): Asn1 {
  return forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, false, bytes);
}

export function implicitConstructed(tag: number, items: Asn1[]): Asn1 {
  return forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, true, items);
}

/** Re-wraps already encoded DER so it can be placed in a structure verbatim. */
export function raw(der: Uint8Array): Asn1 {
  return decode(der, 'embedded structure');
}

/** A Name from (type OID, value) pairs, one attribute per RDN. */
export function name(attrs: Array<[string, string]>): Asn1 {
  return seq(attrs.map(([type, value]) => set([seq([oid(type), utf8(value)])])));
}

export function extension(id: string, critical: boolean, valueDer: Buffer): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(bool(true));
  parts.push(octets(valueDer));
  return seq(parts);
}

// Reading.

export function children(node: Asn1 | undefined, what: string): Asn1[] {
  if (node === undefined || !Array.isArray(node.value)) throw malformed(what);
  return node.value;
}

export function primitive(node: Asn1 | undefined, what: string): string {
  if (node === undefined || typeof node.value !== 'string') throw malformed(what);
  return node.value;
}

export function isUniversal(node: Asn1 | undefined, type: number): node is Asn1 {
  return node !== undefined && node.tagClass === Class.UNIVERSAL && (node.type as number) === type;
}

export function isContext(node: Asn1 | undefined, tag: number): node is Asn1 {
  return node !== undefined && node.tagClass === Class.CONTEXT_SPECIFIC && (node.type as number) === tag;
}

export function readOid(node: Asn1 | undefined, what: string): string {
  if (!isUniversal(node, Type.OID)) throw malformed(what);
  return forge.asn1.derToOid(primitive(node, what));
}

/** The bytes of a whole-byte BIT STRING (its unused-bits count must be zero). */
export function readBits(node: Asn1 | undefined, what: string): Buffer {
  if (!isUniversal(node, Type.BITSTRING)) throw malformed(what);
  const v = primitive(node, what);
  if (v.charCodeAt(0) !== 0) throw malformed(what);
  return fromBinary(v.slice(1));
}

export function malformed(what: string): WeftError {
  return new WeftError('WEFT_ERR_BAD_DER', `malformed ${what}`);
}

export const Tag = Type;

export function pemDecode(pem: string, labels: string[], what: string): Buffer {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (m === null || !labels.includes(m[1] ?? '')) {
    throw new WeftError('WEFT_ERR_BAD_PEM', `${what} is not a PEM block of type ${labels.join(' or ')}`);
  }
  return Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64');
}

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
