// A client's view as the push server holds it: the generation's shared part (by reference,
// one map for every client) plus the client's own resources, and the pure diff between two
// such views. With a change log the shared part is compared only over the keys that changed
// since the older view's generation: one pod change costs each client O(1), not O(mesh).
import type { Resource, ResourceRef } from '#core/config/model.ts';
import { sameResource } from '#controller/model/generation.ts';
import { inSharedView } from '#controller/model/view-index.ts';
import { diffViews } from './diff.ts';
import type { View, ViewDiff } from './diff.ts';

export class ClientView {
  readonly generation: number;
  /** The generation's resources, of which the view holds those inSharedView accepts. */
  readonly shared: View | undefined;
  readonly sharedSize: number;
  /** Resources particular to this client (for a computed view: all of them). */
  readonly own: View;
  #signature: string | undefined;

  constructor(generation: number, shared: View | undefined, sharedSize: number, own: View, signature?: string) {
    this.generation = generation;
    this.shared = shared;
    this.sharedSize = shared === undefined ? 0 : sharedSize;
    this.own = own;
    this.#signature = signature;
  }

  /** A view computed whole (by a custom viewFor): everything is the client's own. */
  static computed(generation: number, view: View): ClientView {
    return new ClientView(generation, undefined, 0, view);
  }

  get size(): number {
    return this.sharedSize + this.own.size;
  }

  /** Names the view's key set within its generation: equal signatures, equal content. */
  get signature(): string {
    this.#signature ??= [...this.own.keys()].join('\n');
    return this.#signature;
  }

  *resources(): IterableIterator<Resource> {
    if (this.shared !== undefined) for (const r of this.shared.values()) if (inSharedView(r)) yield r;
    yield* this.own.values();
  }
}

function ref(r: Resource): ResourceRef {
  return { kind: r.kind, key: r.key };
}

function sharedEntry(v: View | undefined, key: string): Resource | undefined {
  const r = v?.get(key);
  return r !== undefined && inSharedView(r) ? r : undefined;
}

/**
 * What a client holding `from` must receive to hold `to`. `changedSince` gives the model keys
 * changed after `from`'s generation (undefined: unknown, compare everything).
 */
export function diffClientViews(from: ClientView, to: ClientView, changedSince: (generation: number) => Iterable<string> | undefined): ViewDiff {
  const updated: Resource[] = [];
  const removed: ResourceRef[] = [];
  if (from.shared !== to.shared) {
    const keys = from.shared === undefined || to.shared === undefined ? undefined : changedSince(from.generation);
    if (keys !== undefined) {
      for (const k of keys) {
        const now = sharedEntry(to.shared, k);
        const before = sharedEntry(from.shared, k);
        if (now !== undefined) {
          if (before === undefined || !sameResource(before, now)) updated.push(now);
        } else if (before !== undefined) {
          removed.push(ref(before));
        }
      }
    } else {
      for (const [k, now] of to.shared ?? []) {
        if (!inSharedView(now)) continue;
        const before = sharedEntry(from.shared, k);
        if (before === undefined || !sameResource(before, now)) updated.push(now);
      }
      for (const [k, before] of from.shared ?? []) {
        if (inSharedView(before) && sharedEntry(to.shared, k) === undefined) removed.push(ref(before));
      }
    }
  }
  if (from.own !== to.own) {
    const d = diffViews(from.own, to.own);
    updated.push(...d.updated);
    removed.push(...d.removed);
  }
  return { updated, removed };
}
