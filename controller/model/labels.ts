// Label and annotation names weft reads, as Istio and Kubernetes spell them.

export const Labels = {
  dataplaneMode: 'istio.io/dataplane-mode',
  useWaypoint: 'istio.io/use-waypoint',
  useWaypointNamespace: 'istio.io/use-waypoint-namespace',
  waypointFor: 'istio.io/waypoint-for',
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  appName: 'app.kubernetes.io/name',
  appVersion: 'app.kubernetes.io/version',
  app: 'app',
  version: 'version',
  podTemplateHash: 'pod-template-hash',
  statefulSetPodName: 'statefulset.kubernetes.io/pod-name',
  serviceName: 'kubernetes.io/service-name',
} as const;

export const Annotations = {
  dryRun: 'istio.io/dry-run',
} as const;

export const WAYPOINT_CLASS = 'istio-waypoint';
export const HBONE_PORT = 15008;

/** Every selector entry present with the same value (an empty selector selects all). */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}
