// The Kubernetes objects the controller reads, reduced to the fields weft uses, and the
// contract every cluster source (local manifests, Kubernetes API) fulfils.
// Objects here have been checked by `parse.ts`: absent lists and maps are normalised to
// empty ones, so consumers never test for undefined collections. The user-authored kinds
// (Gateway, routes, AuthorizationPolicy, PeerAuthentication, VirtualService, DestinationRule,
// BackendTrafficPolicy, Telemetry)
// also list the fields weft could not use in `fieldProblems`; the two policy kinds are already
// their fail-safe reading (see parse.ts), so a consumer that enforces them as given is never
// looser than the author wrote.

/** A field weft could not use: unknown to the API, unsupported, or holding a value it cannot read. */
export interface FieldProblem {
  /** Where in the manifest, e.g. `spec.rules[0].form`. */
  path: string;
  /** e.g. `unknown field (did you mean "from"?)`, `expected a list, got string "x"`. */
  message: string;
}

export interface ObjectMeta {
  name: string;
  /** '' for cluster-scoped objects (Namespace, Node); `default` when a namespaced manifest omits it. */
  namespace: string;
  uid?: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  resourceVersion?: string;
  generation?: number;
}

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface PodCondition {
  type: string;
  status: string;
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
  };
  status: {
    podIP?: string;
    podIPs: ReadonlyArray<{ ip: string }>;
    hostIP?: string;
    phase?: string;
    conditions: ReadonlyArray<PodCondition>;
  };
}

export interface ServicePortSpec {
  name?: string;
  port: number;
  /** A number, or the name of a container port. */
  targetPort?: number | string;
  appProtocol?: string;
  protocol?: string;
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: {
    type?: string;
    clusterIP?: string;
    clusterIPs: ReadonlyArray<string>;
    /** Absent means the service selects no pods (its endpoints are managed by hand). */
    selector?: Readonly<Record<string, string>>;
    ports: ReadonlyArray<ServicePortSpec>;
  };
}

export interface EndpointSlicePort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSliceEndpoint {
  addresses: ReadonlyArray<string>;
  conditions: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string };
}

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  /** The owning Service is named by label `kubernetes.io/service-name`. */
  metadata: ObjectMeta;
  addressType: string;
  endpoints: ReadonlyArray<EndpointSliceEndpoint>;
  ports: ReadonlyArray<EndpointSlicePort>;
}

export interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  status: {
    addresses: ReadonlyArray<{ type: string; address: string }>;
  };
}

export interface GatewayListener {
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
}

