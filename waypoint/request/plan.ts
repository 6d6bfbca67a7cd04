// Plans one request at the waypoint, as a pure function of the config and the request:
// L7 authorization first (403 "RBAC: access denied"), then the Service's route table
// (Gateway API precedence, filters, weighted backends, and a VirtualService's source
// restrictions, subsets, faults and retry conditions), or, with no route for the Service,
// straight to the Service the client addressed. The forwarders carry the plan out.
import { resourceKey, type Workload } from '#core/config/model.ts';
import type { RouteEntry, RouteFilter, ServiceRoutes } from '#core/config/routes.ts';
import type { L7Authorization } from '#core/config/l7-authorization.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import { authorizeRequest } from '#waypoint/policy/authorize.ts';
import { decideFault } from '#waypoint/route/fault.ts';
import { changedPath, modifyHeaders, mirrorWanted, redirect, rewriteHost } from '#waypoint/route/filters.ts';
import { pickBackend } from '#waypoint/route/pick.ts';
import { hasRoutes, selectRoute } from '#waypoint/route/select.ts';
import { noEdit, type Backend, type HeaderMap, type MirrorPlan, type Plan, type RequestFacts } from '#waypoint/request/plan-types.ts';

export interface PlanState {
  routes(serviceKey: string): ServiceRoutes | undefined;
  policies(): readonly L7Authorization[];
}

export interface PlanInput {
  state: PlanState;
  facts: RequestFacts;
  source: { ip: string; principal: string; workload?: Workload | undefined };
  destinationIp: string;
  random: () => number;
}

/** Envoy's defaults when a GEP-1731 retry gives no attempts or backoff. */
const DEFAULT_RETRY_ATTEMPTS = 2;
const DEFAULT_RETRY_BACKOFF_MS = 25;

function namespaceOf(principal: string): string | undefined {
  try {
    return parseSpiffeId(principal).namespace;
  } catch {
    return undefined;
  }
}

