// Which proxies the dashboard scrapes, from the cluster the controller already reads:
// a ztunnel per Node at the node's InternalIP:15020 (ztunnel's metrics listen on the node
// address), and a waypoint per running pod behind each waypoint Gateway, at the pod IP:15020.
// Waypoint pods are the ones the Gateway's Service (named after the Gateway) selects, or,
// before that Service exists, the pods carrying the gateway-name label the deployment sets.
import { Ports } from '#core/ports.ts';
import { isWaypointGateway } from '#controller/model/waypoints.ts';
import { Labels, selects } from '#controller/model/labels.ts';
import type { ClusterObjects, Node, Pod } from '#controller/source/types.ts';

export interface ProxyTarget {
  kind: 'ztunnel' | 'waypoint';
  /** Stable key: `ztunnel/<node>` or `waypoint/<namespace>/<pod>`. */
  id: string;
  /** Node name for a ztunnel; `<namespace>/<gateway>` for a waypoint. */
  name: string;
  node: string;
  /** Pod name (waypoints) or `ztunnel-<node>` (what a DaemonSet pod is called). */
  pod: string;
  address: string;
  /** The pod's service account (waypoints): with the namespace, its SPIFFE identity's path. */
  serviceAccount?: string;
  metricsUrl: string;
  readyUrl: string;
}

const hostPart = (ip: string): string => (ip.includes(':') ? `[${ip}]` : ip);

function urls(address: string): { metricsUrl: string; readyUrl: string } {
  return {
    metricsUrl: `http://${hostPart(address)}:${Ports.metrics}/metrics`,
    readyUrl: `http://${hostPart(address)}:${Ports.readiness}/healthz/ready`,
  };
}

export function nodeAddress(node: Node): string | undefined {
  const a = node.status.addresses;
  return (a.find((x) => x.type === 'InternalIP') ?? a.find((x) => x.type === 'ExternalIP'))?.address;
}

function podIp(pod: Pod): string | undefined {
  const ip = pod.status.podIP ?? pod.status.podIPs[0]?.ip;
  return ip === undefined || ip === '' ? undefined : ip;
}

const running = (pod: Pod): boolean => pod.status.phase === undefined || pod.status.phase === 'Running';

export function proxyTargets(objects: ClusterObjects): ProxyTarget[] {
  const out: ProxyTarget[] = [];
  for (const node of objects.nodes.values()) {
    const address = nodeAddress(node);
    if (address === undefined) continue;
    const name = node.metadata.name;
    out.push({ kind: 'ztunnel', id: `ztunnel/${name}`, name, node: name, pod: `ztunnel-${name}`, address, ...urls(address) });
  }
  for (const gw of objects.gateways.values()) {
    if (!isWaypointGateway(gw)) continue;
    const { namespace, name } = gw.metadata;
    const selector = objects.services.get(`${namespace}/${name}`)?.spec.selector ?? { [Labels.gatewayName]: name };
    for (const pod of objects.pods.values()) {
      if (pod.metadata.namespace !== namespace || !running(pod) || !selects(selector, pod.metadata.labels)) continue;
      const address = podIp(pod);
      if (address === undefined) continue;
      out.push({
        kind: 'waypoint', id: `waypoint/${namespace}/${pod.metadata.name}`, name: `${namespace}/${name}`,
        node: pod.spec.nodeName ?? '', pod: pod.metadata.name, address, serviceAccount: pod.spec.serviceAccountName ?? 'default', ...urls(address),
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
