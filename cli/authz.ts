// `weft authz check --from WORKLOAD --to SERVICE[:PORT] [--method M --path P]`: would this
// call be allowed, and by which policy and rule? Judged offline from the controller's model of
// the cluster (manifests or the API, cli/cluster-state.ts) with the proxies' own evaluators —
// the waypoint's L7 `authorizeRequest` when the service has a waypoint, then the destination
// ztunnel's L4 `authorize` for each endpoint, with the facts each proxy would see there: the
// caller's identity, or the waypoint's (the caller's address carried in `forwarded`).
// The deciding rule is found by asking the same evaluator about the deciding policy one rule
// at a time, so there is no second reading of the policy semantics here.
import type { Authorization, Resource, Service, Workload } from '#core/config/model.ts';
import type { L7Authorization } from '#core/config/l7-authorization.ts';
import { WeftError } from '#core/errors.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import { authorize } from '#ztunnel/rbac/authorize.ts';
import type { L4Connection } from '#ztunnel/rbac/authorize.ts';
import { selectPolicies } from '#ztunnel/rbac/select.ts';
import { workloadIdentity } from '#ztunnel/proxy/route.ts';
import { authorizeRequest } from '#waypoint/policy/authorize.ts';
import type { L7Request } from '#waypoint/policy/authorize.ts';
import { table } from '#cli/format.ts';
import type { Printable } from '#cli/output.ts';

export interface AuthzQuery {
  /** `<namespace>/<name>` of the calling workload (a pod's name). */
  from: string;
  /** `<namespace>/<service>` with an optional `:<port>`. */
  to: string;
  method?: string;
  path?: string;
}

export interface AuthzStep {
  layer: 'L7' | 'L4';
  /** Who enforces: `waypoint <ns>/<name>` or `ztunnel <node>`. */
  enforcer: string;
  /** What it is checking: the service, or the endpoint workload and address. */
  target: string;
  allowed: boolean;
  /** `<namespace>/<name>` of the deciding policy, when one decided. */
  policy?: string;
  /** Its rule that matched (index into spec.rules), when a policy decided by matching. */
  rule?: number;
  reason: string;
}

export interface AuthzResult {
  from: string;
  to: string;
  port: number;
  allowed: boolean;
  steps: AuthzStep[];
  notes: string[];
}

const refusal = (message: string, hint: string): WeftError => new WeftError('WEFT_ERR_AUTHZ', message, { hint });