function routeName(e: RouteEntry): string {
  return `${e.route.kind}/${e.route.namespace}/${e.route.name}#${e.route.ruleName ?? e.route.rule}`;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

export function planRequest(input: PlanInput): Plan {
  const { facts, source } = input;
  const service = facts.service;
  const serviceKey = service === undefined ? undefined : resourceKey.service(service);
  const sourceNamespace = namespaceOf(source.principal);

  const decision = authorizeRequest(input.state.policies(), {
    ...(serviceKey === undefined ? {} : { service: serviceKey }),
    sourcePrincipal: source.principal,
    ...(sourceNamespace === undefined ? {} : { sourceNamespace }),
    sourceIp: source.ip,
    remoteIp: facts.header('x-forwarded-for')?.split(',')[0]?.trim() || source.ip,
    destinationIp: input.destinationIp,
    destinationPort: facts.port,
    host: facts.authority,
    method: facts.method,
    path: pathOnly(facts.path),
    header: facts.header,
  });
  if (!decision.allowed) return { kind: 'respond', status: 403, body: 'RBAC: access denied', flags: 'RBAC' };

  const direct = (): Plan => {
    const backend: Backend | undefined = serviceKey !== undefined
      ? { kind: 'service', serviceKey, port: facts.port }
      : facts.workload !== undefined ? { kind: 'workload', workload: facts.workload, port: facts.port } : undefined;
    if (backend === undefined) return { kind: 'respond', status: 404, body: 'no such destination in the mesh', flags: 'NR' };
    return { kind: 'forward', backend, path: facts.path, editRequest: noEdit, editResponse: noEdit, mirrors: [] };
  };
  if (serviceKey === undefined) return direct();
  const table = input.state.routes(serviceKey);
  const routeReq = {
    method: facts.method, path: facts.path, port: facts.port, header: facts.header,
    ...(sourceNamespace === undefined ? {} : { sourceNamespace }),
    ...(source.workload === undefined ? {} : { sourceWorkload: source.workload.uid }),
  };
  if (table === undefined || !hasRoutes(table, routeReq)) return direct();
  const entry = selectRoute(table, routeReq);
  if (entry === undefined) return { kind: 'respond', status: 404, body: 'no route matched', flags: 'NR' };
  return planEntry(entry, facts, input.random);
}

/** The endpoint picker resolves the subset's workloads from the table's destinations. */
function serviceBackend(service: string, port: number, subset: string | undefined): Backend {
  return subset === undefined ? { kind: 'service', serviceKey: service, port } : { kind: 'service', serviceKey: service, port, subset };
}

function isGrpc(facts: RequestFacts): boolean {
  return (facts.header('content-type') ?? '').startsWith('application/grpc');
}

function planEntry(entry: RouteEntry, facts: RequestFacts, random: () => number): Plan {
  const route = routeName(entry);
  // The fault filter sits before routing: its delay holds whatever follows, its abort wins over redirects.
  const fault = decideFault(entry.fault, isGrpc(facts), random);
  const held = fault.delayMs === undefined ? {} : { delayMs: fault.delayMs };
  if (fault.abort !== undefined) {
    return {
      kind: 'respond', status: fault.abort.status, body: 'fault filter abort', flags: 'FI', route, ...held,
      ...(fault.abort.grpcStatus === undefined ? {} : { grpcStatus: fault.abort.grpcStatus }),
    };
  }
  let path = facts.path;
  let authority: string | undefined;
  const requestMods: RouteFilter[] = [];
  const responseMods: RouteFilter[] = [];
  const mirrors: MirrorPlan[] = [];
  const apply = (filters: readonly RouteFilter[]): Plan | undefined => {
    for (const f of filters) {
      switch (f.type) {
        case 'RequestRedirect': {
          const r = redirect({ scheme: facts.scheme, host: facts.authority, port: facts.port, path }, f.requestRedirect, entry.match);
          return { kind: 'respond', status: r.status, body: '', flags: '-', headers: { location: r.location }, route, ...held };
        }
        case 'URLRewrite':
          path = changedPath(path, entry.match, f.urlRewrite);
          if (f.urlRewrite.hostname !== undefined) authority = rewriteHost(authority ?? facts.authority, f.urlRewrite);
          break;
        case 'RequestHeaderModifier':
          requestMods.push(f);
          break;
        case 'ResponseHeaderModifier':
          responseMods.push(f);
          break;
        case 'RequestMirror':
          if (mirrorWanted(f.requestMirror, random)) mirrors.push({ backend: serviceBackend(f.requestMirror.service, f.requestMirror.port, f.requestMirror.subset) });
          break;
      }
    }
    return undefined;
  };
  const early = apply(entry.filters);
  if (early !== undefined) return early;
  const chosen = pickBackend(entry.backends, random);
  if (chosen === undefined) return { kind: 'respond', status: 500, body: 'no backend for this route', flags: 'NR', route, ...held };
  if ('invalid' in chosen) return { kind: 'respond', status: 500, body: `backend not usable: ${chosen.invalid}`, flags: 'NR', route, ...held };
  if (chosen.filters !== undefined) {
    const late = apply(chosen.filters);
    if (late !== undefined) return late;
  }
  const edit = (mods: RouteFilter[]) => (h: HeaderMap): void => {
    for (const f of mods) {
      const m = f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.type === 'ResponseHeaderModifier' ? f.responseHeaderModifier : undefined;
      if (m === undefined) continue;
      const next = modifyHeaders(h, m);
      for (const k of Object.keys(h)) delete h[k];
      for (const [k, v] of Object.entries(next)) if (v !== undefined) h[k] = v;
    }
  };
  const plan: Plan = {
    kind: 'forward',
    backend: serviceBackend(chosen.service, chosen.port, chosen.subset),
    path,
    ...held,
    editRequest: requestMods.length === 0 ? noEdit : edit(requestMods),
    editResponse: responseMods.length === 0 ? noEdit : edit(responseMods),
    mirrors,
    route,
  };
  if (authority !== undefined) plan.authority = authority;
  const t = entry.timeouts;
  if (t?.request !== undefined && t.request > 0) plan.timeoutMs = t.request;
  if (t?.backendRequest !== undefined && t.backendRequest > 0) plan.attemptTimeoutMs = t.backendRequest;
  if (entry.retry !== undefined) {
    plan.retry = {
      attempts: entry.retry.attempts ?? DEFAULT_RETRY_ATTEMPTS,
      codes: new Set(entry.retry.codes),
      backoffMs: entry.retry.backoff ?? DEFAULT_RETRY_BACKOFF_MS,
      avoidTried: entry.retry.ignorePreviousHosts ?? true,
    };
    if (entry.retry.on !== undefined) plan.retry.on = new Set(entry.retry.on);
  }
  return plan;
}
