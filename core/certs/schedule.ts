// When to renew a certificate and how long to wait after a failed fetch: pure decisions,
// so the timings the mesh relies on are table-tested.

/** The longest delay setTimeout honours (about 24.8 days); later renewals fire early instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Delay until renewal: half of the remaining lifetime, ±10 % jitter so a fleet of proxies
 * started together does not renew together. Measured from receipt (not notBefore) because
 * the CA back-dates notBefore, which would make a short-lived certificate look half spent.
 */
export function renewalDelayMs(p: { now: number; notBefore: number; notAfter: number; random: number; minMs?: number }): number {
  const start = Math.max(p.now, p.notBefore);
  const lifetime = Math.max(0, p.notAfter - start);
  const fraction = 0.5 * (0.9 + 0.2 * clamp01(p.random));
  return Math.min(MAX_TIMER_MS, Math.max(p.minMs ?? 0, Math.round(start + lifetime * fraction - p.now)));
}

/** Exponential backoff for the n-th consecutive failure (n ≥ 1), capped, with ±10 % jitter. */
export function backoffDelayMs(failures: number, p: { initialMs: number; maxMs: number; random: number }): number {
  const base = Math.min(p.maxMs, p.initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(base * (0.9 + 0.2 * clamp01(p.random)));
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
