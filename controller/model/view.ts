// What one proxy receives out of the mesh model. A ztunnel routes outbound to anything,
// so it gets every workload and service, but only the policies that can apply to the pods
// it serves; a waypoint gets workloads and services (its L7 config comes separately).
// The decision itself lives in ViewIndex, which the push server also uses incrementally.
import type { Resource } from '#core/config/model.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { ViewIndex, inSharedView } from '#controller/model/view-index.ts';
import type { ViewClient } from '#controller/model/view-client.ts';

export type { ViewClient } from '#controller/model/view-client.ts';

export function viewFor(model: MeshModel, client: ViewClient): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const [key, r] of model.resources) if (inSharedView(r)) out.set(key, r);
  for (const [key, r] of new ViewIndex(model.resources).overlay(client).resources) out.set(key, r);
  return out;
}
