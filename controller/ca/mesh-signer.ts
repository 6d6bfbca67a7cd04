// The CA the controller signs with, replaceable while it runs (Secret cacerts rotated), and the
// trust bundle proxies get with every certificate and in istio-ca-root-cert.
// A new CA under a root the bundle already holds (a new intermediate) signs at once. A new root
// goes in two steps, so that a certificate from either CA is trusted by every proxy at all
// times: first the new root joins the bundle while the old CA keeps signing, and only after
// `graceMs` (time for the ConfigMap to reach the proxies and for them to fetch the bundle) does
// the new CA sign. The roots it does not hold stay in the bundle for `overlapMs` after that
// (the workload certificate lifetime: every certificate they verify has expired by then).
// Each step changes the bundle (joined, signing root first, retired), and proxies fetch their
// certificates again whenever their bundle file changes.
import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority, SignOptions, SignedCertificate } from '#core/ca/authority.ts';
import type { Signer } from '#controller/ca/server.ts';

export interface MeshSignerOptions {
  ca: CertificateAuthority;
  /** How long a new root is trusted before its CA signs. */
  graceMs: number;
  /** How long roots the signing CA no longer holds stay trusted. */
  overlapMs: number;
  /** The bundle changed (a root joined or left). */
  onRootsChanged?: () => void;
  /** Another CA signs now (the serving certificate must be issued again). */
  onSignerChanged?: (ca: CertificateAuthority) => void;
  now?: () => number;
}

interface Anchor {
  pem: string;
  fingerprint: string;
  /** Trusted until then (ms since the epoch); Infinity for the signing CA's roots. */
  until: number;
}

const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

export class MeshSigner implements Signer {
  readonly #o: MeshSignerOptions;
  readonly #now: () => number;
  #ca: CertificateAuthority;
  /** The CA waiting for its root to spread, and when it takes over. */
  #next: { ca: CertificateAuthority; at: number } | undefined;
  #anchors: Anchor[];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MeshSignerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#ca = options.ca;
    this.#anchors = options.ca.rootsPem.map((pem) => ({ pem, fingerprint: fingerprintOf(pem), until: Infinity }));
  }

  /** The CA that signs now. */
  get ca(): CertificateAuthority {
    return this.#ca;
  }

  /** Every root a proxy must trust now: the signing CA's, then those of a CA about to sign, then retiring ones. */
  get rootsPem(): string[] {
    const now = this.#now();
    return this.#anchors.filter((a) => a.until > now).map((a) => a.pem);
  }

  /** True while a new root is spreading and the previous CA still signs. */
  get pending(): boolean {
    return this.#next !== undefined;
  }

  sign(csrPem: string, opts: SignOptions): SignedCertificate {
    return this.#ca.sign(csrPem, opts);
  }

  /** Takes a new CA: at once when the bundle trusts its roots, after the grace period otherwise. */
  replace(next: CertificateAuthority): void {
    const trusted = new Set(this.rootsPem.map(fingerprintOf));
    const unknown = next.rootsPem.filter((pem) => !trusted.has(fingerprintOf(pem)));
    if (unknown.length === 0) {
      this.#next = undefined;
      this.#activate(next);
      return;
    }
    for (const pem of unknown) this.#anchors.push({ pem, fingerprint: fingerprintOf(pem), until: Infinity });
    this.#next = { ca: next, at: this.#now() + this.#o.graceMs };
    this.#o.onRootsChanged?.();
    this.#arm();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #activate(ca: CertificateAuthority): void {
    const now = this.#now();
    const keep = new Set(ca.rootsPem.map(fingerprintOf));
    const pendingRoots = new Set(this.#next?.ca.rootsPem.map(fingerprintOf) ?? []);
    const before = this.rootsPem.join('');
    this.#anchors = this.#anchors
      .map((a) => (keep.has(a.fingerprint) || pendingRoots.has(a.fingerprint) ? { ...a, until: Infinity } : { ...a, until: Math.min(a.until, now + this.#o.overlapMs) }))
      // The signing CA's roots first: proxies that read only the first one still trust the signer.
      .sort((a, b) => Number(keep.has(b.fingerprint)) - Number(keep.has(a.fingerprint)));
    this.#ca = ca;
    this.#o.onSignerChanged?.(ca);
    // The signing root moving to the front counts as a change: the bundle published changes, and
    // proxies that see it fetch their certificates again, now from the new CA.
    if (this.rootsPem.join('') !== before) this.#o.onRootsChanged?.();
    this.#arm();
  }

  /** One timer for the next thing due: the pending CA taking over, or a retiring root leaving. */
  #arm(): void {
    clearTimeout(this.#timer);
    const now = this.#now();
    const due = Math.min(this.#next?.at ?? Infinity, ...this.#anchors.filter((a) => a.until > now).map((a) => a.until));
    if (!Number.isFinite(due)) return;
    // setTimeout holds at most 2^31-1 ms; a later date is looked at again then.
    this.#timer = setTimeout(() => this.#due(), Math.min(Math.max(0, due - now), 2 ** 31 - 1));
    this.#timer.unref();
  }

  #due(): void {
    const now = this.#now();
    if (this.#next !== undefined && this.#next.at <= now) {
      const { ca } = this.#next;
      this.#next = undefined;
      this.#activate(ca);
      return;
    }
    const before = this.#anchors.length;
    this.#anchors = this.#anchors.filter((a) => a.until > now);
    if (this.#anchors.length !== before) this.#o.onRootsChanged?.();
    this.#arm();
  }
}
