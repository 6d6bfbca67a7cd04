// The leader election decision, apart from its I/O: given the Lease as last read and when this
// replica saw it change, what to do now. Expiry is judged on this replica's own clock from the
// moment it observed the current holder's latest renewal, never from the renewTime written by
// another machine, so clock skew between replicas cannot shorten a lease (client-go's rule).

/** The parts of a coordination.k8s.io/v1 Lease that election reads. */
export interface LeaseRecord {
  /** '' when released. */
  holder: string;
  /** spec.renewTime as written (compared for change only). */
  renewTime: string;
  transitions: number;
}

export type LeaseDecision =
  | { action: 'create' }
  | { action: 'renew' }
  | { action: 'acquire'; reason: 'released' | 'expired'; previous: string }
  | { action: 'wait'; holder: string; expiresInMs: number };

export interface LeaseObservation {
  record: LeaseRecord | undefined;
  /** This replica's clock when it first saw `record` as it is (holder and renewTime). */
  observedAtMs: number;
  nowMs: number;
  identity: string;
  leaseDurationMs: number;
}

export function decideLease(o: LeaseObservation): LeaseDecision {
  if (o.record === undefined) return { action: 'create' };
  if (o.record.holder === o.identity) return { action: 'renew' };
  if (o.record.holder === '') return { action: 'acquire', reason: 'released', previous: '' };
  const expiresInMs = o.observedAtMs + o.leaseDurationMs - o.nowMs;
  if (expiresInMs <= 0) return { action: 'acquire', reason: 'expired', previous: o.record.holder };
  return { action: 'wait', holder: o.record.holder, expiresInMs };
}

export interface LeaseTimings {
  /** How long a lease holds without renewal, as every replica judges it. */
  leaseDurationMs: number;
  /** The leader steps down when it has not renewed for this long. */
  renewDeadlineMs: number;
  /** Between attempts to acquire or renew. */
  retryPeriodMs: number;
}

/**
 * Timings from the lease duration, in client-go's proportions (15 s / 10 s / 2 s there). The
 * leader gives up before anyone else may take over: renewDeadline + retryPeriod < leaseDuration.
 * A follower takes over at most leaseDuration + retryPeriod after the leader's last renewal.
 */
export function leaseTimings(leaseDurationMs: number): LeaseTimings {
  const retryPeriodMs = Math.max(50, Math.round(leaseDurationMs / 5));
  return { leaseDurationMs, renewDeadlineMs: Math.round(leaseDurationMs * 0.7), retryPeriodMs };
}
