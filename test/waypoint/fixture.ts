// What the waypoint end-to-end tests share: the root-only skip, an embedded mesh whose `shop`
// namespace uses a waypoint, the waypoint Gateway, a DestinationRule manifest and a sum over
// Prometheus series.
import { LocalMesh } from '#local/mesh.ts';

const isRoot = process.getuid?.() === 0;
/** These tests build network namespaces and iptables rules: root only (CI runs as root). */
export const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

/** A namespace's waypoint Gateway named `waypoint`, for its Services. */
export const waypointGateway = (namespace: string): object => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  metadata: { name: 'waypoint', namespace, labels: { 'istio.io/waypoint-for': 'service' } },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

/** The waypoint of the `shop` namespace. */
export const gateway = waypointGateway('shop');

/** Two nodes, and a `shop` namespace in ambient mode whose traffic goes through its waypoint (applied by the caller). */
export async function startShopMesh(name: string): Promise<LocalMesh> {
  const mesh = await LocalMesh.start({ name, nodes: 2 });
  await mesh.cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
  return mesh;
}

export const destinationRule = (host: string, trafficPolicy: object): object => ({
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: host, namespace: 'shop' },
  spec: { host, trafficPolicy },
});

/** Sums a metric over the series whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const end = line.startsWith(`${name}{`) ? line.lastIndexOf('}') + 1 : name.length;
    const have = new Map<string, string>();
    for (const m of line.slice(0, end).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(line.slice(end).trim().split(' ')[0]);
  }
  return sum;
}
