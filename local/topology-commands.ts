// The iproute2 batches that build the underlay, the nodes and the pods. Pure: each returns
// the lines for `ip [-n <netns>] -batch -`, so the plumbing is readable and table-tested.
import { formatCidr, type AddressPlan } from './addressing.ts';
import type { ClusterNames } from './naming.ts';

export interface NodeSpec {
  readonly index: number;
  readonly netns: string;
}

/** Root netns: every cluster netns, the bridge, the veths between them and the host link. */
export function clusterCreateBatch(names: ClusterNames, nodes: readonly NodeSpec[], hostLink: boolean): string[] {
  const u = names.underlayNetns;
  const lines = [`netns add ${u}`];
  for (const n of nodes) lines.push(`netns add ${n.netns}`);
  lines.push(`link add name ${names.bridge} netns ${u} type bridge`);
  for (const n of nodes) {
    lines.push(`link add name ${names.nodeLink(n.index)} netns ${n.netns} type veth peer name ${names.nodeBridgePort(n.index)} netns ${u}`);
  }
  if (hostLink) lines.push(`link add name ${names.hostLink} type veth peer name ${names.hostBridgePort} netns ${u}`);
  return lines;
}

/** Underlay netns: a bridge with every node (and the host) plugged in. */
export function underlayBatch(names: ClusterNames, nodes: readonly NodeSpec[], hostLink: boolean): string[] {
  const lines = ['link set lo up', `link set ${names.bridge} up`];
  for (const n of nodes) lines.push(`link set ${names.nodeBridgePort(n.index)} master ${names.bridge} up`);
  if (hostLink) lines.push(`link set ${names.hostBridgePort} master ${names.bridge} up`);
  return lines;
}

/** Node netns: underlay address, pod gateway on lo, routes to the other nodes' pod CIDRs. */
export function nodeBatch(names: ClusterNames, plan: AddressPlan, node: NodeSpec, all: readonly NodeSpec[]): string[] {
  const link = names.nodeLink(node.index);
  const lines = [
    'link set lo up',
    `addr add ${plan.podGateway(node.index)}/32 dev lo`,
    `addr add ${plan.nodeIp(node.index)}/${plan.underlay.prefixLength} dev ${link}`,
    `link set ${link} up`,
  ];
  for (const other of all) {
    if (other.index === node.index) continue;
    lines.push(`route add ${formatCidr(plan.podCidr(other.index))} via ${plan.nodeIp(other.index)} dev ${link}`);
  }
  return lines;
}

/** The sysctls a node needs: it forwards, and pod routes are asymmetric to rp_filter's taste. */
export const NODE_SYSCTLS: readonly string[] = [
  'net.ipv4.ip_forward=1',
  'net.ipv4.conf.all.rp_filter=0',
  'net.ipv4.conf.default.rp_filter=0',
];

/** Root netns: an address on the underlay and routes to pods and VIPs through the nodes. */
export function hostBatch(names: ClusterNames, plan: AddressPlan, nodes: readonly NodeSpec[]): string[] {
  const lines = [
    `addr add ${plan.hostIp}/${plan.underlay.prefixLength} dev ${names.hostLink}`,
    `link set ${names.hostLink} up`,
  ];
  for (const n of nodes) lines.push(`route add ${formatCidr(plan.podCidr(n.index))} via ${plan.nodeIp(n.index)} dev ${names.hostLink}`);
  const first = nodes[0];
  if (first !== undefined) lines.push(`route add ${formatCidr(plan.serviceCidr)} via ${plan.nodeIp(first.index)} dev ${names.hostLink}`);
  return lines;
}

export interface PodPlumbing {
  readonly podNetns: string;
  readonly nodeNetns: string;
  /** Pod's interface and its node-side peer. */
  readonly podLink: string;
  readonly hostLink: string;
  readonly ip: string;
  readonly gateway: string;
  readonly nodeIp: string;
}

/** Root netns: the pod netns and its veth to the node. */
export function podCreateBatch(p: PodPlumbing): string[] {
  return [
    `netns add ${p.podNetns}`,
    `link add name ${p.hostLink} netns ${p.nodeNetns} type veth peer name ${p.podLink} netns ${p.podNetns}`,
  ];
}

/** Pod netns: a /32 address and a default route through the node's gateway address. */
export function podBatch(p: PodPlumbing): string[] {
  return [
    'link set lo up',
    `addr add ${p.ip}/32 dev ${p.podLink}`,
    `link set ${p.podLink} up`,
    `route add ${p.gateway}/32 dev ${p.podLink} scope link`,
    `route add default via ${p.gateway} dev ${p.podLink}`,
  ];
}

/** Node netns: the pod's /32 points at its veth (calico style); the node speaks from its own IP. */
export function podNodeBatch(p: PodPlumbing): string[] {
  return [
    `link set ${p.hostLink} up`,
    `route add ${p.ip}/32 dev ${p.hostLink} src ${p.nodeIp}`,
  ];
}
