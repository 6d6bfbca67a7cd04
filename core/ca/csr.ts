// Certificate signing requests (PKCS#10, RFC 2986) for one SPIFFE identity: the key is made
// locally and never leaves the process; only the public key and the URI SAN go to the CA.
import { generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import { OID, bits, encode, extension, implicitConstructed, implicitPrimitive, oid, pemEncode, raw, seq, set, smallInt } from './der.ts';
import { algorithmIdentifier, signWith } from './signature.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export async function generateWorkloadKey(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
}

/** A fresh P-256 key and a CSR carrying `identity` as its only URI SAN. */
export async function createCsr(identity: string): Promise<{ keyPem: string; csrPem: string }> {
  parseSpiffeId(identity);
  const { privateKey, publicKey } = await generateWorkloadKey();
  const csrDer = buildCsr(identity, privateKey, publicKey);
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csrPem: pemEncode('CERTIFICATE REQUEST', csrDer),
  };
}

/** Builds and signs a CSR; `uris` defaults to the one identity (tests pass other lists). */
export function buildCsr(identity: string, privateKey: KeyObject, publicKey: KeyObject, uris: string[] = [identity]): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const san = extension(OID.subjectAltName, false, encode(seq(uris.map((u) => implicitPrimitive(6, u)))));
  const extensionRequest = seq([oid(OID.extensionRequest), set([seq([san])])]);
  const info = seq([
    smallInt(0),
    seq([]), // empty subject: the identity lives in the SAN, as in the issued certificate
    raw(spki),
    implicitConstructed(0, [extensionRequest]), // attributes [0] IMPLICIT SET OF Attribute
  ]);
  const infoDer = encode(info);
  const { alg, signature } = signWith(privateKey, infoDer);
  return encode(seq([info, algorithmIdentifier(alg), bits(signature)]));
}
