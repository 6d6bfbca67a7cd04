// Checks what the CA returned before the proxy presents it: the certificate must name exactly
// the identity asked for, match the key made for the request, be unexpired and chain to the
// roots. A proxy never serves a certificate it did not ask for.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { FetchedCertificate } from './fetcher.ts';
import type { WorkloadCertificate } from './types.ts';

export function checkIssued(identity: string, keyPem: string, got: FetchedCertificate, now: number): WorkloadCertificate {
  let leaf: X509Certificate;
  let chain: X509Certificate[];
  let roots: X509Certificate[];
  try {
    leaf = new X509Certificate(got.certPem);
    chain = got.chainPem.map((p) => new X509Certificate(p));
    roots = got.rootsPem.map((p) => new X509Certificate(p));
  } catch (err) {
    throw new WeftError('WEFT_ERR_CERT_INVALID', `unreadable certificate for ${identity}: ${errorMessage(err)}`, { cause: err });
  }
  const san = leaf.subjectAltName ?? '';
  if (san !== `URI:${identity}`) {
    throw new WeftError('WEFT_ERR_CERT_MISMATCH', `certificate names ${JSON.stringify(san)}, but ${identity} was requested`, {
      hint: 'the CA returned a certificate for another identity',
    });
  }
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new WeftError('WEFT_ERR_CERT_MISMATCH', `certificate for ${identity} does not match the key of the request`);
  }
  if (leaf.validToDate.getTime() <= now) {
    throw new WeftError('WEFT_ERR_CERT_INVALID', `certificate for ${identity} expired at ${leaf.validToDate.toISOString()}`, {
      hint: 'check the clocks of the controller and this node',
    });
  }
  if (roots.length === 0) throw new WeftError('WEFT_ERR_CERT_INVALID', `no trust roots came with the certificate for ${identity}`);
  let cur = leaf;
  for (const next of chain) {
    if (!cur.verify(next.publicKey)) throw notChained(identity);
    cur = next;
  }
  if (!roots.some((r) => cur.fingerprint256 === r.fingerprint256 || cur.verify(r.publicKey))) throw notChained(identity);
  return {
    identity,
    keyPem,
    certPem: got.certPem,
    chainPem: [...got.chainPem],
    rootsPem: [...got.rootsPem],
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
  };
}

function notChained(identity: string): WeftError {
  return new WeftError('WEFT_ERR_CERT_INVALID', `certificate for ${identity} does not chain to the roots sent with it`);
}
