// Signature algorithms the CA signs with and accepts: ECDSA (P-256 with SHA-256, P-384 with
// SHA-384) and RSA PKCS#1 v1.5 (for a plugged-in RSA intermediate). node:crypto emits ECDSA
// signatures as DER Ecdsa-Sig-Value, which is what X.509 and PKCS#10 carry.
import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { WeftError } from '#core/errors.ts';
import { OID, nullValue, oid, seq } from './der.ts';
import type { Asn1 } from './der.ts';

interface Algorithm {
  readonly oid: string;
  readonly hash: 'sha256' | 'sha384';
  readonly key: 'ec' | 'rsa';
}

const ALGORITHMS: readonly Algorithm[] = [
  { oid: OID.ecdsaWithSha256, hash: 'sha256', key: 'ec' },
  { oid: OID.ecdsaWithSha384, hash: 'sha384', key: 'ec' },
  { oid: OID.sha256WithRsa, hash: 'sha256', key: 'rsa' },
  { oid: OID.sha384WithRsa, hash: 'sha384', key: 'rsa' },
];

/** Picks the algorithm a private key signs with; refuses key types the mesh does not use. */
export function algorithmFor(key: KeyObject): Algorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return ALGORITHMS[0] as Algorithm;
    if (curve === 'secp384r1') return ALGORITHMS[1] as Algorithm;
    throw new WeftError('WEFT_ERR_BAD_KEY', `unsupported EC curve ${String(curve)}`, { hint: 'use P-256 or P-384' });
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new WeftError('WEFT_ERR_BAD_KEY', `RSA key of ${bits} bits is too small`, { hint: 'use at least 2048 bits' });
    return ALGORITHMS[2] as Algorithm;
  }
  throw new WeftError('WEFT_ERR_BAD_KEY', `unsupported key type ${String(type)}`, { hint: 'use an ECDSA P-256 or RSA key' });
}

/** AlgorithmIdentifier: ECDSA has absent parameters, RSA an explicit NULL (RFC 5758, RFC 4055). */
export function algorithmIdentifier(alg: Algorithm): Asn1 {
  return alg.key === 'rsa' ? seq([oid(alg.oid), nullValue()]) : seq([oid(alg.oid)]);
}

export function signWith(key: KeyObject, data: Uint8Array): { alg: Algorithm; signature: Buffer } {
  const alg = algorithmFor(key);
  return { alg, signature: cryptoSign(alg.hash, data, key) };
}

/** Verifies `signature` over `data` under the algorithm named by `algOid`; false on any mismatch. */
export function verifyWith(algOid: string, publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const alg = ALGORITHMS.find((a) => a.oid === algOid);
  if (alg === undefined || publicKey.asymmetricKeyType !== alg.key) return false;
  try {
    return cryptoVerify(alg.hash, data, publicKey, signature);
  } catch {
    return false;
  }
}
