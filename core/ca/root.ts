// Creates the mesh's self-signed root: ECDSA P-256, named after the trust domain.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { OID, encode, name, pemEncode } from './der.ts';
import type { CaMaterial } from './store.ts';
import { ext, keyIdentifier, randomSerial, signCertificate } from './x509.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export async function createRoot(opts: { trustDomain: string; ttlDays: number; now: number }): Promise<CaMaterial> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = encode(name([[OID.organization, opts.trustDomain], [OID.commonName, 'weft root CA']]));
  const keyId = keyIdentifier(spki);
  const der = signCertificate({
    serial: randomSerial(),
    issuer: subject,
    subject,
    // Back-dated a little so peers with a slightly slow clock accept it at once.
    notBefore: new Date(Math.floor(opts.now / 1000) * 1000 - 60_000),
    notAfter: new Date(Math.floor(opts.now / 1000) * 1000 + opts.ttlDays * 86_400_000),
    spki,
    extensions: [
      ext.basicConstraints(true),
      ext.keyUsage([5, 6]),
      ext.subjectKeyId(keyId),
      ext.authorityKeyId(keyId),
    ],
  }, privateKey);
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: pemEncode('CERTIFICATE', der) };
}
