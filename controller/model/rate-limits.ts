// Envoy Gateway's BackendTrafficPolicy `spec.rateLimit` → the rate limits of the waypoint route
// tables, with one Accepted condition per policy. A policy attaches by `targetRefs` to an
// HTTPRoute or GRPCRoute (its requests only), a Service (every request for it) or a waypoint
// Gateway (every Service it serves). `type: Local` counts in each waypoint replica, `Global` in
// the Redis every waypoint shares (each waypoint needs its Redis address; without one, or
// while Redis is down, it lets requests through unless configured to fail closed).
import {
  HEADER_NAME,
  RATE_LIMIT_UNITS,
  regexProblem,
  type RateLimitHeaderMatch,
  type RateLimitPolicy,
  type RateLimitRule,
  type RateLimitSelector,
  type RateLimitSourceMatch,
  type RateLimitUnit,
  type ServiceRoutes,
} from '#core/config/routes.ts';
import { isIP } from 'node:net';
import type { BackendTrafficPolicy, ClusterObjects, ParentReference, PolicyTargetRef } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { serviceHostname } from '#controller/model/services.ts';

export interface RateLimitOptions {
  /** `<namespace>/<name>` of a Service → `<namespace>/<gateway>` of its waypoint, if it has one. */
  waypointOfService: (serviceKey: string) => string | undefined;
  /** Whether `<namespace>/<name>` is a waypoint Gateway. */
  isWaypoint: (gatewayKey: string) => boolean;
}

export interface CompiledRateLimits {
  /** The tables given, with `rateLimits` added where a policy applies, and tables made for Services that had none. */
  routes: ServiceRoutes[];
  conditions: ResourceCondition[];
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const RATE_LIMIT_FIELDS = ['type', 'local', 'global'];
const RULES_FIELDS = ['rules'];
const RULE_FIELDS = ['clientSelectors', 'limit'];
const RULE_UNSUPPORTED = ['cost', 'shared', 'shadowMode'];
const SELECTOR_FIELDS = ['headers', 'sourceCIDR'];
const SELECTOR_UNSUPPORTED = ['methods', 'path', 'queryParams', 'sourceIP'];
const HEADER_FIELDS = ['name', 'type', 'value', 'invert'];
const CIDR_FIELDS = ['type', 'value'];
const LIMIT_FIELDS = ['requests', 'unit'];

/** A problem with one field of a policy, as `<path>: <why>`. */
interface Problem {
  path: string;
  why: string;
}

function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Readonly<Record<string, unknown>>, path: string, known: readonly string[], unsupported: readonly string[], out: Problem[]): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    out.push({ path: `${path}.${k}`, why: unsupported.includes(k) ? 'not supported by weft' : 'unknown field' });
  }
}

