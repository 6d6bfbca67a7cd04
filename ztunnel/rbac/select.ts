// Which L4 policies apply to a destination workload: GLOBAL ones, those of the workload's
// namespace, and WORKLOAD_SELECTOR ones the controller listed on the workload.
import { resourceKey, type Authorization, type Workload } from '#core/config/model.ts';

export function selectPolicies(workload: Pick<Workload, 'namespace' | 'authorizationPolicies'>, policies: Iterable<Authorization>): Authorization[] {
  const selected = new Set(workload.authorizationPolicies);
  const out: Authorization[] = [];
  for (const p of policies) {
    if (p.scope === 'GLOBAL') out.push(p);
    else if (p.scope === 'NAMESPACE' && p.namespace === workload.namespace) out.push(p);
    else if (p.scope === 'WORKLOAD_SELECTOR' && selected.has(resourceKey.authorization(p))) out.push(p);
  }
  return out;
}
