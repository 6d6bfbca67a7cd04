// The mesh certificate authority: turns a workload's CSR into a short-lived SPIFFE certificate,
// signed by a self-made root (kept in a CaStore) or by a user's plugged-in intermediate.
// Whether a caller may hold an identity is the controller's decision, passed in per request.
import { X509Certificate } from 'node:crypto';
import { WeftError, errorMessage } from '#core/errors.ts';
import { DEFAULT_TRUST_DOMAIN, parseSpiffeId } from '#core/identity/spiffe.ts';
import { readCsr } from './csr-read.ts';
import { loadIssuer } from './issuer.ts';
import type { Issuer } from './issuer.ts';
import { issueLeaf, wholeSeconds } from './leaf.ts';
import { createRoot } from './root.ts';
import { algorithmFor } from './signature.ts';
import type { CaStore } from './store.ts';

/** A user-provided intermediate CA (Istio's "plug-in CA certificates"). */
export interface PluggedCa {
  certPem: string;
  keyPem: string;
  /** Certificates between certPem and the root, certPem's issuer first; the root may be left out. */
  chainPem: string[];
  rootPem: string;
}

export interface CertificateAuthorityOptions {
  /** Holds the self-made root; required unless `pluggedCert` is given. */
  store?: CaStore;
  pluggedCert?: PluggedCa;
  trustDomain?: string;
  /** Lifetime of a newly created root; default 10 years. */
  rootTtlDays?: number;
  /** Default lifetime of workload certificates; default 24 hours. */
  workloadTtlSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface SignOptions {
  /** Identities the requester may hold, as decided by the controller. */
  authorizedIdentities: readonly string[];
  ttlSeconds?: number;
}

export interface SignedCertificate {
  certPem: string;
  /** Intermediates, the leaf's issuer first, root excluded (empty when the root signs). */
  chainPem: string[];
  notAfter: Date;
}

const BACKDATE_MS = 60_000;

export class CertificateAuthority {
  readonly trustDomain: string;
  /** Trust anchors that verify every certificate this CA issues. */
  readonly rootsPem: string[];
  readonly #issuer: Issuer;
  readonly #chainPem: string[];
  /** Issued certificates never outlive any certificate on the way to the root. */
  readonly #validUntil: number;
  readonly #workloadTtlSeconds: number;
  readonly #now: () => number;

  private constructor(init: { trustDomain: string; issuer: Issuer; chainPem: string[]; rootsPem: string[]; validUntil: number; workloadTtlSeconds: number; now: () => number }) {
    this.trustDomain = init.trustDomain;
    this.rootsPem = init.rootsPem;
    this.#issuer = init.issuer;
    this.#chainPem = init.chainPem;
    this.#validUntil = init.validUntil;
    this.#workloadTtlSeconds = init.workloadTtlSeconds;
    this.#now = init.now;
  }

  static async open(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    parseSpiffeId(`spiffe://${trustDomain}/ns/x/sa/x`); // validates the trust domain
    const now = opts.now ?? Date.now;
    const workloadTtlSeconds = opts.workloadTtlSeconds ?? 86_400;
    checkTtl(workloadTtlSeconds);
    if (opts.pluggedCert !== undefined) {
      return CertificateAuthority.#plugged(opts.pluggedCert, { trustDomain, workloadTtlSeconds, now });
    }
    if (opts.store === undefined) {
      throw new WeftError('WEFT_ERR_CA_CONFIG', 'the CA needs a store for its root or a plugged-in certificate');
    }
    let material = await opts.store.load();
    if (material === undefined) {
      const created = await createRoot({ trustDomain, ttlDays: opts.rootTtlDays ?? 3650, now: now() });
      material = (await opts.store.save(created)) ? created : await opts.store.load();
      if (material === undefined) throw new WeftError('WEFT_ERR_CA_STORE', 'the CA store lost the root it reported as saved');
    }
    const issuer = loadIssuer(material.certPem, material.keyPem, 'CA root');
    return new CertificateAuthority({
      trustDomain, issuer, chainPem: [], rootsPem: [issuer.certPem], validUntil: issuer.cert.validToDate.getTime(), workloadTtlSeconds, now,
    });
  }

