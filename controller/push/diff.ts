// What a client must receive to go from the view it holds to a new one. Pure: the push server
// calls it per client; interning (below) makes unchanged resources identical objects across
// model rebuilds, so most comparisons are one pointer check.
import type { Resource, ResourceRef } from '#core/config/model.ts';
import { diffGenerations, sameResource } from '#controller/model/generation.ts';

export { jsonEqual } from '#controller/model/json-equal.ts';

export type View = ReadonlyMap<string, Resource>;

export interface ViewDiff {
  updated: Resource[];
  removed: ResourceRef[];
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
  return diffGenerations(previous, next).resources;
}
