// The outbound decision: where a connection captured from a pod goes, as a pure function of
// the config and the original destination. The socket code in outbound.ts carries it out.
import { formatSpiffeId } from '#core/identity/spiffe.ts';
import { Ports } from '#core/ports.ts';
import { resourceKey, type GatewayAddress, type Service, type Workload } from '#core/config/model.ts';
import type { EndpointPicker } from '#ztunnel/proxy/pick.ts';
import type { StateView } from '#ztunnel/state/view.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface Endpoint {
  workload: Workload;
  address: string;
  targetPort: number;
}

export type OutboundRoute =
  | {
    kind: 'hbone';
    endpoint: Endpoint;
    /** Where the tunnel goes: the destination pod's HBONE listener. */
    hboneAddress: HostPort;
    destinationIdentity: string;
    /** `:authority` of the CONNECT: podIP:targetPort. */
    authority: string;
    service?: Service;
  }
  | {
    kind: 'waypoint';
    waypoint: GatewayAddress;
    hboneAddress: HostPort;
    destinationIdentity: string;
    /** The original destination (VIP:port or podIP:port): the waypoint routes on it. */
    authority: string;
    service?: Service;
    /** Set when a pod IP was addressed directly. */
    workload?: Workload;
  }
  | { kind: 'direct-tcp'; endpoint: Endpoint; service?: Service; reason: string }
  | { kind: 'passthrough'; target: HostPort; reason: string }
  | { kind: 'unreachable'; service: Service; reason: string };

export interface OutboundRequest {
  sourceWorkload: Workload;
  originalDst: HostPort;
}

export type RouteState = Pick<StateView, 'serviceByVip' | 'workloadByAddress' | 'endpointsOf'>;

export function workloadIdentity(w: Pick<Workload, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return formatSpiffeId({ trustDomain: w.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount });
}

function isWaypointItself(source: Workload, waypoint: GatewayAddress): boolean {
  return source.addresses.includes(waypoint.address);
}

function viaWaypoint(waypoint: GatewayAddress, dst: HostPort, extra: { service?: Service; workload?: Workload }): OutboundRoute {
  return {
    kind: 'waypoint',
    waypoint,
    hboneAddress: { host: waypoint.address, port: waypoint.hbonePort },
    destinationIdentity: waypoint.identity,
    authority: `${dst.host}:${dst.port}`,
    ...extra,
  };
}

function toWorkload(w: Workload, address: string, targetPort: number, service: Service | undefined): OutboundRoute {
  const endpoint: Endpoint = { workload: w, address, targetPort };
  const svc = service === undefined ? {} : { service };
  if (w.tunnelProtocol !== 'HBONE') {
    return { kind: 'direct-tcp', endpoint, ...svc, reason: `workload ${w.namespace}/${w.name} is not in the mesh` };
  }
  return {
    kind: 'hbone',
    endpoint,
    hboneAddress: { host: address, port: Ports.hbone },
    destinationIdentity: workloadIdentity(w),
    authority: `${address}:${targetPort}`,
    ...svc,
  };
}

export function routeOutbound(state: RouteState, req: OutboundRequest, pick: EndpointPicker): OutboundRoute {
  const dst = req.originalDst;
  const service = state.serviceByVip(dst.host);
  if (service !== undefined) {
    if (service.waypoint !== undefined && !isWaypointItself(req.sourceWorkload, service.waypoint)) {
      return viaWaypoint(service.waypoint, dst, { service });
    }
    const key = resourceKey.service(service);
    const healthy = state.endpointsOf(key).filter((w) => w.status === 'HEALTHY' && w.addresses.length > 0);
    const chosen = pick(healthy, service);
    const address = chosen?.addresses[0];
    if (chosen === undefined || address === undefined) {
      return { kind: 'unreachable', service, reason: `service ${key} has no healthy endpoint` };
    }
    // The endpoint's own port map wins (named target ports differ per pod); else the service's; else the same port.
    const targetPort = chosen.services[key]?.[String(dst.port)]
      ?? service.ports.find((p) => p.servicePort === dst.port)?.targetPort
      ?? dst.port;
    return toWorkload(chosen, address, targetPort, service);
  }

  const workload = state.workloadByAddress(dst.host);
  if (workload !== undefined) {
    if (workload.waypoint !== undefined && !isWaypointItself(req.sourceWorkload, workload.waypoint)) {
      return viaWaypoint(workload.waypoint, dst, { workload });
    }
    return toWorkload(workload, dst.host, dst.port, undefined);
  }

  return { kind: 'passthrough', target: dst, reason: `${dst.host} is neither a service VIP nor a known workload` };
}