function splitRef(ref: string, defaultNamespace: string): { namespace: string; name: string } {
  const slash = ref.indexOf('/');
  return slash < 0 ? { namespace: defaultNamespace, name: ref } : { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

function parseTarget(to: string, defaultNamespace: string): { namespace: string; name: string; port: number | undefined } {
  const m = /^([^:]+)(?::(\d+))?$/.exec(to);
  if (m === null) throw refusal(`--to ${JSON.stringify(to)} is not SERVICE[:PORT]`, 'for example --to shop/web:80');
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw refusal(`--to ${to}: port ${port} is out of range`, 'a port is 1-65535');
  return { ...splitRef(m[1] ?? '', defaultNamespace), port };
}

/** The rule of `policy` that matches, by asking `matches` about the policy one rule at a time. */
function decidingRule<P extends { rules: readonly unknown[] }>(policy: P, matches: (single: P) => boolean): number | undefined {
  for (let i = 0; i < policy.rules.length; i++) {
    if (matches({ ...policy, rules: [policy.rules[i]], dryRun: false })) return i;
  }
  return undefined;
}

const policyKey = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

export function checkAuthorization(resources: Iterable<Resource>, q: AuthzQuery, defaultNamespace: string): AuthzResult {
  const workloads: Workload[] = [];
  const services: Service[] = [];
  const l4: Authorization[] = [];
  const l7: L7Authorization[] = [];
  for (const r of resources) {
    if (r.kind === 'workload') workloads.push(r.value);
    else if (r.kind === 'service') services.push(r.value);
    else if (r.kind === 'authorization') l4.push(r.value);
    else if (r.kind === 'l7authorization') l7.push(r.value);
  }
  const from = splitRef(q.from, defaultNamespace);
  const source = workloads.find((w) => w.namespace === from.namespace && w.name === from.name);
  if (source === undefined) throw refusal(`no running workload ${from.namespace}/${from.name}`, `--from names a pod; weft workloads lists them`);
  const to = parseTarget(q.to, defaultNamespace);
  const service = services.find((s) => s.namespace === to.namespace && (s.name === to.name || s.hostname === to.name));
  if (service === undefined) throw refusal(`no service ${to.namespace}/${to.name}`, 'is it declared, and in the namespace -n or the --to prefix names?');
  const port = to.port ?? service.ports[0]?.servicePort;
  const servicePort = service.ports.find((p) => p.servicePort === port);
  if (port === undefined || servicePort === undefined) {
    throw refusal(`service ${to.namespace}/${service.name} has no port ${String(port)}`, `its ports: ${service.ports.map((p) => p.servicePort).join(', ') || 'none'}`);
  }
  const serviceKey = `${service.namespace}/${service.hostname}`;
  const sourceIp = source.addresses[0] ?? '';
  const meshed = source.tunnelProtocol === 'HBONE';
  const principal = meshed ? workloadIdentity(source) : undefined;
  const steps: AuthzStep[] = [];
  const notes: string[] = [];
  if (!meshed) notes.push(`${from.namespace}/${from.name} is not in the mesh: it calls without an identity (plaintext, where PeerAuthentication allows it)`);

  let peer = principal;
  const waypoint = service.waypoint;
  if (waypoint !== undefined && meshed) {
    // A waypoint's identity is its Gateway's service account (the controller names it after the Gateway).
    const id = parseSpiffeId(waypoint.identity);
    const enforcer = `${id.namespace}/${id.serviceAccount}`;
    const policies = l7.filter((p) => p.waypoint === enforcer);
    const req = (method: string): L7Request => ({
      service: serviceKey, sourcePrincipal: principal ?? '', sourceIp, remoteIp: sourceIp, destinationIp: service.addresses[0] ?? '', destinationPort: port,
      host: `${service.hostname}:${port}`, method, path: q.path ?? '/', header: () => undefined,
    });
    const r = req(q.method ?? 'GET');
    const d = authorizeRequest(policies, r);
    const decider = d.policy === undefined ? undefined : policies.find((p) => policyKey(p) === d.policy);
    const rule = decider === undefined ? undefined : decidingRule(decider, (single) => authorizeRequest([single], r).policy !== undefined);
    steps.push({
      layer: 'L7', enforcer: `waypoint ${enforcer}`, target: `${service.hostname}:${port} ${r.method} ${r.path}`,
      allowed: d.allowed, ...(d.policy === undefined ? {} : { policy: d.policy }), ...(rule === undefined ? {} : { rule }), reason: d.reason,
    });
    if (q.method === undefined || q.path === undefined) notes.push(`the waypoint checks method and path: judged as ${r.method} ${r.path}`);
    peer = waypoint.identity;
  } else if (q.method !== undefined || q.path !== undefined) {
    notes.push(waypoint === undefined
      ? `service ${service.namespace}/${service.name} has no waypoint: nothing checks method or path (L4 only)`
      : 'a caller outside the mesh bypasses the waypoint: L4 only');
  }

  const endpoints = workloads.filter((w) => w.services[serviceKey]?.[String(port)] !== undefined);
  if (endpoints.length === 0) notes.push(`service ${service.namespace}/${service.name} has no running endpoint on port ${port}`);
  for (const w of endpoints) {
    const targetPort = w.services[serviceKey]?.[String(port)] ?? servicePort.targetPort;
    const address = w.addresses[0] ?? '';
    const target = `${w.namespace}/${w.name} ${address}:${targetPort}`;
    if (w.tunnelProtocol !== 'HBONE') {
      steps.push({ layer: 'L4', enforcer: '-', target, allowed: true, reason: 'destination not in the mesh: no ztunnel enforces policy' });
      continue;
    }
    const conn: L4Connection = { ...(peer === undefined ? {} : { sourcePrincipal: peer }), sourceIp, destinationIp: address, destinationPort: targetPort };
    const policies = selectPolicies(w, l4);
    const d = authorize(conn, policies);
    const decider = d.policy === undefined ? undefined : policies.find((p) => policyKey(p) === d.policy);
    const rule = decider === undefined ? undefined : decidingRule(decider, (single) => authorize(conn, [single]).policy !== undefined);
    steps.push({
      layer: 'L4', enforcer: `ztunnel ${w.node}`, target, allowed: d.allow,
      ...(d.policy === undefined ? {} : { policy: d.policy }), ...(rule === undefined ? {} : { rule }), reason: d.reason,
    });
  }
  const l4Steps = steps.filter((s) => s.layer === 'L4');
  return {
    from: `${from.namespace}/${from.name}`, to: `${service.namespace}/${service.name}`, port,
    allowed: steps.every((s) => s.allowed) && l4Steps.length > 0, steps, notes,
  };
}

export function authzPrintable(r: AuthzResult): Printable {
  return {
    data: r,
    table: (wide) => {
      const header = ['LAYER', 'ENFORCER', 'DECISION', 'POLICY', 'RULE', ...(wide ? ['TARGET'] : []), 'REASON'];
      const rows = r.steps.map((s) => [s.layer, s.enforcer, s.allowed ? 'ALLOW' : 'DENY', s.policy ?? '-', s.rule === undefined ? '-' : `rules[${s.rule}]`,
        ...(wide ? [s.target] : []), s.reason]);
      const notes = r.notes.map((n) => `note: ${n}\n`).join('');
      return `${table(header, rows)}${notes}${r.from} -> ${r.to}:${r.port}: ${r.allowed ? 'ALLOWED' : 'DENIED'}\n`;
    },
  };
}