  static #plugged(plugged: PluggedCa, base: { trustDomain: string; workloadTtlSeconds: number; now: () => number }): CertificateAuthority {
    const issuer = loadIssuer(plugged.certPem, plugged.keyPem, 'plugged-in CA');
    let root: X509Certificate;
    let chain: X509Certificate[];
    try {
      root = new X509Certificate(plugged.rootPem);
      chain = plugged.chainPem.map((pem) => new X509Certificate(pem));
    } catch (err) {
      throw new WeftError('WEFT_ERR_CA_CERT', `plugged-in CA: unreadable chain or root: ${errorMessage(err)}`, { cause: err });
    }
    // A chain that ends with the root itself is accepted; the root travels in rootsPem only.
    const last = chain[chain.length - 1];
    if (last !== undefined && last.fingerprint256 === root.fingerprint256) chain = chain.slice(0, -1);
    const path = [issuer.cert, ...chain, root];
    for (let i = 0; i + 1 < path.length; i++) {
      const child = path[i] as X509Certificate;
      const parent = path[i + 1] as X509Certificate;
      if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
        throw new WeftError('WEFT_ERR_CA_CERT', `plugged-in CA: certificate ${i} of the chain is not signed by the next one`, {
          hint: 'chainPem lists intermediates from the plugged certificate\'s issuer up to the root',
        });
      }
    }
    return new CertificateAuthority({
      ...base,
      issuer,
      chainPem: [issuer.certPem, ...chain.map((c) => c.toString())],
      rootsPem: [root.toString()],
      validUntil: Math.min(...path.map((c) => c.validToDate.getTime())),
    });
  }

  /** Signs a workload CSR; throws WEFT_ERR_BAD_CSR or WEFT_ERR_CSR_UNAUTHORIZED. */
  sign(csrPem: string, opts: SignOptions): SignedCertificate {
    const csr = readCsr(csrPem);
    try {
      algorithmFor(csr.publicKey);
    } catch (err) {
      throw new WeftError('WEFT_ERR_BAD_CSR', `CSR key refused: ${errorMessage(err)}`, { cause: err });
    }
    const [identity, ...others] = csr.uris;
    if (identity === undefined || others.length > 0) {
      throw new WeftError('WEFT_ERR_BAD_CSR', `CSR must carry exactly one URI SAN, found ${csr.uris.length}`);
    }
    let trustDomain: string;
    try {
      trustDomain = parseSpiffeId(identity).trustDomain;
    } catch (err) {
      throw new WeftError('WEFT_ERR_BAD_CSR', `CSR URI SAN is not a SPIFFE id: ${errorMessage(err)}`, { cause: err });
    }
    if (trustDomain !== this.trustDomain) {
      throw new WeftError('WEFT_ERR_CSR_UNAUTHORIZED', `CSR asks for ${identity} in trust domain ${trustDomain}; this CA signs only ${this.trustDomain}`, {
        hint: 'check the trust domain configured on the proxy and the controller',
      });
    }
    if (!opts.authorizedIdentities.includes(identity)) {
      throw new WeftError('WEFT_ERR_CSR_UNAUTHORIZED', `requester is not authorized for ${identity}`, {
        hint: 'a node may obtain an identity only while a pod with that service account runs on it',
      });
    }
    const ttlSeconds = opts.ttlSeconds ?? this.#workloadTtlSeconds;
    checkTtl(ttlSeconds);
    const now = this.#now();
    const notAfter = wholeSeconds(Math.min(now + ttlSeconds * 1000, this.#validUntil));
    if (notAfter.getTime() <= now) {
      throw new WeftError('WEFT_ERR_CA_EXPIRED', 'the CA certificate has expired', { hint: 'rotate the root or the plugged-in CA' });
    }
    const certPem = issueLeaf(this.#issuer, { identity, spki: csr.spki, notBefore: wholeSeconds(now - BACKDATE_MS), notAfter });
    return { certPem, chainPem: [...this.#chainPem], notAfter };
  }
}

function checkTtl(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new WeftError('WEFT_ERR_CA_CONFIG', `certificate lifetime must be a positive number of seconds, got ${seconds}`);
  }
}
