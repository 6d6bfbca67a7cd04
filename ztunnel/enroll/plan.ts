// Which pods this ztunnel should capture, and what to change to get there: pure functions
// over the config, table-tested apart from namespaces and iptables.
import net from 'node:net';
import type { Workload } from '#core/config/model.ts';
import { workloadIdentity } from '#ztunnel/proxy/route.ts';

export interface EnrollTarget {
  uid: string;
  ip: string;
  identity: string;
}

/** Workloads on `node` that speak HBONE and have an IPv4 address. */
export function enrollmentTargets(workloads: readonly Workload[], node: string): Map<string, EnrollTarget> {
  const out = new Map<string, EnrollTarget>();
  for (const w of workloads) {
    if (w.node !== node || w.tunnelProtocol !== 'HBONE') continue;
    const ip = w.addresses.find((a) => net.isIPv4(a));
    if (ip === undefined) continue;
    out.set(w.uid, { uid: w.uid, ip, identity: workloadIdentity(w) });
  }
  return out;
}

export interface EnrollmentPlan {
  enroll: EnrollTarget[];
  unenroll: string[];
}

/** A pod whose address or identity changed is re-enrolled (its listeners and certificate differ). */
export function planEnrollment(current: ReadonlyMap<string, EnrollTarget>, desired: ReadonlyMap<string, EnrollTarget>): EnrollmentPlan {
  const enroll: EnrollTarget[] = [];
  const unenroll: string[] = [];
  for (const [uid, have] of current) {
    const want = desired.get(uid);
    if (want === undefined || want.ip !== have.ip || want.identity !== have.identity) unenroll.push(uid);
  }
  for (const [uid, want] of desired) {
    const have = current.get(uid);
    if (have === undefined || have.ip !== want.ip || have.identity !== want.identity) enroll.push(want);
  }
  return { enroll, unenroll };
}

/**
 * Whether an enrolled pod's namespace is gone: its path no longer names the namespace it
 * named at enrollment (deleted, or a new namespace under the same name). Unknown at
 * enrollment means it cannot be told, so never.
 */
export function netnsVanished(atEnrollment: number | undefined, now: number | undefined): boolean {
  return atEnrollment !== undefined && now !== atEnrollment;
}

/** Same address and identity: the config has not moved on from a target. */
export function sameTarget(a: EnrollTarget, b: EnrollTarget): boolean {
  return a.uid === b.uid && a.ip === b.ip && a.identity === b.identity;
}
