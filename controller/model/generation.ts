// What changed between two model generations, computed once per generation (not once per
// client): the keys added or changed and the keys gone. The new generation's resources come
// back interned: a resource equal to the previous generation's keeps that earlier object, so
// everything downstream (views, diffs, encoded JSON) compares unchanged resources by identity.
import type { Resource } from '#core/config/model.ts';
import { jsonEqual } from '#controller/model/json-equal.ts';

export interface GenerationChange {
  /** The new generation's resources, unchanged ones replaced by the earlier objects. */
  resources: Map<string, Resource>;
  /** Model keys new or changed in this generation. */
  changed: string[];
  /** Model keys present before and gone now. */
  removed: string[];
}

/** Whether two resources carry the same content (same kind, key and value). */
export function sameResource(a: Resource, b: Resource): boolean {
  return a === b || (a.kind === b.kind && a.key === b.key && jsonEqual(a.value, b.value));
}

export function diffGenerations(previous: ReadonlyMap<string, Resource> | undefined, next: ReadonlyMap<string, Resource>): GenerationChange {
  const resources = new Map<string, Resource>();
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [k, r] of next) {
    const before = previous?.get(k);
    if (before !== undefined && sameResource(before, r)) {
      resources.set(k, before);
    } else {
      resources.set(k, r);
      changed.push(k);
    }
  }
  if (previous !== undefined) {
    for (const k of previous.keys()) if (!next.has(k)) removed.push(k);
  }
  return { resources, changed, removed };
}
