// What to do with capture ledger records no pod of this ztunnel stands behind any more: pure,
// so the rules are table-tested. A record is swept (its capture removed, then forgotten) only
// when its pod is neither wanted (config or node record) nor served, and its path still names
// the namespace it was captured in and no served pod uses that namespace. A record whose
// namespace is gone, or whose path names another namespace now, is only forgotten.
import type { CapturedRecord } from '#ztunnel/enroll/ledger.ts';

export interface SweepPlan {
  /** Remove capture in netnsPath, then drop the record. */
  sweep: CapturedRecord[];
  /** Drop the record only. */
  forget: CapturedRecord[];
}

export interface SweepInputs {
  records: readonly CapturedRecord[];
  /** Pods wanted or served now (enrolled, held, pending, waiting on a vanished namespace). */
  keep: ReadonlySet<string>;
  /** Namespace inodes of the pods served now. */
  inUse: ReadonlySet<number>;
  /** Inode each record's path names now (undefined: gone). */
  now: ReadonlyMap<string, number | undefined>;
}

export function planSweep(i: SweepInputs): SweepPlan {
  const plan: SweepPlan = { sweep: [], forget: [] };
  for (const r of i.records) {
    if (i.keep.has(r.uid)) continue;
    const now = i.now.get(r.netnsPath);
    if (now === undefined || r.netnsId === undefined || now !== r.netnsId || i.inUse.has(now)) plan.forget.push(r);
    else plan.sweep.push(r);
  }
  return plan;
}
