// How many upstream connections one destination may hold open at once: DestinationRule
// `connectionPool.tcp.maxConnections`, counted per waypoint replica as Envoy counts it per
// cluster. A connection that finds the budget spent waits, first come first served, for one
// to close; the owner is told (`onWait`) so it can close an idle one that holds a slot.
// Waiters are bounded by their callers: an HTTP/1.1 pool opens at most maxConnections and an
// HTTP/2 pool one session at a time, so requests beyond wait in the pools, not here.

export type Release = () => void;

export class ConnectionBudget {
  readonly max: number;
  readonly #onWait: () => void;
  readonly #waiting: ((release: Release) => void)[] = [];
  #open = 0;

  constructor(max: number, onWait: () => void = () => undefined) {
    this.max = max;
    this.#onWait = onWait;
  }

  /** Connections holding a slot now. */
  get open(): number { return this.#open; }
  /** Connections waiting for a slot. */
  get waiting(): number { return this.#waiting.length; }

  /** A slot for one connection; the release it resolves with frees it, once. */
  acquire(): Promise<Release> {
    if (this.#open < this.max) {
      this.#open++;
      return Promise.resolve(this.#release());
    }
    const slot = new Promise<Release>((resolve) => this.#waiting.push(resolve));
    this.#onWait();
    return slot;
  }

  #release(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the first waiter: nobody arriving in between takes it.
      if (next !== undefined) next(this.#release());
      else this.#open--;
    };
  }
}
