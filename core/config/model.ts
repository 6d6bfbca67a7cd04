// The configuration the controller computes and pushes to proxies. Field names follow
// Istio's workload discovery (WDS) where one exists, in JSON camelCase. Plain data only:
// everything here crosses the push stream as JSON.
import type { ServiceRoutes } from './routes.ts';
import type { L7Authorization } from './l7-authorization.ts';
import type { WaypointTelemetry } from './telemetry.ts';

export const TunnelProtocol = { NONE: 'NONE', HBONE: 'HBONE' } as const;
export type TunnelProtocol = (typeof TunnelProtocol)[keyof typeof TunnelProtocol];

export const WorkloadStatus = { HEALTHY: 'HEALTHY', UNHEALTHY: 'UNHEALTHY' } as const;
export type WorkloadStatus = (typeof WorkloadStatus)[keyof typeof WorkloadStatus];

/** Where a waypoint is reached: its address and HBONE port, and the identity it presents. */
export interface GatewayAddress {
  address: string;
  hbonePort: number;
  /** SPIFFE id the waypoint's certificate carries. */
  identity: string;
}

/** servicePort → targetPort for one service a workload backs. */
export type PortMap = Record<string, number>;

export interface Workload {
  /** Stable key: `<cluster>//Pod/<namespace>/<name>` style is not required; the pod uid is. */
  uid: string;
  name: string;
  namespace: string;
  /** Pod IPs. */
  addresses: string[];
  node: string;
  /** Node IP, where this workload's ztunnel listens for HBONE (15008 inside the pod). */
  nodeAddress?: string;
  tunnelProtocol: TunnelProtocol;
  trustDomain: string;
  serviceAccount: string;
  waypoint?: GatewayAddress;
  canonicalName: string;
  canonicalRevision: string;
  workloadType: 'pod';
  workloadName: string;
  /** Services this workload backs, keyed `<namespace>/<hostname>`. */
  services: Record<string, PortMap>;
  /** WORKLOAD_SELECTOR-scoped policies that select this workload, as `<namespace>/<name>`. */
  authorizationPolicies: string[];
  status: WorkloadStatus;
  clusterId: string;
  /**
   * Whether ztunnel access-logs the connections it carries for this pod (outbound from it,
   * inbound to it), as Istio's Telemetry resources decide; absent means ztunnel's default (on).
   */
  accessLog?: boolean;
}

export interface ServicePort {
  servicePort: number;
  targetPort: number;
  appProtocol?: string;
}

export interface Service {
  name: string;
  namespace: string;
  /** `<name>.<namespace>.svc.cluster.local` */
  hostname: string;
  /** Cluster IPs (VIPs). */
  addresses: string[];
  ports: ServicePort[];
  subjectAltNames: string[];
  waypoint?: GatewayAddress;
}

export const PolicyScope = { GLOBAL: 'GLOBAL', NAMESPACE: 'NAMESPACE', WORKLOAD_SELECTOR: 'WORKLOAD_SELECTOR' } as const;
export type PolicyScope = (typeof PolicyScope)[keyof typeof PolicyScope];

export const PolicyAction = { ALLOW: 'ALLOW', DENY: 'DENY' } as const;
export type PolicyAction = (typeof PolicyAction)[keyof typeof PolicyAction];

/** One of exact / prefix / suffix / presence (Istio's StringMatch); `*` forms are pre-split by the controller. */
export type StringMatch = { exact: string } | { prefix: string } | { suffix: string } | { presence: true };

/** A CIDR such as `10.0.0.0/8`, or a single address. */
export type AddressMatch = string;

/** All listed fields must hold (empty list = no constraint). */
export interface AuthorizationMatch {
  namespaces: StringMatch[];
  notNamespaces: StringMatch[];
  principals: StringMatch[];
  notPrincipals: StringMatch[];
  serviceAccounts: StringMatch[];
  notServiceAccounts: StringMatch[];
  sourceIps: AddressMatch[];
  notSourceIps: AddressMatch[];
  destinationIps: AddressMatch[];
  notDestinationIps: AddressMatch[];
  destinationPorts: number[];
  notDestinationPorts: number[];
}

/** A clause holds when any of its matches holds. */
export interface AuthorizationClause {
  matches: AuthorizationMatch[];
}

/** A rule holds when all of its clauses hold. */
export interface AuthorizationRule {
  clauses: AuthorizationClause[];
}

/**
 * An L4 policy as ztunnel enforces it. The controller turns `AuthorizationPolicy` with a
 * selector (and STRICT `PeerAuthentication`, as a DENY on connections without a principal)
 * into these.
 */
export interface Authorization {
  name: string;
  namespace: string;
  scope: PolicyScope;
  action: PolicyAction;
  /** A policy holds when any rule holds; ALLOW with no rules matches nothing. */
  rules: AuthorizationRule[];
  dryRun: boolean;
}

export const ResourceKind = {
  workload: 'workload', service: 'service', authorization: 'authorization',
  /** A waypoint's route table for one Service (core/config/routes.ts). */
  routes: 'routes',
  /** An L7 policy a waypoint enforces (core/config/l7-authorization.ts). */
  l7authorization: 'l7authorization',
  /** A waypoint's access-log and tracing settings (core/config/telemetry.ts). */
  telemetry: 'telemetry',
} as const;
export type ResourceKind = (typeof ResourceKind)[keyof typeof ResourceKind];

export type Resource =
  | { kind: 'workload'; key: string; value: Workload }
  | { kind: 'service'; key: string; value: Service }
  | { kind: 'authorization'; key: string; value: Authorization }
  | { kind: 'routes'; key: string; value: ServiceRoutes }
  | { kind: 'l7authorization'; key: string; value: L7Authorization }
  | { kind: 'telemetry'; key: string; value: WaypointTelemetry };

export interface ResourceRef {
  kind: ResourceKind;
  key: string;
}

/** Keys used on the wire and in stores. */
export const resourceKey = {
  workload: (w: Pick<Workload, 'uid'>): string => w.uid,
  service: (s: Pick<Service, 'namespace' | 'hostname'>): string => `${s.namespace}/${s.hostname}`,
  authorization: (a: Pick<Authorization, 'namespace' | 'name'>): string => `${a.namespace}/${a.name}`,
  routes: (r: Pick<ServiceRoutes, 'service'>): string => r.service,
  /** One policy may target several waypoints: each gets its own copy. */
  l7authorization: (a: Pick<L7Authorization, 'waypoint' | 'namespace' | 'name'>): string => `${a.waypoint}/${a.namespace}/${a.name}`,
  telemetry: (t: Pick<WaypointTelemetry, 'waypoint'>): string => t.waypoint,
} as const;

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
