// The event history of the in-repo API server: a bounded log of changes by resourceVersion,
// which decides whether a watch starting at a given resourceVersion can be served from it or
// must be told "410 Gone" (its starting point was compacted away), as etcd and the watch
// cache decide for the real API server.

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface HistoryEvent {
  resourceVersion: number;
  type: WatchEventType;
  /** The resource's plural, e.g. `pods`. */
  resource: string;
  /** '' for cluster-scoped objects. */
  namespace: string;
  object: Readonly<Record<string, unknown>>;
}

export type HistoryRead =
  | { ok: true; events: HistoryEvent[] }
  | { ok: false; oldest: number };

export class EventHistory {
  readonly #limit: number;
  #events: HistoryEvent[] = [];
  /** Changes at or below this version are gone; a watch must start at or after it. */
  #compactedAt = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`history limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  append(event: HistoryEvent): void {
    this.#events.push(event);
    if (this.#events.length > this.#limit) {
      const dropped = this.#events.splice(0, this.#events.length - this.#limit);
      const last = dropped[dropped.length - 1];
      if (last !== undefined) this.#compactedAt = Math.max(this.#compactedAt, last.resourceVersion);
    }
  }

  /** Forgets every event up to `upTo` (the current version): older watches get 410. */
  compact(upTo: number): void {
    this.#events = this.#events.filter((e) => e.resourceVersion > upTo);
    this.#compactedAt = Math.max(this.#compactedAt, upTo);
  }

  /**
   * The events after `since` for one resource (and namespace, when given), or "gone" when
   * some change after `since` may have been dropped.
   */
  since(since: number, resource: string, namespace?: string): HistoryRead {
    if (since < this.#compactedAt) return { ok: false, oldest: this.#compactedAt };
    return {
      ok: true,
      events: this.#events.filter((e) =>
        e.resourceVersion > since && e.resource === resource && (namespace === undefined || e.namespace === namespace)),
    };
  }

  size(): number {
    return this.#events.length;
  }
}
