// Istio's standard metric labels, computed from what a proxy knows about a connection or request.
// destination_service is filled from the service the VIP resolved to, or else from the
// services the destination workload backs, so it is "unknown" only when neither exists.
import type { Service, Workload } from '#core/config/model.ts';

export const TCP_LABELS = [
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version', 'destination_cluster',
  'request_protocol', 'response_flags', 'connection_security_policy',
] as const;
export type TcpLabel = (typeof TCP_LABELS)[number];
export type TcpLabels = Record<TcpLabel, string>;

export interface ConnectionDescription {
  /** `source` for outbound (the client's ztunnel), `destination` for inbound, `waypoint` at a waypoint. */
  reporter: 'source' | 'destination' | 'waypoint';
  source?: Workload | undefined;
  sourcePrincipal?: string | undefined;
  destination?: Workload | undefined;
  destinationPrincipal?: string | undefined;
  service?: Service | undefined;
  /** Istio response flags: `-` when none, else e.g. `DENY`, `CONNECT`, `TLS_FAILURE`. */
  responseFlags?: string;
  mtls: boolean;
  /** `tcp` (default), `http` or `grpc`. */
  protocol?: string;
}

const UNKNOWN = 'unknown';
const orUnknown = (v: string | undefined): string => (v === undefined || v === '' ? UNKNOWN : v);

export function tcpLabels(d: ConnectionDescription): TcpLabels {
  const s = d.source;
  const t = d.destination;
  return {
    reporter: d.reporter,
    source_workload: orUnknown(s?.workloadName),
    source_workload_namespace: orUnknown(s?.namespace),
    source_principal: orUnknown(d.sourcePrincipal),
    source_app: orUnknown(s?.canonicalName),
    source_version: orUnknown(s?.canonicalRevision),
    source_cluster: orUnknown(s?.clusterId),
    destination_service: orUnknown(d.service?.hostname),
    destination_service_name: orUnknown(d.service?.name),
    destination_service_namespace: orUnknown(d.service?.namespace),
    destination_workload: orUnknown(t?.workloadName),
    destination_workload_namespace: orUnknown(t?.namespace),
    destination_principal: orUnknown(d.destinationPrincipal),
    destination_app: orUnknown(t?.canonicalName),
    destination_version: orUnknown(t?.canonicalRevision),
    destination_cluster: orUnknown(t?.clusterId),
    request_protocol: d.protocol ?? 'tcp',
    response_flags: d.responseFlags ?? '-',
    connection_security_policy: d.mtls ? 'mutual_tls' : 'none',
  };
}

/**
 * The service to report for a connection that addressed a workload directly: the one whose
 * port map holds the destination port, else the workload's only service.
 */
export function serviceOfWorkload(workload: Workload, port: number, lookup: (key: string) => Service | undefined): Service | undefined {
  const keys = Object.keys(workload.services);
  const byPort = keys.find((k) => Object.values(workload.services[k] ?? {}).includes(port));
  const key = byPort ?? (keys.length === 1 ? keys[0] : undefined);
  return key === undefined ? undefined : lookup(key);
}
