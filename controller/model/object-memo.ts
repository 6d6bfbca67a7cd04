// What the model builder made from each input object in earlier builds, by the object's key.
// Sources keep an unchanged object's identity from one snapshot to the next (informer caches,
// local files), so a rebuild after one change finds every other result here and returns the
// very same resource objects: the generation diff then settles them by pointer checks, and
// the rebuild allocates little. An entry is reused only for the same object with the same
// inputs, so a stale entry is never wrong, only missed.
// One map updated in place (not a WeakMap, not a new map per build): V8 walks large WeakMaps
// on every young-generation collection, and refilling a map of 10,000 entries per build is
// garbage of its own.

interface Entry<K, I, R> {
  object: K;
  inputs: I;
  result: R;
  /** The build that last used it. */
  build: number;
}

export class ObjectMemo<K extends object, I, R, A = undefined> {
  readonly #same: (a: I, b: I) => boolean;
  readonly #make: (object: K, inputs: I, arg: A, previous: R | undefined) => R;
  readonly #entries = new Map<string, Entry<K, I, R>>();
  #build = 0;

  /**
   * `make` takes what it needs as arguments, so a lookup allocates no closure: the inputs
   * (kept with the entry) and `arg`, what it works from (not kept: it may be large). It also
   * gets the result last made under the same key (for another object or other inputs), to reuse parts of it.
   */
  constructor(same: (a: I, b: I) => boolean, make: (object: K, inputs: I, arg: A, previous: R | undefined) => R) {
    this.#same = same;
    this.#make = make;
  }

  /** Starts a build. */
  begin(): void {
    this.#build++;
  }

  /** What an earlier build made from `object` with the same inputs, else a new result. */
  get(key: string, object: K, inputs: I, arg: A): R {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      const result = this.#make(object, inputs, arg, undefined);
      this.#entries.set(key, { object, inputs, result, build: this.#build });
      return result;
    }
    entry.build = this.#build;
    if (entry.object !== object || !this.#same(entry.inputs, inputs)) {
      entry.result = this.#make(object, inputs, arg, entry.result);
      entry.object = object;
      entry.inputs = inputs;
    }
    return entry.result;
  }

  /** Ends a build: entries it did not ask for (objects gone) are dropped. */
  end(): void {
    for (const [key, entry] of this.#entries) if (entry.build !== this.#build) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
