// The W3C `baggage` header ztunnel sends on HBONE CONNECT, describing the source workload
// with the keys Istio uses, so the destination (or a waypoint) can label metrics without a
// lookup by address.
import type { Workload } from '#core/config/model.ts';

function encode(v: string): string {
  return encodeURIComponent(v);
}

export function sourceBaggage(w: Pick<Workload, 'clusterId' | 'namespace' | 'workloadName' | 'canonicalName' | 'canonicalRevision'>): string {
  const entries: [string, string][] = [
    ['k8s.cluster.name', w.clusterId],
    ['k8s.namespace.name', w.namespace],
    ['k8s.deployment.name', w.workloadName],
    ['service.name', w.canonicalName],
    ['service.version', w.canonicalRevision],
  ];
  return entries.filter(([, v]) => v !== '').map(([k, v]) => `${k}=${encode(v)}`).join(',');
}
