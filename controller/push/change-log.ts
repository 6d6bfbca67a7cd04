// The keys each recent model generation changed, so a client a few generations behind gets
// its delta from the union of those keys instead of a comparison of its whole view.
import type { GenerationChange } from '#controller/model/generation.ts';

export class ChangeLog {
  readonly #limit: number;
  /** Oldest first: the model keys generation `g` added, changed or removed. */
  readonly #entries: { generation: number; keys: readonly string[] }[] = [];
  /** Unions already computed for the newest generation, by starting generation. */
  #unions = new Map<number, ReadonlySet<string>>();

  /** Keeps the last `limit` generations. */
  constructor(limit = 64) {
    this.#limit = limit;
  }

  /** Records what `generation` changed relative to the one before it. */
  record(generation: number, change: Pick<GenerationChange, 'changed' | 'removed'>): void {
    this.#entries.push({ generation, keys: change.removed.length === 0 ? change.changed : [...change.changed, ...change.removed] });
    if (this.#entries.length > this.#limit) this.#entries.shift();
    this.#unions = new Map();
  }

  /** The newest recorded generation, or undefined before any. */
  latest(): number | undefined {
    return this.#entries.at(-1)?.generation;
  }

  /**
   * Every key changed after `generation` up to the newest, or undefined when the log no
   * longer reaches back that far (the caller compares whole views instead). The same set
   * object is returned to every caller asking for the same generation.
   */
  since(generation: number): ReadonlySet<string> | undefined {
    const cached = this.#unions.get(generation);
    if (cached !== undefined) return cached;
    const first = this.#entries[0];
    const latest = this.latest();
    if (first === undefined || latest === undefined || generation > latest || generation < first.generation - 1) return undefined;
    const keys = new Set<string>();
    for (const e of this.#entries) if (e.generation > generation) for (const k of e.keys) keys.add(k);
    this.#unions.set(generation, keys);
    return keys;
  }
}
