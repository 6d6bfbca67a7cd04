// Outlier detection for one destination, as Envoy does it for a cluster: consecutive 5xx and
// consecutive gateway errors (502, 503, 504, and failures to get an answer) eject an endpoint
// at once, for baseEjectionTime × the times it was ejected; every `interval` an endpoint that
// stayed in lowers that multiplier again. Time is passed in, so the rules are table-testable.
import type { OutlierDetection } from '#core/config/routes.ts';

/** What one attempt at an endpoint came to: a status, or no answer at all (connect failure, reset, timeout). */
export type AttemptOutcome = { status: number } | { failed: true };

interface EndpointRecord {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** How many times it was ejected, lowered once per interval spent in. */
  multiplier: number;
  ejectedUntil: number;
  /** When the multiplier was last lowered (or the endpoint last returned). */
  since: number;
}

export class OutlierState {
  readonly #cfg: OutlierDetection;
  readonly #endpoints = new Map<string, EndpointRecord>();

  constructor(cfg: OutlierDetection) {
    this.#cfg = cfg;
  }

  get config(): OutlierDetection { return this.#cfg; }

  /**
   * Counts one outcome; returns true when it ejected the endpoint. `total` is how many
   * endpoints the destination has now, for maxEjectionPercent.
   */
  record(uid: string, outcome: AttemptOutcome, now: number, total: number): boolean {
    const r = this.#record(uid, now);
    const status = 'status' in outcome ? outcome.status : 503;
    if (status < 500) {
      r.consecutive5xx = 0;
      r.consecutiveGateway = 0;
      return false;
    }
    r.consecutive5xx++;
    if ('failed' in outcome || status === 502 || status === 503 || status === 504) r.consecutiveGateway++;
    else r.consecutiveGateway = 0;
    if (r.ejectedUntil > now) return false;
    const c = this.#cfg;
    const tripped = (c.consecutive5xxErrors > 0 && r.consecutive5xx >= c.consecutive5xxErrors)
      || (c.consecutiveGatewayErrors > 0 && r.consecutiveGateway >= c.consecutiveGatewayErrors);
    if (!tripped) return false;
    // Envoy ejects at least one endpoint whatever the percentage says.
    const allowed = Math.max(1, Math.floor((total * c.maxEjectionPercent) / 100));
    if (c.maxEjectionPercent <= 0 || this.ejectedCount(now) >= allowed) return false;
    r.multiplier++;
    r.ejectedUntil = now + c.baseEjectionTime * r.multiplier;
    r.consecutive5xx = 0;
    r.consecutiveGateway = 0;
    return true;
  }

  isEjected(uid: string, now: number): boolean {
    const r = this.#endpoints.get(uid);
    if (r === undefined) return false;
    this.#age(r, now);
    return r.ejectedUntil > now;
  }

  ejectedCount(now: number): number {
    return this.ejected(now).length;
  }

  ejected(now: number): string[] {
    return [...this.#endpoints.keys()].filter((uid) => this.isEjected(uid, now));
  }

  /** Drops endpoints that left the destination, so state stays as large as the config. */
  retain(uids: ReadonlySet<string>): void {
    for (const uid of this.#endpoints.keys()) if (!uids.has(uid)) this.#endpoints.delete(uid);
  }

  #record(uid: string, now: number): EndpointRecord {
    let r = this.#endpoints.get(uid);
    if (r === undefined) this.#endpoints.set(uid, (r = { consecutive5xx: 0, consecutiveGateway: 0, multiplier: 0, ejectedUntil: 0, since: now }));
    this.#age(r, now);
    return r;
  }

  /** Lowers the ejection multiplier by one per whole interval spent in since it returned. */
  #age(r: EndpointRecord, now: number): void {
    if (r.ejectedUntil > now || r.multiplier === 0) return;
    const start = Math.max(r.since, r.ejectedUntil);
    const steps = this.#cfg.interval > 0 ? Math.floor((now - start) / this.#cfg.interval) : 0;
    if (steps <= 0) return;
    r.multiplier = Math.max(0, r.multiplier - steps);
    r.since = start + steps * this.#cfg.interval;
  }
}
