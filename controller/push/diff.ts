// What a client must receive to go from the view it holds to a new one. Pure: the push server
// calls it per client; interning (below) makes unchanged resources identical objects across
// model rebuilds, so most comparisons are one pointer check.
import type { Resource, ResourceRef } from '#core/config/model.ts';

export type View = ReadonlyMap<string, Resource>;

export interface ViewDiff {
  updated: Resource[];
  removed: ResourceRef[];
}

/** Structural equality of JSON data (objects, arrays, strings, numbers, booleans, null). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) {
    if (!Object.hasOwn(b, k) || !jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function sameResource(a: Resource, b: Resource): boolean {
  return a === b || (a.kind === b.kind && a.key === b.key && jsonEqual(a.value, b.value));
}

/** Resources new or changed in `next`, and references to those gone from it. */
export function diffViews(old: View | undefined, next: View): ViewDiff {
  const updated: Resource[] = [];
  const removed: ResourceRef[] = [];
  for (const [k, r] of next) {
    const before = old?.get(k);
    if (before === undefined || !sameResource(before, r)) updated.push(r);
  }
  if (old !== undefined) {
    for (const [k, r] of old) if (!next.has(k)) removed.push({ kind: r.kind, key: r.key });
  }
  return { updated, removed };
}

/**
 * Returns `next` with every resource equal to the one under the same key in `previous`
 * replaced by that earlier object, so diffs against views of the previous model compare by
 * identity. `next` itself is not modified.
 */
export function internResources(previous: View | undefined, next: View): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const [k, r] of next) {
    const before = previous?.get(k);
    out.set(k, before !== undefined && sameResource(before, r) ? before : r);
  }
  return out;
}