export interface Gateway {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'Gateway';
  metadata: ObjectMeta;
  spec: {
    gatewayClassName: string;
    listeners: ReadonlyArray<GatewayListener>;
  };
  status: {
    addresses: ReadonlyArray<{ type?: string; value: string }>;
  };
  /** Fields of the manifest weft does not know; they are ignored. */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

/** HTTPRoute and GRPCRoute: parent refs and hostnames typed; rules kept as checked-JSON for the waypoint model. */
export interface RouteSpec {
  parentRefs: ReadonlyArray<ParentReference>;
  hostnames: ReadonlyArray<string>;
  /** Each element is a JSON object; the waypoint model interprets them. */
  rules: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export interface HTTPRoute {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  metadata: ObjectMeta;
  spec: RouteSpec;
  /** Unknown fields outside `spec.rules[]` (which the waypoint model checks); they are ignored. */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export interface GRPCRoute {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'GRPCRoute';
  metadata: ObjectMeta;
  spec: RouteSpec;
  /** Unknown fields outside `spec.rules[]` (which the waypoint model checks); they are ignored. */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export interface LabelSelector {
  matchLabels: Readonly<Record<string, string>>;
}

export interface PolicyTargetRef {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface AuthorizationSource {
  principals?: ReadonlyArray<string>;
  notPrincipals?: ReadonlyArray<string>;
  requestPrincipals?: ReadonlyArray<string>;
  notRequestPrincipals?: ReadonlyArray<string>;
  namespaces?: ReadonlyArray<string>;
  notNamespaces?: ReadonlyArray<string>;
  ipBlocks?: ReadonlyArray<string>;
  notIpBlocks?: ReadonlyArray<string>;
  remoteIpBlocks?: ReadonlyArray<string>;
  notRemoteIpBlocks?: ReadonlyArray<string>;
  /** Istio's `<namespace>/<service account>` form. */
  serviceAccounts?: ReadonlyArray<string>;
  notServiceAccounts?: ReadonlyArray<string>;
}

export interface AuthorizationOperation {
  hosts?: ReadonlyArray<string>;
  notHosts?: ReadonlyArray<string>;
  /** Port numbers as strings, as in Istio's API. */
  ports?: ReadonlyArray<string>;
  notPorts?: ReadonlyArray<string>;
  methods?: ReadonlyArray<string>;
  notMethods?: ReadonlyArray<string>;
  paths?: ReadonlyArray<string>;
  notPaths?: ReadonlyArray<string>;
}

export interface AuthorizationCondition {
  key: string;
  values?: ReadonlyArray<string>;
  notValues?: ReadonlyArray<string>;
}

export interface AuthorizationPolicyRule {
  /** Absent = any source; each element's `source` is absent when the manifest gives `{}`. */
  from?: ReadonlyArray<{ source?: AuthorizationSource }>;
  to?: ReadonlyArray<{ operation?: AuthorizationOperation }>;
  when?: ReadonlyArray<AuthorizationCondition>;
  /**
   * The rule's position in the manifest's `spec.rules`, set only when it differs from its
   * position here (rules weft could not read were left out of an ALLOW policy).
   */
  index?: number;
}

export const AuthorizationPolicyAction = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'AUDIT', CUSTOM: 'CUSTOM' } as const;
export type AuthorizationPolicyAction = (typeof AuthorizationPolicyAction)[keyof typeof AuthorizationPolicyAction];

export interface AuthorizationPolicy {
  apiVersion: 'security.istio.io/v1';
  kind: 'AuthorizationPolicy';
  metadata: ObjectMeta;
  spec: {
    selector?: LabelSelector;
    targetRef?: PolicyTargetRef;
    targetRefs: ReadonlyArray<PolicyTargetRef>;
    /** Absent in the manifest means ALLOW. */
    action: AuthorizationPolicyAction;
    provider?: { name: string };
    /** Absent and empty are the same: an ALLOW policy without rules matches nothing. */
    rules: ReadonlyArray<AuthorizationPolicyRule>;
  };
  /**
   * What weft could not use. The spec above is then the fail-safe reading, never looser than
   * written: ALLOW rules with such a part are left out (they never match); DENY, AUDIT and
   * CUSTOM rules lose the part (they match more); a problem outside the rules turns an ALLOW
   * policy into one without rules and any other into `rules: [{}]` (see parse.ts for the details).
   */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export const MtlsMode = { UNSET: 'UNSET', DISABLE: 'DISABLE', PERMISSIVE: 'PERMISSIVE', STRICT: 'STRICT' } as const;
export type MtlsMode = (typeof MtlsMode)[keyof typeof MtlsMode];

export interface PeerAuthentication {
  apiVersion: 'security.istio.io/v1';
  kind: 'PeerAuthentication';
  metadata: ObjectMeta;
  spec: {
    selector?: LabelSelector;
    mtls?: { mode: MtlsMode };
    /** Keyed by port number (as a string). */
    portLevelMtls: Readonly<Record<string, { mode: MtlsMode }>>;
  };
  /**
   * What weft could not use. The spec above is then the strictest reading: a mode weft could
   * not read is STRICT, and a problem outside the modes makes every mode of the policy STRICT.
   */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

/** Istio's `networking.istio.io` VirtualService: the top level typed, each route rule kept as checked JSON. */
export interface VirtualService {
  apiVersion: 'networking.istio.io/v1';
  kind: 'VirtualService';
  metadata: ObjectMeta;
  spec: {
    hosts: ReadonlyArray<string>;
    /** Empty means the reserved `mesh` alone. */
    gateways: ReadonlyArray<string>;
    /** Empty means every namespace. */
    exportTo: ReadonlyArray<string>;
    /** Each element is a JSON object; the waypoint model (controller/model/virtual-services.ts) interprets them. */
    http: ReadonlyArray<Readonly<Record<string, unknown>>>;
    /** Kept so the model can say they are not applied: weft's waypoint routes HTTP only. */
    tcp: ReadonlyArray<Readonly<Record<string, unknown>>>;
    tls: ReadonlyArray<Readonly<Record<string, unknown>>>;
  };
  /** Fields outside `spec.http[]` (which the waypoint model checks) that weft does not know. */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export interface DestinationRuleSubset {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** A JSON object; the waypoint model (controller/model/destination-rules.ts) interprets it. */
  trafficPolicy?: Readonly<Record<string, unknown>>;
}

/** Istio's `networking.istio.io` DestinationRule: host, visibility and subsets typed, traffic policies kept as checked JSON. */
export interface DestinationRule {
  apiVersion: 'networking.istio.io/v1';
  kind: 'DestinationRule';
  metadata: ObjectMeta;
  spec: {
    host: string;
    /** Empty means every namespace. */
    exportTo: ReadonlyArray<string>;
    workloadSelector?: LabelSelector;
    /** A JSON object; the waypoint model interprets it. */
    trafficPolicy?: Readonly<Record<string, unknown>>;
    subsets: ReadonlyArray<DestinationRuleSubset>;
  };
  /** Fields outside the traffic policies (which the waypoint model checks) that weft does not know. */
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

/**
 * Envoy Gateway's `gateway.envoyproxy.io` BackendTrafficPolicy: the targets typed, the rate
 * limit kept as checked JSON (controller/model/rate-limits.ts interprets it). weft reads only
 * the rate limit; every other spec field is a field problem.
 */
export interface BackendTrafficPolicy {
  apiVersion: 'gateway.envoyproxy.io/v1alpha1';
  kind: 'BackendTrafficPolicy';
  metadata: ObjectMeta;
  spec: {
    /** `targetRef` (the older single form) and `targetRefs`, together. */
    targetRefs: ReadonlyArray<PolicyTargetRef>;
    rateLimit?: Readonly<Record<string, unknown>>;
  };
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

/** One `spec.accessLogging[]` entry of a Telemetry. */
export interface TelemetryAccessLogging {
  /** Provider names; empty means the mesh's default provider. */
  providers: ReadonlyArray<string>;
  disabled?: boolean;
}

/** One `spec.tracing[]` entry of a Telemetry. */
export interface TelemetryTracing {
  providers: ReadonlyArray<string>;
  /** 0–100. */
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
}

/**
 * Istio's `telemetry.istio.io` Telemetry: where it applies (namespace, selector or targetRefs)
 * and the access logging and tracing weft implements. Unknown and unsupported fields
 * (`metrics`, `match`, `filter`, `customTags`, ...) and values that cannot be read are left
 * out of the spec and listed in `fieldProblems`; the rest applies.
 */
export interface Telemetry {
  apiVersion: 'telemetry.istio.io/v1';
  kind: 'Telemetry';
  metadata: ObjectMeta;
  spec: {
    selector?: LabelSelector;
    /** `targetRef` (the older single form) and `targetRefs`, together. */
    targetRefs: ReadonlyArray<PolicyTargetRef>;
    accessLogging: ReadonlyArray<TelemetryAccessLogging>;
    tracing: ReadonlyArray<TelemetryTracing>;
  };
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

export type ClusterObject =
  | Namespace
  | Pod
  | Service
  | EndpointSlice
  | Node
  | Gateway
  | HTTPRoute
  | GRPCRoute
  | AuthorizationPolicy
  | PeerAuthentication
  | VirtualService
  | DestinationRule
  | BackendTrafficPolicy
  | Telemetry;

/** Every map is keyed `namespace/name`, or `name` for cluster-scoped kinds (Namespace, Node). */
export interface ClusterObjects {
  namespaces: ReadonlyMap<string, Namespace>;
  pods: ReadonlyMap<string, Pod>;
  services: ReadonlyMap<string, Service>;
  endpointSlices: ReadonlyMap<string, EndpointSlice>;
  nodes: ReadonlyMap<string, Node>;
  gateways: ReadonlyMap<string, Gateway>;
  httpRoutes: ReadonlyMap<string, HTTPRoute>;
  grpcRoutes: ReadonlyMap<string, GRPCRoute>;
  authorizationPolicies: ReadonlyMap<string, AuthorizationPolicy>;
  peerAuthentications: ReadonlyMap<string, PeerAuthentication>;
  virtualServices: ReadonlyMap<string, VirtualService>;
  destinationRules: ReadonlyMap<string, DestinationRule>;
  backendTrafficPolicies: ReadonlyMap<string, BackendTrafficPolicy>;
  telemetries: ReadonlyMap<string, Telemetry>;
}

/** An input a source could not accept; the rest of its input keeps working. */
export interface SourceRejection {
  file?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  reason: string;
}

export interface ClusterSource {
  /** Resolves once the first full view of the cluster is loaded. */
  start(): Promise<void>;
  /** The latest snapshot; treat as immutable (a new object after every change). */
  current(): ClusterObjects;
  /** Called after the snapshot changed; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  stop(): Promise<void>;
  rejected(): ReadonlyArray<SourceRejection>;
}

/** The key objects are stored under in `ClusterObjects`. */
export function objectKey(meta: Pick<ObjectMeta, 'namespace' | 'name'>): string {
  return meta.namespace === '' ? meta.name : `${meta.namespace}/${meta.name}`;
}

export function emptyClusterObjects(): ClusterObjects {
  return {
    namespaces: new Map(),
    pods: new Map(),
    services: new Map(),
    endpointSlices: new Map(),
    nodes: new Map(),
    gateways: new Map(),
    httpRoutes: new Map(),
    grpcRoutes: new Map(),
    authorizationPolicies: new Map(),
    peerAuthentications: new Map(),
    virtualServices: new Map(),
    destinationRules: new Map(),
    backendTrafficPolicies: new Map(),
    telemetries: new Map(),
  };
}
