// Open inbound connections with the facts their authorization was decided on, so a policy
// change can re-check them and close those no longer allowed.
import type { L4Connection } from '#ztunnel/rbac/authorize.ts';
import { authorize } from '#ztunnel/rbac/authorize.ts';
import type { StateView } from '#ztunnel/state/view.ts';

export interface TrackedConnection {
  conn: L4Connection;
  /** Destination workload uid. */
  workloadUid: string;
  close(reason: string): void;
}

export class InboundConnections {
  readonly #open = new Set<TrackedConnection>();

  get size(): number { return this.#open.size; }

  /** Tracks until the returned function is called. */
  add(c: TrackedConnection): () => void {
    this.#open.add(c);
    return () => this.#open.delete(c);
  }

  /** Re-runs authorization for every open connection; closes the denied ones and returns how many. */
  recheck(state: StateView): number {
    let closed = 0;
    for (const c of [...this.#open]) {
      const w = state.workload(c.workloadUid);
      if (w === undefined) continue;
      const d = authorize(c.conn, state.policiesFor(w));
      if (d.allow) continue;
      this.#open.delete(c);
      closed++;
      c.close(d.reason);
    }
    return closed;
  }

  closeAll(reason: string): void {
    for (const c of [...this.#open]) c.close(reason);
    this.#open.clear();
  }
}
