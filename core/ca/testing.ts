// A throwaway PKI for tests anywhere in the repository: a real in-memory CA plus shortcuts to
// issue workload certificates, including expired, not-yet-valid and foreign-CA ones.
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { DEFAULT_TRUST_DOMAIN, parseSpiffeId } from '#core/identity/spiffe.ts';
import { CertificateAuthority } from './authority.ts';
import { generateWorkloadKey } from './csr.ts';
import { loadIssuer } from './issuer.ts';
import type { Issuer } from './issuer.ts';
import { issueLeaf, wholeSeconds } from './leaf.ts';
import { MemoryCaStore } from './store.ts';
import { OID, encode, name, pemEncode } from './der.ts';
import { ext, keyIdentifier, randomSerial, readCertificate, signCertificate } from './x509.ts';

export interface IssueOptions {
  /** Lifetime from now; default one hour. Ignored for whichever bound is given explicitly. */
  ttlSeconds?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface TestPki {
  ca: CertificateAuthority;
  trustDomain: string;
  rootsPem: string[];
  /** A certificate from this PKI's CA, with any validity window (no authorization check). */
  issue(identity: string, opts?: IssueOptions): Promise<WorkloadCertificate>;
  /** A certificate from a second, unrelated CA of the same trust domain: peers must refuse it. */
  issueForeign(identity: string, opts?: IssueOptions): Promise<WorkloadCertificate>;
}

export async function testPki(opts: { trustDomain?: string } = {}): Promise<TestPki> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const own = await openCa(trustDomain);
  let foreign: Promise<{ ca: CertificateAuthority; issuer: Issuer }> | undefined;
  return {
    ca: own.ca,
    trustDomain,
    rootsPem: own.ca.rootsPem,
    issue: (identity, o) => issueWith(own, identity, o),
    issueForeign: async (identity, o) => {
      foreign ??= openCa(trustDomain);
      return issueWith(await foreign, identity, o);
    },
  };
}

async function openCa(trustDomain: string): Promise<{ ca: CertificateAuthority; issuer: Issuer }> {
  const store = new MemoryCaStore();
  const ca = await CertificateAuthority.open({ store, trustDomain });
  const material = await store.load();
  if (material === undefined) throw new Error('test CA store is empty after open');
  return { ca, issuer: loadIssuer(material.certPem, material.keyPem, 'test CA') };
}

async function issueWith(pki: { ca: CertificateAuthority; issuer: Issuer }, identity: string, o: IssueOptions = {}): Promise<WorkloadCertificate> {
  parseSpiffeId(identity);
  const now = Date.now();
  const notBefore = o.notBefore ?? wholeSeconds(now - 60_000);
  const notAfter = o.notAfter ?? wholeSeconds(now + (o.ttlSeconds ?? 3600) * 1000);
  const { privateKey, publicKey } = await generateWorkloadKey();
  const certPem = issueLeaf(pki.issuer, { identity, spki: publicKey.export({ type: 'spki', format: 'der' }), notBefore, notAfter });
  return {
    identity,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem,
    chainPem: [],
    rootsPem: [...pki.ca.rootsPem],
    notBefore: wholeSeconds(notBefore.getTime()),
    notAfter: wholeSeconds(notAfter.getTime()),
  };
}

/** A CA certificate for `cn` signed by `parent` (an intermediate for plug-in CA tests), valid 30 days. */
export function testIntermediate(parent: { certPem: string; keyPem: string }, cn: string): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const p = readCertificate(new X509Certificate(parent.certPem).raw);
  const der = signCertificate({
    serial: randomSerial(), issuer: p.subject, subject: encode(name([[OID.organization, 'cluster.local'], [OID.commonName, cn]])),
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 30 * 86_400_000), spki,
    extensions: [ext.basicConstraints(true), ext.keyUsage([5, 6]), ext.subjectKeyId(keyIdentifier(spki)), ext.authorityKeyId(keyIdentifier(p.spki))],
  }, createPrivateKey(parent.keyPem));
  return { certPem: pemEncode('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
