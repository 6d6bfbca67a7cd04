// The cluster's objects as the controller reads them, for offline commands (`weft authz
// check`, `weft config`): a folder of manifests through the controller's own LocalSource, or a
// Kubernetes API through its own KubernetesSource (informers listed once, then stopped), and
// the controller's model built from them. A waypoint Gateway the controller has not deployed
// yet (no address) is given a reserved stand-in address, so what would go through it is judged
// as it will be once deployed (analyze does the same).
import type { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '#core/log.ts';
import { buildModel } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { defaultWaypointAddress } from '#controller/model/waypoints.ts';
import type { WaypointAddressLookup } from '#controller/model/waypoints.ts';
import { KubernetesSource } from '#controller/source/kubernetes.ts';
import { LocalSource } from '#controller/source/local.ts';
import type { ClusterObjects, ClusterSource } from '#controller/source/types.ts';

export const MODEL_OPTIONS = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' } as const;

/** An address no real waypoint has (240.0.0.0/4 is reserved), standing in for one not deployed yet. */
export const STAND_IN_ADDRESS = '240.0.0.1';

export type StateTarget = { manifests: readonly string[] } | { kubeConfig: KubeConfig };

export async function readClusterObjects(target: StateTarget): Promise<ClusterObjects> {
  const source: ClusterSource = 'manifests' in target
    ? new LocalSource({ dirs: [...target.manifests], logger: silentLogger })
    : new KubernetesSource({ kubeConfig: target.kubeConfig, logger: silentLogger, syncTimeoutMs: 20_000 });
  await source.start();
  try {
    return source.current();
  } finally {
    await source.stop();
  }
}

/** Where a waypoint is: its deployed address, or the stand-in (its key then added to `assumed`). */
export function standInLookup(assumed: Set<string>): WaypointAddressLookup {
  return (gw, objs) => {
    const found = defaultWaypointAddress(gw, objs);
    if (found !== undefined) return found;
    assumed.add(`${gw.metadata.namespace}/${gw.metadata.name}`);
    return STAND_IN_ADDRESS;
  };
}

/** The controller's model of these objects, waypoints not deployed yet at the stand-in address. */
export function modelOf(objects: ClusterObjects, assumed: Set<string> = new Set()): MeshModel {
  return buildModel(objects, MODEL_OPTIONS, { waypointAddress: standInLookup(assumed) });
}
