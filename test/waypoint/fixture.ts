// What the waypoint end-to-end tests share: the root-only skip, the waypoint Gateway of the
// `shop` namespace, a DestinationRule manifest and a sum over Prometheus series.

const isRoot = process.getuid?.() === 0;
/** These tests build network namespaces and iptables rules: root only (CI runs as root). */
export const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

/** The waypoint of the `shop` namespace, for its Services. */
export const gateway = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'shop', labels: { 'istio.io/waypoint-for': 'service' } },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
};

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
