// What one proxy receives out of the mesh model.
import type { Resource } from '#core/config/model.ts';
import type { MeshModel } from '#controller/model/types.ts';

export type ViewClient = { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; identity: string };

export function viewFor(model: MeshModel, _client: ViewClient): Map<string, Resource> {
  return new Map(model.resources);
}
