// Waypoints: which Gateways are waypoints, where they are reached, and which waypoint (if
// any) a Service or Pod sends its traffic through, following Istio's labels.
import type { GatewayAddress } from '#core/config/model.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { ClusterObjects, Gateway, ObjectMeta } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { HBONE_PORT, Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';

export const WaypointFor = { service: 'service', workload: 'workload', all: 'all', none: 'none' } as const;
export type WaypointFor = (typeof WaypointFor)[keyof typeof WaypointFor];

export interface Waypoint {
  namespace: string;
  name: string;
  waypointFor: WaypointFor;
  identity: string;
  /** Absent until the waypoint has an address (not deployed yet). */
  address?: GatewayAddress;
}

/**
 * Where a waypoint Gateway is reached. The default reads the Gateway's status, then the
 * Service named after it; local mode adds its own deployments by wrapping this.
 */
export type WaypointAddressLookup = (gateway: Gateway, objects: ClusterObjects) => string | undefined;

export const defaultWaypointAddress: WaypointAddressLookup = (gateway, objects) => {
  const fromStatus = gateway.status.addresses.find((a) => a.type === undefined || a.type === 'IPAddress');
  if (fromStatus !== undefined && fromStatus.value !== '') return fromStatus.value;
  const svc = objects.services.get(`${gateway.metadata.namespace}/${gateway.metadata.name}`);
  return svc?.spec.clusterIPs.find((ip) => ip !== '' && ip !== 'None');
};

export function isWaypointGateway(gateway: Gateway): boolean {
  return gateway.spec.gatewayClassName === WAYPOINT_CLASS;
}

export function indexWaypoints(
  objects: ClusterObjects,
  trustDomain: string,
  lookup: WaypointAddressLookup = defaultWaypointAddress,
): { waypoints: Map<string, Waypoint>; conditions: ResourceCondition[] } {
  const waypoints = new Map<string, Waypoint>();
  const conditions: ResourceCondition[] = [];
  for (const [key, gw] of objects.gateways) {
    if (!isWaypointGateway(gw)) continue;
    const { namespace, name } = gw.metadata;
    const ref = { kind: 'Gateway', namespace, name };
    const forRaw = gw.metadata.labels[Labels.waypointFor] ?? 'service';
    const waypointFor = (Object.values(WaypointFor) as string[]).includes(forRaw) ? (forRaw as WaypointFor) : undefined;
    if (waypointFor === undefined) {
      conditions.push({ ...ref, type: 'Accepted', status: 'False', reason: 'InvalidWaypointFor', message: `label ${Labels.waypointFor}=${forRaw} is not one of service, workload, all, none` });
      continue;
    }
    const hbone = gw.spec.listeners.find((l) => l.protocol === 'HBONE');
    const identity = spiffeIdFor(namespace, name, trustDomain);
    const address = lookup(gw, objects);
    const wp: Waypoint = { namespace, name, waypointFor, identity };
    if (address !== undefined) wp.address = { address, hbonePort: hbone?.port ?? HBONE_PORT, identity };
    waypoints.set(key, wp);
    conditions.push(
      address === undefined
        ? { ...ref, type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message: 'waypoint has no address yet (no status address and no Service of the same name)' }
        : { ...ref, type: 'Programmed', status: 'True', reason: 'Programmed', message: `waypoint reachable at ${address}` },
    );
  }
  return { waypoints, conditions };
}

export interface WaypointTarget {
  /** What asks: a Service uses service waypoints, a Pod workload waypoints. */
  kind: 'Service' | 'Pod';
  metadata: ObjectMeta;
}

export interface WaypointResolution {
  waypoint?: GatewayAddress;
  condition?: ResourceCondition;
}

/** The object's own label wins over its namespace's; `none` opts out. */
export function resolveWaypoint(
  target: WaypointTarget,
  namespaceLabels: Readonly<Record<string, string>>,
  waypoints: ReadonlyMap<string, Waypoint>,
): WaypointResolution {
  const own = target.metadata.labels;
  // A waypoint's own pods and service never loop through a waypoint.
  if (own[Labels.gatewayName] !== undefined) return {};
  const explicit = own[Labels.useWaypoint] !== undefined;
  const labels = explicit ? own : namespaceLabels;
  const name = labels[Labels.useWaypoint];
  if (name === undefined || name === '' || name === 'none') return {};
  const wpNamespace = labels[Labels.useWaypointNamespace] ?? target.metadata.namespace;
  const ref = explicit
    ? { kind: target.kind, namespace: target.metadata.namespace, name: target.metadata.name }
    : { kind: 'Namespace', namespace: '', name: target.metadata.namespace };
  const bound = (status: 'True' | 'False', reason: string, message: string): ResourceCondition => ({ ...ref, type: 'WaypointBound', status, reason, message });
  const wp = waypoints.get(`${wpNamespace}/${name}`);
  if (wp === undefined) return { condition: bound('False', 'WaypointNotFound', `waypoint ${wpNamespace}/${name} does not exist (no Gateway of class ${WAYPOINT_CLASS})`) };
  const wanted = target.kind === 'Service' ? 'service' : 'workload';
  if (wp.waypointFor !== wanted && wp.waypointFor !== 'all') {
    // A namespace label serves both kinds; only a label on the object itself is a mistake.
    return explicit ? { condition: bound('False', 'WaypointForMismatch', `waypoint ${wpNamespace}/${name} is for ${wp.waypointFor}, not ${wanted} traffic`) } : {};
  }
  if (wp.address === undefined) return { condition: bound('False', 'WaypointNotReady', `waypoint ${wpNamespace}/${name} has no address yet`) };
  return explicit ? { waypoint: wp.address, condition: bound('True', 'WaypointBound', `bound to waypoint ${wpNamespace}/${name}`) } : { waypoint: wp.address };
}
