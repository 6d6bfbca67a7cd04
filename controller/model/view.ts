// What one proxy receives out of the mesh model. A ztunnel routes outbound to anything,
// so it gets every workload and service, but only the policies that can apply to the pods
// it serves; a waypoint gets workloads and services (its L7 config comes separately).
import type { Resource } from '#core/config/model.ts';
import type { MeshModel } from '#controller/model/types.ts';

export type ViewClient = { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; identity: string };

export function viewFor(model: MeshModel, client: ViewClient): Map<string, Resource> {
  const out = new Map<string, Resource>();
  const namespacesHere = new Set<string>();
  const selectedHere = new Set<string>();
  for (const [key, r] of model.resources) {
    if (r.kind === 'authorization') continue;
    out.set(key, r);
    if (r.kind === 'workload' && client.kind === 'ztunnel' && r.value.node === client.node) {
      namespacesHere.add(r.value.namespace);
      for (const p of r.value.authorizationPolicies) selectedHere.add(p);
    }
  }
  if (client.kind === 'waypoint') return out;
  for (const [key, r] of model.resources) {
    if (r.kind !== 'authorization') continue;
    const a = r.value;
    const applies =
      a.scope === 'GLOBAL' ||
      (a.scope === 'NAMESPACE' && namespacesHere.has(a.namespace)) ||
      (a.scope === 'WORKLOAD_SELECTOR' && selectedHere.has(r.key));
    if (applies) out.set(key, r);
  }
  return out;
}