function isCidr(v: string): boolean {
  const [addr = '', bits, extra] = v.split('/');
  const family = isIP(addr);
  if (family === 0 || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function readHeader(v: unknown, path: string, out: Problem[]): RateLimitHeaderMatch | undefined {
  if (!isRecord(v)) return void out.push({ path, why: 'must be an object' });
  unknownKeys(v, path, HEADER_FIELDS, [], out);
  const name = v['name'];
  if (typeof name !== 'string' || !HEADER_NAME.test(name)) return void out.push({ path: `${path}.name`, why: 'must be a header name' });
  const type = v['type'] ?? 'Exact';
  if (type !== 'Exact' && type !== 'RegularExpression' && type !== 'Distinct') {
    return void out.push({ path: `${path}.type`, why: 'must be Exact, RegularExpression or Distinct' });
  }
  const invert = v['invert'] ?? false;
  if (typeof invert !== 'boolean') return void out.push({ path: `${path}.invert`, why: 'must be a boolean' });
  const value = v['value'];
  if (type === 'Distinct') {
    if (value !== undefined) return void out.push({ path: `${path}.value`, why: 'must be absent with type Distinct' });
    if (invert) return void out.push({ path: `${path}.invert`, why: 'cannot be true with type Distinct' });
    return { name: name.toLowerCase(), type, invert };
  }
  if (typeof value !== 'string') return void out.push({ path: `${path}.value`, why: `must be a string with type ${type}` });
  if (type === 'RegularExpression') {
    const problem = regexProblem(value);
    if (problem !== undefined) return void out.push({ path: `${path}.value`, why: problem });
  }
  return { name: name.toLowerCase(), type, value, invert };
}

function readSourceCidr(v: unknown, path: string, out: Problem[]): RateLimitSourceMatch | undefined {
  if (!isRecord(v)) return void out.push({ path, why: 'must be an object' });
  unknownKeys(v, path, CIDR_FIELDS, [], out);
  const type = v['type'] ?? 'Exact';
  if (type !== 'Exact' && type !== 'Distinct') return void out.push({ path: `${path}.type`, why: 'must be Exact or Distinct' });
  const value = v['value'];
  if (typeof value !== 'string' || !isCidr(value)) return void out.push({ path: `${path}.value`, why: 'must be a CIDR block such as 10.0.0.0/8' });
  return { type, value };
}

function readSelector(v: unknown, path: string, out: Problem[]): RateLimitSelector | undefined {
  if (!isRecord(v)) return void out.push({ path, why: 'must be an object' });
  const before = out.length;
  unknownKeys(v, path, SELECTOR_FIELDS, SELECTOR_UNSUPPORTED, out);
  const rawHeaders = v['headers'] ?? [];
  if (!Array.isArray(rawHeaders)) return void out.push({ path: `${path}.headers`, why: 'must be a list' });
  const headers = rawHeaders.map((h, i) => readHeader(h, `${path}.headers[${i}]`, out));
  const sourceCIDR = v['sourceCIDR'] === undefined ? undefined : readSourceCidr(v['sourceCIDR'], `${path}.sourceCIDR`, out);
  // A selector weft reads only in part would select more clients than written: leave its rule out.
  if (out.length > before) return undefined;
  const selector: RateLimitSelector = { headers: headers.filter((h) => h !== undefined) };
  if (sourceCIDR !== undefined) selector.sourceCIDR = sourceCIDR;
  if (selector.headers.length === 0 && selector.sourceCIDR === undefined) return void out.push({ path, why: 'must set headers or sourceCIDR' });
  return selector;
}

function isUnit(v: unknown): v is RateLimitUnit {
  return typeof v === 'string' && (RATE_LIMIT_UNITS as readonly string[]).includes(v);
}

/** A rule, or undefined with the reason recorded: a rule weft cannot read whole is left out. */
function readRule(v: unknown, path: string, out: Problem[]): RateLimitRule | undefined {
  if (!isRecord(v)) return void out.push({ path, why: 'must be an object' });
  const before = out.length;
  unknownKeys(v, path, RULE_FIELDS, RULE_UNSUPPORTED, out);
  const rawSelectors = v['clientSelectors'] ?? [];
  if (!Array.isArray(rawSelectors)) return void out.push({ path: `${path}.clientSelectors`, why: 'must be a list' });
  const selectors = rawSelectors.map((s, i) => readSelector(s, `${path}.clientSelectors[${i}]`, out));
  const limit = v['limit'];
  if (!isRecord(limit)) return void out.push({ path: `${path}.limit`, why: 'must be an object with requests and unit' });
  unknownKeys(limit, `${path}.limit`, LIMIT_FIELDS, [], out);
  const requests = limit['requests'];
  if (typeof requests !== 'number' || !Number.isInteger(requests) || requests < 1 || requests > 2 ** 31 - 1) {
    out.push({ path: `${path}.limit.requests`, why: 'must be a whole number of at least 1' });
  }
  const unit = limit['unit'];
  if (!isUnit(unit)) out.push({ path: `${path}.limit.unit`, why: `must be one of ${RATE_LIMIT_UNITS.join(', ')}` });
  if (out.length > before || typeof requests !== 'number' || !isUnit(unit)) return undefined;
  return { clientSelectors: selectors.filter((s) => s !== undefined), requests, unit };
}

interface ReadPolicy {
  type: 'Local' | 'Global';
  rules: RateLimitRule[];
  problems: Problem[];
  /** Set when the policy cannot apply at all. */
  refused?: { reason: string; message: string };
}

function readRateLimit(policy: BackendTrafficPolicy): ReadPolicy {
  const problems: Problem[] = (policy.fieldProblems ?? []).map((p) => ({ path: p.path, why: p.message }));
  const rl = policy.spec.rateLimit;
  const none = { type: 'Local' as const, rules: [], problems };
  if (rl === undefined) return { ...none, refused: { reason: 'Invalid', message: 'spec.rateLimit is not set; weft implements only the rate limit of a BackendTrafficPolicy' } };
  unknownKeys(rl, 'spec.rateLimit', RATE_LIMIT_FIELDS, [], problems);
  const type = rl['type'];
  if (type !== 'Local' && type !== 'Global') return { ...none, refused: { reason: 'Invalid', message: 'spec.rateLimit.type must be Local or Global' } };
  const field = type === 'Local' ? 'local' : 'global';
  const other = type === 'Local' ? 'global' : 'local';
  if (rl[other] !== undefined) problems.push({ path: `spec.rateLimit.${other}`, why: `ignored with type ${type}` });
  const section = rl[field];
  if (!isRecord(section)) return { ...none, type, refused: { reason: 'Invalid', message: `spec.rateLimit.${field} must be set with type ${type}` } };
  unknownKeys(section, `spec.rateLimit.${field}`, RULES_FIELDS, [], problems);
  const raw = section['rules'];
  if (!Array.isArray(raw) || raw.length === 0) return { ...none, type, refused: { reason: 'Invalid', message: `spec.rateLimit.${field}.rules must list at least one rule` } };
  const rules = raw.map((r, i) => readRule(r, `spec.rateLimit.${field}.rules[${i}]`, problems)).filter((r) => r !== undefined);
  if (rules.length === 0) return { type, rules, problems, refused: { reason: 'Invalid', message: `no rule of spec.rateLimit.${field}.rules can be used` } };
  return { type, rules, problems };
}

/**
 * Policy status is per ancestor, as Envoy Gateway reports it (`status.ancestors[]`): each
 * condition names the ancestor it is for — the waypoint Gateway the policy acts through, or
 * the target itself when it reaches no waypoint.
 */
export interface PolicyCondition extends ResourceCondition {
  parentRef: ParentReference;
}

function gatewayRef(key: string): ParentReference {
  const slash = key.indexOf('/');
  return { group: GATEWAY_GROUP, kind: 'Gateway', namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

function targetAncestor(ref: PolicyTargetRef, namespace: string): ParentReference {
  return { group: ref.group ?? '', kind: ref.kind, namespace: ref.namespace ?? namespace, name: ref.name };
}

/** Where one target reference sends the policy: table keys, and the route it is limited to. */
type Attachment = { services: string[]; route?: string } | { problem: string };

export function compileRateLimits(objects: ClusterObjects, tables: readonly ServiceRoutes[], opts: RateLimitOptions): CompiledRateLimits {
  if (objects.backendTrafficPolicies.size === 0) return { routes: [...tables], conditions: [] };
  const byService = new Map(tables.map((t) => [t.service, t]));
  /** Table key (`<namespace>/<hostname>`) → waypoint, for every meshed Service with a waypoint. */
  const waypointServices = new Map<string, string>();
  for (const [key, svc] of objects.services) {
    const waypoint = opts.waypointOfService(key);
    if (waypoint !== undefined && svc.spec.type !== 'ExternalName') waypointServices.set(`${svc.metadata.namespace}/${serviceHostname(svc)}`, waypoint);
  }
  const added = new Map<string, RateLimitPolicy[]>();
  const conditions: ResourceCondition[] = [];

  const attach = (ref: PolicyTargetRef, namespace: string): Attachment => {
    const group = ref.group ?? '';
    const where = `${ref.kind} ${namespace}/${ref.name}`;
    if (ref.namespace !== undefined && ref.namespace !== namespace) return { problem: `${where}: a targetRef names an object in the policy's own namespace only` };
    if ((ref.kind === 'HTTPRoute' || ref.kind === 'GRPCRoute') && group === GATEWAY_GROUP) {
      const route = `${ref.kind}/${namespace}/${ref.name}`;
      const services = tables.filter((t) => t.entries.some((e) => e.route.kind === ref.kind && e.route.namespace === namespace && e.route.name === ref.name)).map((t) => t.service);
      return services.length === 0 ? { problem: `${where} routes no Service served by a waypoint` } : { services, route };
    }
    if (ref.kind === 'Service' && (group === '' || group === 'core')) {
      const svc = objects.services.get(`${namespace}/${ref.name}`);
      if (svc === undefined) return { problem: `${where} does not exist` };
      const key = `${namespace}/${serviceHostname(svc)}`;
      return waypointServices.has(key) ? { services: [key] } : { problem: `${where} uses no waypoint; weft enforces rate limits in waypoints only` };
    }
    if (ref.kind === 'Gateway' && group === GATEWAY_GROUP) {
      const gw = `${namespace}/${ref.name}`;
      if (!opts.isWaypoint(gw)) return { problem: `${where} is not a waypoint` };
      const services = [...waypointServices].filter(([, w]) => w === gw).map(([s]) => s);
      return services.length === 0 ? { problem: `${where} serves no Service yet` } : { services };
    }
    return { problem: `${where} (group ${group === '' ? 'core' : group}): weft attaches rate limits to an HTTPRoute, a GRPCRoute, a Service or a waypoint Gateway` };
  };

  for (const key of [...objects.backendTrafficPolicies.keys()].sort()) {
    const policy = objects.backendTrafficPolicies.get(key);
    if (policy === undefined) continue;
    const { namespace, name } = policy.metadata;
    const base = { kind: 'BackendTrafficPolicy', namespace, name, type: 'Accepted' };
    /** One condition for each ancestor; none named (no target at all), one without. */
    const report = (ancestors: readonly ParentReference[], c: Pick<ResourceCondition, 'status' | 'reason' | 'message'>): void => {
      if (ancestors.length === 0) conditions.push({ ...base, ...c });
      for (const parentRef of ancestors) {
        const withAncestor: PolicyCondition = { ...base, ...c, parentRef };
        conditions.push(withAncestor);
      }
    };
    const targets = policy.spec.targetRefs.map((r) => targetAncestor(r, namespace));
    const read = readRateLimit(policy);
    const left = read.problems.length === 0 ? '' : `; weft leaves out ${read.problems.map((p) => `${p.path} (${p.why})`).join('; ')}`;
    if (read.refused !== undefined) {
      report(targets, { status: 'False', reason: read.refused.reason, message: `${read.refused.message}${left}; the policy has no effect` });
      continue;
    }
    if (policy.spec.targetRefs.length === 0) {
      report([], { status: 'False', reason: 'Invalid', message: `spec.targetRefs is empty${left}; the policy has no effect` });
      continue;
    }
    const applied: string[] = [];
    const waypoints = new Set<string>();
    const missed: string[] = [];
    for (const ref of policy.spec.targetRefs) {
      const a = attach(ref, namespace);
      if ('problem' in a) {
        missed.push(a.problem);
        continue;
      }
      for (const service of a.services) {
        const waypoint = waypointServices.get(service) ?? byService.get(service)?.waypoint;
        if (waypoint !== undefined) waypoints.add(waypoint);
        const limit: RateLimitPolicy = { policy: key, type: read.type, rules: read.rules };
        if (a.route !== undefined) limit.routes = [a.route];
        const list = added.get(service) ?? [];
        list.push(limit);
        added.set(service, list);
        applied.push(a.route === undefined ? service : `${service} (${a.route})`);
      }
    }
    const notes = `${missed.length === 0 ? '' : `; not attached: ${missed.join('; ')}`}${left}`;
    if (applied.length === 0) {
      report(targets, { status: 'False', reason: 'TargetNotFound', message: `${missed.join('; ')}${left}; the policy has no effect` });
      continue;
    }
    report([...waypoints].sort().map(gatewayRef), { status: 'True', reason: 'Accepted', message: `${read.type === 'Local' ? 'local limit (per waypoint replica)' : 'global limit (shared through Redis)'} applied to requests for ${applied.join(', ')}${notes}` });
  }

  const out = new Map(byService);
  for (const [service, limits] of added) {
    const table = out.get(service);
    const waypoint = table?.waypoint ?? waypointServices.get(service);
    if (waypoint === undefined) continue;
    // A Service without a route still gets a table: without entries the waypoint sends its requests straight on, limited.
    out.set(service, { ...(table ?? { service, waypoint, entries: [] }), rateLimits: limits });
  }
  return { routes: [...out.keys()].sort().map((k) => out.get(k)).filter((t) => t !== undefined), conditions };
}
