// The Kubernetes resources weft reads: where each lives in the API, which collection of
// ClusterObjects it fills, and how its cluster-wide list is fetched with the client library.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { ClusterObjects } from '#controller/source/types.ts';

export interface KubeResource {
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  collection: keyof ClusterObjects;
  /** Weft owns `status.conditions` of this kind and writes them (see status/kubernetes-writer.ts). */
  writesConditions: boolean;
  /**
   * A kind of another project whose CRD a cluster may lack: while the API server does not serve
   * it, the source reads none and checks again with backoff, instead of failing to sync.
   */
  optional?: boolean;
}

export const KUBE_RESOURCES: readonly KubeResource[] = [
  { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false, collection: 'namespaces', writesConditions: false },
  { kind: 'Node', group: '', version: 'v1', plural: 'nodes', namespaced: false, collection: 'nodes', writesConditions: false },
  { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true, collection: 'pods', writesConditions: false },
  { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true, collection: 'services', writesConditions: false },
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, collection: 'endpointSlices', writesConditions: false },
  { kind: 'Gateway', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespaced: true, collection: 'gateways', writesConditions: true },
  { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true, collection: 'httpRoutes', writesConditions: true },
  { kind: 'GRPCRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', namespaced: true, collection: 'grpcRoutes', writesConditions: true },
  { kind: 'AuthorizationPolicy', group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', namespaced: true, collection: 'authorizationPolicies', writesConditions: true },
  { kind: 'PeerAuthentication', group: 'security.istio.io', version: 'v1', plural: 'peerauthentications', namespaced: true, collection: 'peerAuthentications', writesConditions: true },
  { kind: 'VirtualService', group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true, collection: 'virtualServices', writesConditions: true },
  { kind: 'DestinationRule', group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', namespaced: true, collection: 'destinationRules', writesConditions: true },
  { kind: 'Telemetry', group: 'telemetry.istio.io', version: 'v1', plural: 'telemetries', namespaced: true, collection: 'telemetries', writesConditions: true },
  // Envoy Gateway's kind, for its rate limits: served where Envoy Gateway is installed or the
  // chart's optional CRD is (rateLimit.installCRD). Its status is `status.ancestors[]`.
  { kind: 'BackendTrafficPolicy', group: 'gateway.envoyproxy.io', version: 'v1alpha1', plural: 'backendtrafficpolicies', namespaced: true, collection: 'backendTrafficPolicies', writesConditions: true, optional: true },
];

export function apiVersionOf(r: KubeResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The cluster-wide collection path, e.g. `/api/v1/pods`, `/apis/security.istio.io/v1/authorizationpolicies`. */
export function collectionPath(r: KubeResource): string {
  return r.group === '' ? `/api/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/${r.plural}`;
}

export type ListFn = () => Promise<KubernetesListObject<KubernetesObject>>;

/** A cluster-wide list through the generated API clients (typed for built-in kinds, untyped for CRDs). */
export function listFunction(kc: KubeConfig, r: KubeResource): ListFn {
  switch (r.kind) {
    case 'Namespace': {
      const core = kc.makeApiClient(CoreV1Api);
      return () => core.listNamespace();
    }
    case 'Node': {
      const core = kc.makeApiClient(CoreV1Api);
      return () => core.listNode();
    }
    case 'Pod': {
      const core = kc.makeApiClient(CoreV1Api);
      return () => core.listPodForAllNamespaces();
    }
    case 'Service': {
      const core = kc.makeApiClient(CoreV1Api);
      return () => core.listServiceForAllNamespaces();
    }
    case 'EndpointSlice': {
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      return () => discovery.listEndpointSliceForAllNamespaces();
    }
    default: {
      const custom = kc.makeApiClient(CustomObjectsApi);
      return async () => asList(await custom.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural }) as unknown, r);
    }
  }
}

/** Custom object lists come back untyped: check the shape before the informer trusts it. */
function asList(value: unknown, r: KubeResource): KubernetesListObject<KubernetesObject> {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { items?: unknown }).items)) {
    throw new Error(`list of ${r.plural}: the API server answered without an items list`);
  }
  const v = value as { items: unknown[]; metadata?: unknown };
  // The informer's cache dereferences metadata; an item without it would throw inside the library.
  const items = v.items.filter((i): i is KubernetesObject => isRecord(i) && isRecord(i['metadata']));
  const meta = typeof v.metadata === 'object' && v.metadata !== null ? v.metadata as { resourceVersion?: unknown } : {};
  return { items, metadata: typeof meta.resourceVersion === 'string' ? { resourceVersion: meta.resourceVersion } : {} };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
