// Holds one workload certificate per identity for a proxy: fetches on first use, renews at
// half-life, retries with backoff, and keeps serving the current certificate while a renewal
// is failing, so a controller outage never takes down established identities.
import { WeftError, errorMessage } from '#core/errors.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import type { Logger } from '#core/log.ts';
import { createCsr } from '#core/ca/csr.ts';
import { checkIssued } from './check.ts';
import type { CertificateFetcher } from './fetcher.ts';
import { backoffDelayMs, renewalDelayMs } from './schedule.ts';
import type { CertificateProvider, WorkloadCertificate } from './types.ts';

/** Time source and timers; tests pass fakes. */
export interface ManagerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CertificateManagerOptions {
  fetch: CertificateFetcher;
  logger: Logger;
  /** How long get() waits for a certificate it does not hold yet; default 10 s. */
  firstFetchTimeoutMs?: number;
  /** How long one fetch may take before it counts as failed; default 30 s. */
  fetchTimeoutMs?: number;
  /** First retry delay after a failure; default 1 s, doubling up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Default 150 s (±10 % jitter). */
  maxBackoffMs?: number;
  /** Called with every new certificate (to refresh TLS contexts). */
  onCertificate?: (cert: WorkloadCertificate) => void;
  clock?: ManagerClock;
  random?: () => number;
  /** Key and CSR maker; tests may substitute one. */
  createCsr?: (identity: string) => Promise<{ keyPem: string; csrPem: string }>;
}

export type CertificateState = 'pending' | 'ready' | 'renewing' | 'failed';

export interface CertificateStatus {
  identity: string;
  notBefore?: Date;
  notAfter?: Date;
  state: CertificateState;
  lastError?: string;
}

interface Waiter {
  resolve(cert: WorkloadCertificate): void;
  reject(err: Error): void;
  timer: unknown;
}

interface Entry {
  identity: string;
  cert: WorkloadCertificate | undefined;
  fetching: boolean;
  /** Consecutive failed fetches. */
  failures: number;
  lastError: string | undefined;
  lastAttemptAt: number;
  /** Renewal or retry timer. */
  timer: unknown;
  /** Bounds the fetch in flight. */
  fetchTimer: unknown;
  waiters: Set<Waiter>;
}

const realClock: ManagerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

// A caller waiting on an identity with no usable certificate may pull the next retry forward,
// but not more often than this, so a burst of connections cannot hammer the CA.
const DEMAND_RETRY_MS = 1000;
// Never renew more often than this, even for a certificate about to expire.
const MIN_RENEW_MS = 500;

export class CertificateManager implements CertificateProvider {
  readonly #entries = new Map<string, Entry>();
  readonly #fetch: CertificateFetcher;
  readonly #log: Logger;
  readonly #clock: ManagerClock;
  readonly #random: () => number;
  readonly #createCsr: (identity: string) => Promise<{ keyPem: string; csrPem: string }>;
  readonly #onCertificate: ((cert: WorkloadCertificate) => void) | undefined;
  readonly #firstFetchTimeoutMs: number;
  readonly #fetchTimeoutMs: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  #closed = false;

  constructor(opts: CertificateManagerOptions) {
    this.#fetch = opts.fetch;
    this.#log = opts.logger.child({ component: 'certs' });
    this.#clock = opts.clock ?? realClock;
    this.#random = opts.random ?? Math.random;
    this.#createCsr = opts.createCsr ?? createCsr;
    this.#onCertificate = opts.onCertificate;
    this.#firstFetchTimeoutMs = opts.firstFetchTimeoutMs ?? 10_000;
    this.#fetchTimeoutMs = opts.fetchTimeoutMs ?? 30_000;
    this.#initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 150_000;
  }

