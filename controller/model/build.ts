// Builds the mesh model from cluster objects: a pure function, rebuilt on every change.
import type { ClusterObjects } from '#controller/source/types.ts';
import type { MeshModel, ModelOptions } from '#controller/model/types.ts';

export function buildModel(_objects: ClusterObjects, _options: ModelOptions): MeshModel {
  return { resources: new Map(), conditions: [], identitiesByNode: new Map(), waypointIdentities: new Set() };
}
