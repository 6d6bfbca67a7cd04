// The controller's own TLS server certificate, signed by the mesh root so proxies verify the
// push and CA endpoints with the one trust anchor they already hold. The workload CA only
// issues SPIFFE URI SANs; a server certificate needs DNS and IP SANs, so it is built here
// from the same X.509 blocks.
import { generateKeyPair } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { OID, encode, extension, implicitPrimitive, name, pemEncode, seq } from '#core/ca/der.ts';
import type { Asn1 } from '#core/ca/der.ts';
import { loadIssuer } from '#core/ca/issuer.ts';
import type { CaMaterial } from '#core/ca/store.ts';
import { ext, keyIdentifier, randomSerial, signCertificate } from '#core/ca/x509.ts';
import { WeftError } from '#core/errors.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/** Bytes of an IP address as an iPAddress SAN carries them (4 or 16 octets). */
export function ipBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6) throw new WeftError('WEFT_ERR_CONFIG', `not an IP address: ${address}`);
  const [head = '', tail] = address.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap((g) => {
    if (g.includes('.')) { const b = ipBytes(g); return [(b[0] ?? 0) << 8 | (b[1] ?? 0), (b[2] ?? 0) << 8 | (b[3] ?? 0)]; }
    return [parseInt(g, 16)];
  }));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Issues a server certificate (serverAuth) for the given DNS names and IP addresses. */
export async function issueServerCertificate(root: CaMaterial, opts: { dnsNames: string[]; ipAddresses: string[]; uris?: string[]; ttlDays?: number; now?: number }): Promise<ServerCertificate> {
  const issuer = loadIssuer(root.certPem, root.keyPem, 'CA root');
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = Math.floor((opts.now ?? Date.now()) / 1000) * 1000;
  const notAfter = new Date(Math.min(now + (opts.ttlDays ?? 30) * 86_400_000, issuer.cert.validToDate.getTime()));
  // GeneralName: dNSName [2] IA5String, uniformResourceIdentifier [6], iPAddress [7] OCTET STRING.
  // The URI carries the controller's SPIFFE id for clients that check peers by identity.
  const names: Asn1[] = [
    ...opts.dnsNames.map((d) => implicitPrimitive(2, d)),
    ...(opts.uris ?? []).map((u) => implicitPrimitive(6, u)),
    ...opts.ipAddresses.map((a) => implicitPrimitive(7, ipBytes(a).toString('latin1'))),
  ];
  const der = signCertificate({
    serial: randomSerial(),
    issuer: issuer.subject,
    subject: encode(name([[OID.commonName, opts.dnsNames[0] ?? 'weft-controller']])),
    notBefore: new Date(now - 60_000),
    notAfter,
    spki,
    extensions: [
      ext.keyUsage([0]),
      ext.extKeyUsage([OID.serverAuth]),
      ext.basicConstraints(false),
      ext.subjectKeyId(keyIdentifier(spki)),
      ext.authorityKeyId(issuer.keyId),
      extension(OID.subjectAltName, false, encode(seq(names))),
    ],
  }, issuer.key);
  return { certPem: pemEncode('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), notAfter };
}
