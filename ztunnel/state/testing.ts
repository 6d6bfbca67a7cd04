// Builders for config resources in tests: full, valid objects from a few interesting fields.
import type { Authorization, AuthorizationMatch, Resource, Service, Workload } from '#core/config/model.ts';
import { resourceKey } from '#core/config/model.ts';

export function workload(p: Partial<Workload> & { name: string; addresses: string[] }): Workload {
  const namespace = p.namespace ?? 'default';
  return {
    uid: p.uid ?? `uid-${namespace}-${p.name}`,
    namespace,
    node: 'node1',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: 'default',
    canonicalName: p.name,
    canonicalRevision: 'v1',
    workloadType: 'pod',
    workloadName: p.name,
    services: {},
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...p,
  };
}

export function service(p: Partial<Service> & { name: string; addresses: string[] }): Service {
  const namespace = p.namespace ?? 'default';
  return {
    namespace,
    hostname: `${p.name}.${namespace}.svc.cluster.local`,
    ports: [{ servicePort: 80, targetPort: 8080 }],
    subjectAltNames: [],
    ...p,
  };
}

export function match(p: Partial<AuthorizationMatch> = {}): AuthorizationMatch {
  return {
    namespaces: [], notNamespaces: [], principals: [], notPrincipals: [], serviceAccounts: [], notServiceAccounts: [],
    sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [], destinationPorts: [], notDestinationPorts: [],
    ...p,
  };
}

/** A policy; `rules` is a list of rules, each a list of clauses, each a list of matches. */
export function policy(p: Partial<Omit<Authorization, 'rules'>> & { name: string; rules?: AuthorizationMatch[][][] }): Authorization {
  return {
    namespace: 'default',
    scope: 'NAMESPACE',
    action: 'ALLOW',
    dryRun: false,
    ...p,
    rules: (p.rules ?? []).map((clauses) => ({ clauses: clauses.map((matches) => ({ matches })) })),
  };
}

export function asResource(v: { kind: 'workload'; value: Workload } | { kind: 'service'; value: Service } | { kind: 'authorization'; value: Authorization }): Resource {
  switch (v.kind) {
    case 'workload': return { kind: 'workload', key: resourceKey.workload(v.value), value: v.value };
    case 'service': return { kind: 'service', key: resourceKey.service(v.value), value: v.value };
    case 'authorization': return { kind: 'authorization', key: resourceKey.authorization(v.value), value: v.value };
  }
}

export const wl = (w: Workload): Resource => asResource({ kind: 'workload', value: w });
export const svc = (s: Service): Resource => asResource({ kind: 'service', value: s });
export const authz = (a: Authorization): Resource => asResource({ kind: 'authorization', value: a });