  async get(identity: string): Promise<WorkloadCertificate> {
    if (this.#closed) throw new WeftError('WEFT_ERR_CERT_CLOSED', 'certificate manager is closed');
    parseSpiffeId(identity);
    let entry = this.#entries.get(identity);
    if (entry === undefined) {
      entry = { identity, cert: undefined, fetching: false, failures: 0, lastError: undefined, lastAttemptAt: 0, timer: undefined, fetchTimer: undefined, waiters: new Set() };
      this.#entries.set(identity, entry);
    }
    if (entry.cert !== undefined && this.#usable(entry.cert)) return entry.cert;
    if (!entry.fetching && (entry.timer === undefined || this.#clock.now() - entry.lastAttemptAt >= DEMAND_RETRY_MS)) {
      void this.#attempt(entry);
    }
    return this.#wait(entry);
  }

  /**
   * Fetches every held identity again now (the mesh's trust bundle changed, so the CA may sign
   * under a new root); each keeps serving its current certificate until the new one arrives.
   */
  renewAll(): void {
    if (this.#closed) return;
    for (const entry of this.#entries.values()) if (!entry.fetching) void this.#attempt(entry);
  }

  /** Stops holding and renewing `identity` (its last pod left the node). */
  forget(identity: string): void {
    const entry = this.#entries.get(identity);
    if (entry === undefined) return;
    this.#entries.delete(identity);
    this.#drop(entry, new WeftError('WEFT_ERR_CERT_FORGOTTEN', `certificate for ${identity} is no longer wanted`));
  }

  state(): CertificateStatus[] {
    return [...this.#entries.values()].map((e) => {
      const usable = e.cert !== undefined && this.#usable(e.cert);
      let state: CertificateState;
      if (usable) state = e.fetching || e.failures > 0 ? 'renewing' : 'ready';
      else state = e.failures > 0 && !e.fetching ? 'failed' : 'pending';
      const s: CertificateStatus = { identity: e.identity, state };
      if (e.cert !== undefined) {
        s.notBefore = e.cert.notBefore;
        s.notAfter = e.cert.notAfter;
      }
      if (e.lastError !== undefined) s.lastError = e.lastError;
      return s;
    });
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#drop(entry, new WeftError('WEFT_ERR_CERT_CLOSED', 'certificate manager is closed'));
    this.#entries.clear();
  }

  #usable(cert: WorkloadCertificate): boolean {
    return cert.notAfter.getTime() > this.#clock.now();
  }

  #wait(entry: Entry): Promise<WorkloadCertificate> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          entry.waiters.delete(waiter);
          const last = entry.lastError === undefined ? '' : `; last error: ${entry.lastError}`;
          reject(new WeftError('WEFT_ERR_CERT_TIMEOUT', `no certificate for ${entry.identity} within ${this.#firstFetchTimeoutMs} ms${last}`, {
            hint: 'check that the controller is reachable and that a pod with this service account runs on this node',
          }));
        }, this.#firstFetchTimeoutMs),
      };
      entry.waiters.add(waiter);
    });
  }

  async #attempt(entry: Entry): Promise<void> {
    this.#clearTimer(entry);
    entry.fetching = true;
    entry.lastAttemptAt = this.#clock.now();
    const log = this.#log.child({ identity: entry.identity });
    try {
      const cert = await this.#withTimeout(entry, this.#fetchOne(entry.identity));
      if (!this.#current(entry)) return;
      entry.cert = cert;
      entry.failures = 0;
      entry.lastError = undefined;
      for (const w of entry.waiters) {
        this.#clock.clearTimeout(w.timer);
        w.resolve(cert);
      }
      entry.waiters.clear();
      const delay = renewalDelayMs({
        now: this.#clock.now(), notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime(), random: this.#random(), minMs: MIN_RENEW_MS,
      });
      this.#schedule(entry, delay);
      log.info('certificate issued', { notAfter: cert.notAfter.toISOString(), renewInMs: delay });
      this.#notify(cert, log);
    } catch (err) {
      if (!this.#current(entry)) return;
      entry.failures++;
      entry.lastError = errorMessage(err);
      const delay = backoffDelayMs(entry.failures, { initialMs: this.#initialBackoffMs, maxMs: this.#maxBackoffMs, random: this.#random() });
      this.#schedule(entry, delay);
      log.warn('certificate fetch failed', { error: err, failures: entry.failures, retryInMs: delay, serving: entry.cert !== undefined && this.#usable(entry.cert) });
    } finally {
      entry.fetching = false;
    }
  }

  async #fetchOne(identity: string): Promise<WorkloadCertificate> {
    const { keyPem, csrPem } = await this.#createCsr(identity);
    const got = await this.#fetch(csrPem, identity);
    return checkIssued(identity, keyPem, got, this.#clock.now());
  }

  #withTimeout<T>(entry: Entry, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        reject(new WeftError('WEFT_ERR_CERT_FETCH_TIMEOUT', `certificate request for ${entry.identity} took longer than ${this.#fetchTimeoutMs} ms`));
      }, this.#fetchTimeoutMs);
      (timer as { unref?: () => void } | undefined)?.unref?.();
      entry.fetchTimer = timer;
      work.then(resolve, reject).finally(() => {
        this.#clock.clearTimeout(timer);
        if (entry.fetchTimer === timer) entry.fetchTimer = undefined;
      });
    });
  }

  #notify(cert: WorkloadCertificate, log: Logger): void {
    try {
      this.#onCertificate?.(cert);
    } catch (err) {
      log.error('certificate listener failed', { error: err });
    }
  }

  /** False once the entry was forgotten or the manager closed: late results are dropped. */
  #current(entry: Entry): boolean {
    return !this.#closed && this.#entries.get(entry.identity) === entry;
  }

  #schedule(entry: Entry, delayMs: number): void {
    this.#clearTimer(entry);
    const handle = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      void this.#attempt(entry);
    }, delayMs);
    // Renewal alone should not keep a process alive.
    (handle as { unref?: () => void } | undefined)?.unref?.();
    entry.timer = handle;
  }

  #clearTimer(entry: Entry): void {
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  #drop(entry: Entry, err: WeftError): void {
    this.#clearTimer(entry);
    if (entry.fetchTimer !== undefined) this.#clock.clearTimeout(entry.fetchTimer);
    entry.fetchTimer = undefined;
    for (const w of entry.waiters) {
      this.#clock.clearTimeout(w.timer);
      w.reject(err);
    }
    entry.waiters.clear();
  }
}
