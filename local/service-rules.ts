// kube-proxy-like Service DNAT for one node netns, rendered as iptables-restore input (nat
// table, --noflush: only this cluster's chains are touched). Pure, so it is table-tested.
import type { ClusterNames } from './naming.ts';

/** One Service as the node programs it: endpoints are the ready pod IPs, in a stable order. */
export interface ServiceRuleInput {
  readonly namespace: string;
  readonly name: string;
  readonly vip: string;
  readonly ports: readonly { readonly port: number; readonly targetPort: number; readonly name?: string }[];
  readonly endpoints: readonly string[];
}

export interface NodeRuleInput {
  readonly names: ClusterNames;
  /** The node's underlay address: source of SNAT for traffic from the root netns. */
  readonly nodeIp: string;
  /** The node's gateway address for its pods: source of SNAT for hairpin traffic. */
  readonly podGateway: string;
  /** The root netns's underlay address, whose Service traffic is SNATed (see below). */
  readonly hostIp: string;
  readonly services: readonly ServiceRuleInput[];
  /** Chains installed by an earlier render that are no longer wanted: flushed and deleted. */
  readonly staleChains: readonly string[];
  /** First render on a fresh node: hook the cluster's chains into the built-in ones. */
  readonly installJumps: boolean;
}

export interface RenderedRules {
  readonly text: string;
  /** Per-service chains this render installs; pass the ones gone next time as staleChains. */
  readonly chains: readonly string[];
}

/** Marks hairpin connections (a pod reaching itself through a VIP) for SNAT; apart from 0x539/0x111. */
export const HAIRPIN_MARK = 0x4000;

/** The probability that rule i of n picks its endpoint, so that every endpoint gets 1/n. */
export function endpointProbability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

export function renderServiceRules(input: NodeRuleInput): RenderedRules {
  const { names } = input;
  const declare: string[] = [];
  const rules: string[] = [];
  const chains: string[] = [];
  const mark = `0x${HAIRPIN_MARK.toString(16)}`;

  declare.push(`:${names.servicesChain} - [0:0]`, `:${names.postroutingChain} - [0:0]`);
  if (input.installJumps) {
    const comment = `-m comment --comment "weft ${names.prefix} services"`;
    rules.push(
      `-A PREROUTING ${comment} -j ${names.servicesChain}`,
      `-A OUTPUT ${comment} -j ${names.servicesChain}`,
      `-A POSTROUTING ${comment} -j ${names.postroutingChain}`,
    );
  }
  // A pod that lands on itself would see its own address as source and drop the packet; the
  // root netns reaches VIPs through one node, so replies from other nodes must come back
  // through it. Both are SNATed, as kube-proxy masquerades them.
  rules.push(
    `-A ${names.postroutingChain} -m mark --mark ${mark}/${mark} -j SNAT --to-source ${input.podGateway}`,
    `-A ${names.postroutingChain} -s ${input.hostIp}/32 -m conntrack --ctstate DNAT -j SNAT --to-source ${input.nodeIp}`,
  );

  const sorted = [...input.services].sort((a, b) => a.vip.localeCompare(b.vip));
  for (const svc of sorted) {
    for (const port of svc.ports) {
      if (svc.endpoints.length === 0) continue;
      const key = `${svc.namespace}/${svc.name}:${port.port}`;
      const svcChain = names.serviceChain(key);
      chains.push(svcChain);
      declare.push(`:${svcChain} - [0:0]`);
      const label = `${svc.namespace}/${svc.name}${port.name === undefined ? '' : `:${port.name}`}`;
      rules.push(`-A ${names.servicesChain} -d ${svc.vip}/32 -p tcp -m comment --comment "${label}" -m tcp --dport ${port.port} -j ${svcChain}`);
      const n = svc.endpoints.length;
      svc.endpoints.forEach((ip, i) => {
        const sepChain = names.endpointChain(`${key}:${ip}`);
        chains.push(sepChain);
        declare.push(`:${sepChain} - [0:0]`);
        const pick = i < n - 1 ? `-m statistic --mode random --probability ${endpointProbability(i, n)} ` : '';
        rules.push(`-A ${svcChain} ${pick}-j ${sepChain}`);
        rules.push(`-A ${sepChain} -s ${ip}/32 -j MARK --set-xmark ${mark}/${mark}`);
        rules.push(`-A ${sepChain} -p tcp -m tcp -j DNAT --to-destination ${ip}:${port.targetPort}`);
      });
    }
  }

  const wanted = new Set(chains);
  const stale = [...new Set(input.staleChains)].filter((c) => !wanted.has(c));
  // Declaring a stale chain flushes it, so nothing refers to it by the time it is deleted.
  for (const c of stale) declare.push(`:${c} - [0:0]`);
  const deletes = stale.map((c) => `-X ${c}`);
  const text = ['*nat', ...declare, ...rules, ...deletes, 'COMMIT', ''].join('\n');
  return { text, chains };
}
