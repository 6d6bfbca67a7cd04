// Joins Istio's networking API to the Gateway API route tables, so a waypoint has one table
// per Service and one path for both: VirtualServices add entries to Services no HTTPRoute or
// GRPCRoute routes, and DestinationRules add the destination policy of every Service a table
// sends to (its backends, its mirrors, and the Service itself), whichever API routed there.
// A Service with a DestinationRule but no route gets a table without entries, which the
// waypoint treats as no route, so its requests still follow the rule.
import type { DestinationPolicy, RouteFilter, ServiceRoutes } from '#core/config/routes.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { DestinationRuleIndex } from '#controller/model/destination-rules.ts';
import { compileVirtualServices } from '#controller/model/virtual-services.ts';
import { servicesByHost } from '#controller/model/istio-fields.ts';
import { serviceHostname } from '#controller/model/services.ts';

export interface IstioTrafficOptions {
  clusterId: string;
  rootNamespace: string;
  /** `<namespace>/<name>` of a Service → `<namespace>/<gateway>` of its waypoint, if it has one. */
  waypointOfService: (serviceKey: string) => string | undefined;
}

export interface CompiledTraffic {
  /** Every table to push, ordered by Service: the Gateway API tables given, and those VirtualServices and DestinationRules add. */
  routes: ServiceRoutes[];
  /** Conditions of VirtualServices and DestinationRules (the Gateway API routes report their own). */
  conditions: ResourceCondition[];
}

/** The Gateway API routes a table holds, to name them where a VirtualService gives way. */
function routesOf(table: ServiceRoutes): string | undefined {
  const names = [...new Set(table.entries.map((e) => `${e.route.kind} ${e.route.namespace}/${e.route.name}`))];
  return names.length === 0 ? undefined : names.join(', ');
}

/** `<namespace>/<hostname>` of every Service a table's requests can go to, itself first. */
function targetsOf(table: ServiceRoutes): string[] {
  const out = new Set<string>([table.service]);
  const mirrors = (filters: readonly RouteFilter[]): void => {
    for (const f of filters) if (f.type === 'RequestMirror') out.add(f.requestMirror.service);
  };
  for (const e of table.entries) {
    mirrors(e.filters);
    for (const b of e.backends) {
      if ('invalid' in b) continue;
      out.add(b.service);
      mirrors(b.filters ?? []);
    }
  }
  return [...out];
}

/** The Gateway API tables with VirtualService entries and DestinationRule policies joined in, and the Istio kinds' conditions. */
export function compileIstioTraffic(objects: ClusterObjects, gatewayRoutes: readonly ServiceRoutes[], opts: IstioTrafficOptions): CompiledTraffic {
  if (objects.virtualServices.size === 0 && objects.destinationRules.size === 0) return { routes: [...gatewayRoutes], conditions: [] };
  const destinationRules = new DestinationRuleIndex(objects, { clusterId: opts.clusterId, rootNamespace: opts.rootNamespace });
  const gateway = new Map(gatewayRoutes.map((t) => [t.service, t]));
  const virtual = compileVirtualServices(objects, {
    clusterId: opts.clusterId,
    waypointOfService: opts.waypointOfService,
    claimedBy: (service) => {
      const t = gateway.get(service);
      return t === undefined ? undefined : routesOf(t);
    },
    destinationRules,
  });

  const tables = new Map<string, ServiceRoutes>(gateway);
  // A Gateway API table without entries claims nothing, so a VirtualService table replaces it.
  for (const t of virtual.routes) tables.set(t.service, t);
  const hosts = servicesByHost(objects);
  if (objects.destinationRules.size > 0) {
    for (const [key, svc] of objects.services) {
      const waypoint = opts.waypointOfService(key);
      const service = `${svc.metadata.namespace}/${serviceHostname(svc)}`;
      if (waypoint === undefined || tables.has(service) || svc.spec.type === 'ExternalName') continue;
      tables.set(service, { service, waypoint, entries: [] });
    }
  }

  const routes: ServiceRoutes[] = [];
  for (const service of [...tables.keys()].sort()) {
    const table = tables.get(service);
    if (table === undefined) continue;
    const destinations: DestinationPolicy[] = [];
    if (objects.destinationRules.size > 0) {
      for (const target of targetsOf(table)) {
        const found = hosts.get(target.slice(target.indexOf('/') + 1));
        const policy = found === undefined ? undefined : destinationRules.policyFor(found.key, table.waypoint);
        if (policy !== undefined) destinations.push(policy);
      }
    }
    // A table made only to carry a policy is dropped when none applies.
    if (table.entries.length === 0 && destinations.length === 0 && !gateway.has(service)) continue;
    routes.push(destinations.length === 0 ? table : { ...table, destinations: destinations.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0)) });
  }
  return { routes, conditions: [...virtual.conditions, ...destinationRules.conditions()] };
}
