// What every pod's Workload depends on besides the pod itself, and whether it changed since
// the previous build. When it did not (the common case: one pod changed), an unchanged pod's
// outcome is taken whole from the previous build without looking at services or policies.
import type { ClusterObjects, Namespace } from '#controller/source/types.ts';
import type { ModelOptions } from '#controller/model/types.ts';
import type { Waypoint } from '#controller/model/waypoints.ts';
import { sameAddress, sameItems } from '#controller/model/workload.ts';

export interface BuildContext {
  options: ModelOptions;
  /** Compared by labels: a source may remake an unchanged (implicit) Namespace object. */
  namespaces: ReadonlyMap<string, Namespace>;
  /** The rest compared entry by entry, by identity. */
  services: ClusterObjects['services'];
  endpointSlices: ClusterObjects['endpointSlices'];
  nodes: ClusterObjects['nodes'];
  authorizationPolicies: ClusterObjects['authorizationPolicies'];
  telemetries: ClusterObjects['telemetries'];
  /** Compared by value: they are made anew every build. */
  waypoints: ReadonlyMap<string, Waypoint>;
  /** Workload uid → PeerAuthentication policies it lists; by value. */
  attach: ReadonlyMap<string, readonly string[]>;
}

/** A copy to compare the next build's with: a source may update its maps in place. */
export function snapshotContext(c: BuildContext): BuildContext {
  return {
    options: { ...c.options },
    namespaces: new Map(c.namespaces), services: new Map(c.services), endpointSlices: new Map(c.endpointSlices), nodes: new Map(c.nodes),
    authorizationPolicies: new Map(c.authorizationPolicies), telemetries: new Map(c.telemetries), waypoints: c.waypoints, attach: c.attach,
  };
}

export function sameContext(a: BuildContext, b: BuildContext): boolean {
  return a.options.trustDomain === b.options.trustDomain && a.options.clusterId === b.options.clusterId && a.options.rootNamespace === b.options.rootNamespace &&
    a.options.mesh === b.options.mesh &&
    sameEntries(a.namespaces, b.namespaces, (x, y) => sameLabels(x.metadata.labels, y.metadata.labels)) &&
    sameEntries(a.services, b.services, identical) &&
    sameEntries(a.endpointSlices, b.endpointSlices, identical) &&
    sameEntries(a.nodes, b.nodes, identical) &&
    sameEntries(a.authorizationPolicies, b.authorizationPolicies, identical) &&
    sameEntries(a.telemetries, b.telemetries, identical) &&
    sameEntries(a.waypoints, b.waypoints, sameWaypoint) &&
    sameEntries(a.attach, b.attach, (x, y) => sameItems(x, y));
}

function identical<T>(a: T, b: T): boolean {
  return a === b;
}

/** The same keys with equal values (in any order). The same map may have changed in place: no shortcut for it. */
export function sameEntries<T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>, same: (x: T, y: T) => boolean): boolean {
  if (a.size !== b.size) return false;
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y === undefined || !same(x, y)) return false;
  }
  return true;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if (a[k] !== b[k]) return false;
  return true;
}

function sameWaypoint(a: Waypoint, b: Waypoint): boolean {
  return a.namespace === b.namespace && a.name === b.name && a.waypointFor === b.waypointFor && a.identity === b.identity && sameAddress(a.address, b.address);
}
