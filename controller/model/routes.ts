// HTTPRoute and GRPCRoute → the route tables waypoints apply, with a status condition per
// parentRef. Rules arrive as raw JSON: every key is checked, and a route with anything weft
// cannot honour is left out whole (Accepted=False naming the field) while the others keep
// working. Entries come out flattened (one per match) and sorted in the Gateway API's
// precedence order, so the waypoint only has to take the first one that matches.
import { FieldError, obj } from '#core/config/fields.ts';
import type { Obj } from '#core/config/fields.ts';
import {
  HEADER_NAME, HTTP_METHODS, PRECISE_HOSTNAME, REDIRECT_STATUS_CODES, normalizePathPrefix, parseGatewayDuration, pathValueProblem,
  regexProblem,
} from '#core/config/routes.ts';
import type {
  GrpcMethodMatch, GrpcRouteMatch, HeaderMatch, HeaderModifier, HeaderValue, HttpRouteMatch, PathMatch, PathModifier,
  QueryParamMatch, RequestRedirect, RouteAttachment, RouteBackend, RouteEntry, RouteFilter, RouteKind, RouteMatch,
  RouteRetry, RouteTimeouts, ServiceRoutes, UrlRewrite, ValueMatchType,
} from '#core/config/routes.ts';
import type { ClusterObjects, GRPCRoute, HTTPRoute, ParentReference, Service } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { serviceHostname } from '#controller/model/services.ts';

/** Route status is per parent in the Gateway API: each condition names the parentRef it is for. */
export interface RouteCondition extends ResourceCondition {
  parentRef: ParentReference;
}

export interface RouteCompileOptions {
  trustDomain: string;
  /** `<namespace>/<name>` of a Service → `<namespace>/<gateway>` of its waypoint, if it has one. */
  waypointOfService: (serviceKey: string) => string | undefined;
}

export interface CompiledRoutes {
  /** One table per Service with at least one route applied, ordered by Service key. */
  routes: ServiceRoutes[];
  conditions: RouteCondition[];
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

// ---- Reading the raw rules ----

type SpecReason = 'UnsupportedValue' | 'IncompatibleFilters';

/** A rule weft cannot honour; the route is left out and reports this reason and field. */
class RouteSpecError extends FieldError {
  readonly reason: SpecReason;

  constructor(path: string, message: string, reason: SpecReason = 'UnsupportedValue') {
    super(path, message);
    this.name = 'RouteSpecError';
    this.reason = reason;
  }
}

function get(o: Obj, key: string): unknown {
  // Kubernetes treats an explicit null like an absent optional field.
  return o[key] ?? undefined;
}

/** The object at `path`, refusing any key not in `known`, and naming the ones weft knows but does not do. */
function fields(v: unknown, path: string, known: readonly string[], unsupported: Readonly<Record<string, string>> = {}): Obj {
  const o = obj(v, path);
  for (const key of Object.keys(o)) {
    if (get(o, key) === undefined) continue;
    const why = unsupported[key];
    if (why !== undefined) throw new RouteSpecError(`${path}.${key}`, `is not supported: ${why}`);
    if (!known.includes(key)) throw new RouteSpecError(`${path}.${key}`, 'is not a field of this object (check the spelling and the Gateway API version)');
  }
  return o;
}

function list<T>(o: Obj, key: string, path: string, max: number, read: (v: unknown, path: string) => T): T[] {
  const v = get(o, key);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new FieldError(`${path}.${key}`, 'must be a list');
  if (v.length > max) throw new FieldError(`${path}.${key}`, `must have at most ${max} items`);
  return v.map((x, i) => read(x, `${path}.${key}[${i}]`));
}

function text(o: Obj, key: string, path: string, opts: { empty?: boolean; max?: number } = {}): string {
  const v = get(o, key);
  if (typeof v !== 'string') throw new FieldError(`${path}.${key}`, 'must be a string');
  if (v === '' && opts.empty !== true) throw new FieldError(`${path}.${key}`, 'must not be empty');
  if (opts.max !== undefined && v.length > opts.max) throw new FieldError(`${path}.${key}`, `must be at most ${opts.max} characters`);
  return v;
}

function optText(o: Obj, key: string, path: string, opts: { empty?: boolean; max?: number } = {}): string | undefined {
  return get(o, key) === undefined ? undefined : text(o, key, path, opts);
}

function integer(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = get(o, key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new FieldError(`${path}.${key}`, `must be an integer in ${min}-${max}`);
  return v;
}

function optInteger(o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  return get(o, key) === undefined ? undefined : integer(o, key, path, min, max);
}

function enumValue<T extends string | number>(o: Obj, key: string, path: string, values: readonly T[], fallback: T): T {
  const v = get(o, key);
  if (v === undefined) return fallback;
  const found = values.find((x) => x === v);
  if (found === undefined) throw new RouteSpecError(`${path}.${key}`, `${JSON.stringify(v)} is not one of ${values.join(', ')}`);
  return found;
}

function duration(o: Obj, key: string, path: string): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' ? parseGatewayDuration(v) : undefined;
  if (ms === undefined) throw new FieldError(`${path}.${key}`, `${JSON.stringify(v)} is not a Gateway API duration (e.g. 500ms, 10s, 1h30m)`);
  return ms;
}

function regex(value: string, path: string): string {
  const problem = regexProblem(value);
  if (problem !== undefined) throw new FieldError(path, problem);
  return value;
}

const SECTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function headerName(o: Obj, key: string, path: string): string {
  const name = text(o, key, path, { max: 256 });
  if (!HEADER_NAME.test(name)) throw new FieldError(`${path}.${key}`, `${JSON.stringify(name)} is not a header name`);
  return name;
}

function pathMatch(v: unknown, path: string): PathMatch {
  const o = fields(v, path, ['type', 'value']);
  const type = enumValue(o, 'type', path, ['Exact', 'PathPrefix', 'RegularExpression'] as const, 'PathPrefix');
  const value = optText(o, 'value', path, { max: 1024 }) ?? '/';
  if (type === 'RegularExpression') return { type, value: regex(value, `${path}.value`) };
  const problem = pathValueProblem(value);
  if (problem !== undefined) throw new FieldError(`${path}.value`, problem);
  return { type, value: type === 'PathPrefix' ? normalizePathPrefix(value) : value };
}

function valueMatch(o: Obj, path: string, max: number): { type: ValueMatchType; value: string } {
  const type = enumValue(o, 'type', path, ['Exact', 'RegularExpression'] as const, 'Exact');
  const value = text(o, 'value', path, { max });
  return { type, value: type === 'RegularExpression' ? regex(value, `${path}.value`) : value };
}

/** Only the first of several entries with the same (case-insensitive) name counts, as the spec says. */
function headerMatches(o: Obj, path: string): HeaderMatch[] {
  const out: HeaderMatch[] = [];
  for (const h of list(o, 'headers', path, 16, (v, p) => {
    const m = fields(v, p, ['type', 'name', 'value']);
    return { name: headerName(m, 'name', p).toLowerCase(), ...valueMatch(m, p, 4096) };
  })) {
    if (!out.some((x) => x.name === h.name)) out.push(h);
  }
  return out;
}

function queryParamMatches(o: Obj, path: string): QueryParamMatch[] {
  const out: QueryParamMatch[] = [];
  for (const q of list(o, 'queryParams', path, 16, (v, p) => {
    const m = fields(v, p, ['type', 'name', 'value']);
    return { name: headerName(m, 'name', p), ...valueMatch(m, p, 1024) };
  })) {
    if (!out.some((x) => x.name === q.name)) out.push(q);
  }
  return out;
}

function httpMatch(v: unknown, path: string): HttpRouteMatch {
  const o = fields(v, path, ['path', 'headers', 'queryParams', 'method']);
  const m: HttpRouteMatch = {
    protocol: 'http',
    path: get(o, 'path') === undefined ? { type: 'PathPrefix', value: '/' } : pathMatch(o['path'], `${path}.path`),
    headers: headerMatches(o, path),
    queryParams: queryParamMatches(o, path),
  };
  if (get(o, 'method') !== undefined) m.method = enumValue(o, 'method', path, HTTP_METHODS, 'GET');
  return m;
}

function grpcMethodMatch(v: unknown, path: string): GrpcMethodMatch {
  const o = fields(v, path, ['type', 'service', 'method']);
  const type = enumValue(o, 'type', path, ['Exact', 'RegularExpression'] as const, 'Exact');
  const m: GrpcMethodMatch = { type };
  const checks = { service: GRPC_SERVICE, method: GRPC_METHOD } as const;
  for (const key of ['service', 'method'] as const) {
    // An empty value matches anything, as an absent one does.
    const value = optText(o, key, path, { empty: true, max: 1024 });
    if (value === undefined || value === '') continue;
    if (type === 'RegularExpression') m[key] = regex(value, `${path}.${key}`);
    else if (!checks[key].test(value)) throw new FieldError(`${path}.${key}`, `${JSON.stringify(value)} is not a valid gRPC ${key} name`);
    else m[key] = value;
  }
  if (m.service === undefined && m.method === undefined) throw new FieldError(path, 'must set service or method');
  return m;
}

function grpcMatch(v: unknown, path: string): GrpcRouteMatch {
  const o = fields(v, path, ['method', 'headers']);
  const m: GrpcRouteMatch = { protocol: 'grpc', headers: headerMatches(o, path) };
  if (get(o, 'method') !== undefined) m.method = grpcMethodMatch(o['method'], `${path}.method`);
  return m;
}

/** A backend or mirror reference before it is resolved against the cluster. */
interface RawRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  port?: number;
}

function rawRef(o: Obj, path: string): RawRef {
  const group = optText(o, 'group', path, { empty: true }) ?? '';
  const ref: RawRef = {
    group: group === 'core' ? '' : group,
    kind: optText(o, 'kind', path) ?? 'Service',
    name: text(o, 'name', path, { max: 253 }),
  };
  const namespace = optText(o, 'namespace', path);
  const port = optInteger(o, 'port', path, 1, 65535);
  if (namespace !== undefined) ref.namespace = namespace;
  if (port !== undefined) ref.port = port;
  if (ref.group === '' && ref.kind === 'Service' && port === undefined) throw new FieldError(`${path}.port`, 'is required for a Service reference');
  return ref;
}

type PendingMirror = { type: 'RequestMirror'; ref: RawRef; path: string; fraction: { numerator: number; denominator: number } };
/** A filter as read; mirrors still hold the reference they name. */
type PendingFilter = Exclude<RouteFilter, { type: 'RequestMirror' }> | PendingMirror;

function headerModifier(v: unknown, path: string): HeaderModifier {
  const o = fields(v, path, ['set', 'add', 'remove']);
  const value = (x: unknown, p: string): HeaderValue => {
    const h = fields(x, p, ['name', 'value']);
    return { name: headerName(h, 'name', p), value: text(h, 'value', p, { max: 4096 }) };
  };
  const m: HeaderModifier = {
    set: list(o, 'set', path, 16, value),
    add: list(o, 'add', path, 16, value),
    remove: list(o, 'remove', path, 16, (x, p) => {
      if (typeof x !== 'string' || !HEADER_NAME.test(x)) throw new FieldError(p, 'must be a header name');
      return x;
    }),
  };
  const seen = new Set<string>();
  for (const name of [...m.set.map((h) => h.name), ...m.add.map((h) => h.name), ...m.remove]) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new FieldError(path, `header ${name} has more than one action (only one of set, add, remove per name)`);
    seen.add(lower);
  }
  return m;
}

function pathModifier(v: unknown, path: string): PathModifier {
  const o = fields(v, path, ['type', 'replaceFullPath', 'replacePrefixMatch']);
  if (get(o, 'type') === undefined) throw new FieldError(`${path}.type`, 'is required');
  const type = enumValue(o, 'type', path, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const, 'ReplaceFullPath');
  const other = type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (get(o, other) !== undefined) throw new FieldError(`${path}.${other}`, `must not be set when type is ${type}`);
  if (type === 'ReplaceFullPath') {
    const value = text(o, 'replaceFullPath', path, { max: 1024 });
    if (!value.startsWith('/')) throw new FieldError(`${path}.replaceFullPath`, 'must start with "/"');
    return { type, replaceFullPath: value };
  }
  const value = text(o, 'replacePrefixMatch', path, { empty: true, max: 1024 });
  if (value !== '' && !value.startsWith('/')) throw new FieldError(`${path}.replacePrefixMatch`, 'must be empty or start with "/"');
  return { type, replacePrefixMatch: value };
}

function preciseHostname(o: Obj, key: string, path: string): string | undefined {
  const v = optText(o, key, path, { max: 253 });
  if (v !== undefined && !PRECISE_HOSTNAME.test(v)) throw new FieldError(`${path}.${key}`, `${JSON.stringify(v)} is not a hostname (no wildcards, no IPs)`);
  return v;
}

function requestRedirect(v: unknown, path: string): RequestRedirect {
  const o = fields(v, path, ['scheme', 'hostname', 'path', 'port', 'statusCode']);
  const r: RequestRedirect = { statusCode: enumValue(o, 'statusCode', path, REDIRECT_STATUS_CODES, 302) };
  if (get(o, 'scheme') !== undefined) r.scheme = enumValue(o, 'scheme', path, ['http', 'https'] as const, 'http');
  const hostname = preciseHostname(o, 'hostname', path);
  const port = optInteger(o, 'port', path, 1, 65535);
  if (hostname !== undefined) r.hostname = hostname;
  if (get(o, 'path') !== undefined) r.path = pathModifier(o['path'], `${path}.path`);
  if (port !== undefined) r.port = port;
  return r;
}

function urlRewrite(v: unknown, path: string): UrlRewrite {
  const o = fields(v, path, ['hostname', 'path']);
  const r: UrlRewrite = {};
  const hostname = preciseHostname(o, 'hostname', path);
  if (hostname !== undefined) r.hostname = hostname;
  if (get(o, 'path') !== undefined) r.path = pathModifier(o['path'], `${path}.path`);
  return r;
}

function requestMirror(v: unknown, path: string): PendingMirror {
  const o = fields(v, path, ['backendRef', 'percent', 'fraction']);
  const refPath = `${path}.backendRef`;
  const ref = rawRef(fields(o['backendRef'], refPath, ['group', 'kind', 'name', 'namespace', 'port']), refPath);
  const percent = optInteger(o, 'percent', path, 0, 100);
  if (percent !== undefined && get(o, 'fraction') !== undefined) throw new FieldError(path, 'only one of percent and fraction may be set');
  let fraction = { numerator: percent ?? 100, denominator: 100 };
  if (get(o, 'fraction') !== undefined) {
    const f = fields(o['fraction'], `${path}.fraction`, ['numerator', 'denominator']);
    const denominator = optInteger(f, 'denominator', `${path}.fraction`, 1, 2 ** 31 - 1) ?? 100;
    fraction = { numerator: integer(f, 'numerator', `${path}.fraction`, 0, denominator), denominator };
  }
  return { type: 'RequestMirror', ref, path: refPath, fraction };
}

const UNSUPPORTED_FILTERS: Readonly<Record<string, string>> = {
  ExtensionRef: 'weft has no extension filters, and the spec forbids skipping one',
  CORS: 'weft does not implement the CORS filter yet',
  ExternalAuth: 'weft does not implement external authorization yet',
};

function filter(kind: RouteKind) {
  const types = kind === 'HTTPRoute'
    ? ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite'] as const
    : ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;
  const bodies: Readonly<Record<string, string>> = {
    RequestHeaderModifier: 'requestHeaderModifier', ResponseHeaderModifier: 'responseHeaderModifier', RequestMirror: 'requestMirror',
    RequestRedirect: 'requestRedirect', URLRewrite: 'urlRewrite', ExtensionRef: 'extensionRef', CORS: 'cors', ExternalAuth: 'externalAuth',
  };
  const known = ['type', ...types.map((t) => bodies[t] ?? t), 'extensionRef', ...(kind === 'HTTPRoute' ? ['cors', 'externalAuth'] : [])];
  return (v: unknown, path: string): PendingFilter => {
    const o = fields(v, path, known);
    const t = get(o, 'type');
    if (typeof t === 'string' && UNSUPPORTED_FILTERS[t] !== undefined && (kind === 'HTTPRoute' || t === 'ExtensionRef')) {
      throw new RouteSpecError(`${path}.type`, `${t} is not supported: ${UNSUPPORTED_FILTERS[t]}`);
    }
    if (get(o, 'type') === undefined) throw new FieldError(`${path}.type`, 'is required');
    const type = enumValue(o, 'type', path, types, 'RequestHeaderModifier');
    const body = bodies[type] ?? type;
    for (const key of Object.keys(o)) {
      if (key !== 'type' && key !== body && get(o, key) !== undefined) throw new FieldError(`${path}.${key}`, `must not be set for a ${type} filter`);
    }
    if (get(o, body) === undefined) throw new FieldError(`${path}.${body}`, `is required for a ${type} filter`);
    const at = `${path}.${body}`;
    switch (type) {
      case 'RequestHeaderModifier': return { type, requestHeaderModifier: headerModifier(o[body], at) };
      case 'ResponseHeaderModifier': return { type, responseHeaderModifier: headerModifier(o[body], at) };
      case 'RequestRedirect': return { type, requestRedirect: requestRedirect(o[body], at) };
      case 'URLRewrite': return { type, urlRewrite: urlRewrite(o[body], at) };
      case 'RequestMirror': return requestMirror(o[body], at);
    }
  };
}

const ONCE_PER_RULE = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'] as const;

function usesPrefixReplace(f: PendingFilter): boolean {
  const modifier = f.type === 'RequestRedirect' ? f.requestRedirect.path : f.type === 'URLRewrite' ? f.urlRewrite.path : undefined;
  return modifier?.type === 'ReplacePrefixMatch';
}

/** The CEL rules of HTTPRouteRule/HTTPBackendRef filters, which local manifests never went through. */
function checkFilterSet(filters: readonly PendingFilter[], matches: readonly RouteMatch[], path: string): void {
  for (const type of ONCE_PER_RULE) {
    if (filters.filter((f) => f.type === type).length > 1) throw new RouteSpecError(path, `${type} may appear only once`, 'IncompatibleFilters');
  }
  if (filters.some((f) => f.type === 'RequestRedirect') && filters.some((f) => f.type === 'URLRewrite')) {
    throw new RouteSpecError(path, 'RequestRedirect and URLRewrite cannot be combined', 'IncompatibleFilters');
  }
  const only = matches.length === 1 ? matches[0] : undefined;
  if (filters.some(usesPrefixReplace) && !(only?.protocol === 'http' && only.path.type === 'PathPrefix')) {
    throw new RouteSpecError(path, 'ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix', 'IncompatibleFilters');
  }
}

interface PendingBackend {
  ref: RawRef;
  path: string;
  weight: number;
  filters?: PendingFilter[];
}

function backendRef(kind: RouteKind, matches: readonly RouteMatch[]) {
  return (v: unknown, path: string): PendingBackend => {
    const o = fields(v, path, ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters']);
    const b: PendingBackend = { ref: rawRef(o, path), path, weight: optInteger(o, 'weight', path, 0, 1_000_000) ?? 1 };
    if (get(o, 'filters') !== undefined) {
      b.filters = list(o, 'filters', path, 16, filter(kind));
      checkFilterSet(b.filters, matches, `${path}.filters`);
    }
    return b;
  };
}

function timeouts(v: unknown, path: string): RouteTimeouts {
  const o = fields(v, path, ['request', 'backendRequest']);
  const t: RouteTimeouts = {};
  const request = duration(o, 'request', path);
  const backendRequest = duration(o, 'backendRequest', path);
  if (request !== undefined) t.request = request;
  if (backendRequest !== undefined) t.backendRequest = backendRequest;
  if (request !== undefined && request !== 0 && backendRequest !== undefined && backendRequest > request) {
    throw new FieldError(`${path}.backendRequest`, 'must not be longer than the request timeout');
  }
  return t;
}

function retry(v: unknown, path: string): RouteRetry {
  const o = fields(v, path, ['codes', 'attempts', 'backoff']);
  const codes = list(o, 'codes', path, 100, (x, p) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 400 || x > 599) throw new FieldError(p, 'must be an HTTP status code in 400-599');
    return x;
  });
  if (new Set(codes).size !== codes.length) throw new FieldError(`${path}.codes`, 'must not repeat a code');
  const r: RouteRetry = { codes };
  const attempts = optInteger(o, 'attempts', path, 1, 2 ** 31 - 1);
  const backoff = duration(o, 'backoff', path);
  if (attempts !== undefined) r.attempts = attempts;
  if (backoff !== undefined) r.backoff = backoff;
  return r;
}

interface ReadRule {
  index: number;
  name?: string;
  matches: RouteMatch[];
  filters: PendingFilter[];
  backends: PendingBackend[];
  timeouts?: RouteTimeouts;
  retry?: RouteRetry;
}

const RULE_FIELDS = {
  HTTPRoute: ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry'],
  GRPCRoute: ['name', 'matches', 'filters', 'backendRefs'],
} as const;

function readRule(kind: RouteKind, v: unknown, index: number): ReadRule {
  const path = `spec.rules[${index}]`;
  const o = fields(v, path, RULE_FIELDS[kind], { sessionPersistence: 'weft does not implement session persistence yet' });
  const read = (x: unknown, p: string): RouteMatch => (kind === 'HTTPRoute' ? httpMatch(x, p) : grpcMatch(x, p));
  const listed = list(o, 'matches', path, 64, read);
  // No matches: HTTP defaults to PathPrefix `/`, gRPC matches every request.
  const matches: RouteMatch[] = listed.length > 0 ? listed : [kind === 'HTTPRoute' ? { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] } : { protocol: 'grpc', headers: [] }];
  const filters = list(o, 'filters', path, 16, filter(kind));
  checkFilterSet(filters, matches, `${path}.filters`);
  const backends = list(o, 'backendRefs', path, 16, backendRef(kind, matches));
  if (backends.length > 0 && filters.some((f) => f.type === 'RequestRedirect')) {
    throw new RouteSpecError(`${path}.filters`, 'RequestRedirect cannot be used together with backendRefs', 'IncompatibleFilters');
  }
  const rule: ReadRule = { index, matches, filters, backends };
  const name = optText(o, 'name', path, { max: 253 });
  if (name !== undefined) {
    if (!SECTION_NAME.test(name)) throw new FieldError(`${path}.name`, `${JSON.stringify(name)} is not a valid rule name`);
    rule.name = name;
  }
  if (get(o, 'timeouts') !== undefined) rule.timeouts = timeouts(o['timeouts'], `${path}.timeouts`);
  if (get(o, 'retry') !== undefined) rule.retry = retry(o['retry'], `${path}.retry`);
  return rule;
}

function readRules(route: HTTPRoute | GRPCRoute): ReadRule[] {
  const kind = route.kind;
  route.spec.hostnames.forEach((h, i) => {
    if (!HOSTNAME.test(h) || h.length > 253) throw new FieldError(`spec.hostnames[${i}]`, `${JSON.stringify(h)} is not a hostname (a leading "*." is the only wildcard)`);
  });
  if (route.spec.rules.length > 16) throw new FieldError('spec.rules', 'must have at most 16 rules');
  // An HTTPRoute without rules gets the API server's default: one rule matching everything, with no backends.
  const raw: readonly unknown[] = route.spec.rules.length === 0 && kind === 'HTTPRoute' ? [{}] : route.spec.rules;
  const rules = raw.map((r, i) => readRule(kind, r, i));
  if (rules.reduce((n, r) => n + r.matches.length, 0) > 128) throw new FieldError('spec.rules', 'must have at most 128 matches in all');
  const names = rules.flatMap((r) => (r.name === undefined ? [] : [r.name]));
  if (new Set(names).size !== names.length) throw new FieldError('spec.rules', 'rule names must be unique within the route');
  return rules;
}

// ---- Parents ----

interface RouteInfo {
  kind: RouteKind;
  namespace: string;
  name: string;
  hostnames: readonly string[];
  order: RouteOrder;
  rules: ReadRule[];
}

/**
 * What breaks ties between routes: the oldest first, then `namespace/name`. weft's object
 * metadata carries no creation timestamp yet; when it does, set `createdAt` (RFC 3339, so
 * strings sort by time) and the order follows the spec fully.
 */
export interface RouteOrder {
  namespace: string;
  name: string;
  createdAt?: string;
}

export function compareRouteOrder(a: RouteOrder, b: RouteOrder): number {
  if (a.createdAt !== undefined && b.createdAt !== undefined && a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

interface Attachment {
  route: RouteInfo;
  parent: ParentState;
  /** `<namespace>/<name>` of the Service. */
  serviceKey: string;
  service: Service;
  waypoint: string;
  attachment: RouteAttachment;
  port?: number;
  /** Characters of the matching non-wildcard hostname, then of the matching hostname (waypoint parents only). */
  hostRank: [number, number];
}

interface ParentState {
  ref: ParentReference;
  /** Set when the parent does not accept the route. */
  rejected?: { reason: string; message: string };
  attachments: Attachment[];
  /** Services this parent would have applied the route to, but another route kind holds. */
  conflicts: string[];
  refProblems: { reason: string; message: string }[];
  summary: string;
}

/** The Service port a parentRef names by port and/or section name, or a reason it names none. */
function servicePort(svc: Service, ref: ParentReference): { port?: number } | { problem: string } {
  const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
  if (ref.sectionName !== undefined) {
    const named = svc.spec.ports.find((p) => p.name === ref.sectionName);
    if (named === undefined) return { problem: `Service ${key} has no port named ${ref.sectionName}` };
    if (ref.port !== undefined && ref.port !== named.port) return { problem: `Service ${key} port ${ref.sectionName} is ${named.port}, not ${ref.port}` };
    return { port: named.port };
  }
  if (ref.port !== undefined) {
    if (!svc.spec.ports.some((p) => p.port === ref.port)) return { problem: `Service ${key} has no port ${ref.port}` };
    return { port: ref.port };
  }
  return {};
}

/** How well a route's hostnames select a Service FQDN; undefined when none does. */
function hostRank(hostnames: readonly string[], fqdn: string): [number, number] | undefined {
  if (hostnames.length === 0) return [0, 0];
  let best: [number, number] | undefined;
  for (const h of hostnames) {
    let rank: [number, number] | undefined;
    if (h === fqdn) rank = [h.length, h.length];
    else if (h.startsWith('*.') && fqdn.endsWith(h.slice(1))) rank = [0, h.length];
    if (rank !== undefined && (best === undefined || rank[0] > best[0] || (rank[0] === best[0] && rank[1] > best[1]))) best = rank;
  }
  return best;
}

type ParentKind = 'Service' | 'Gateway';

/** Service (group "" or core; an unset group too, as local manifests are not defaulted) or Gateway; other kinds are not weft's. */
function parentKind(ref: ParentReference): ParentKind | undefined {
  const kind = ref.kind ?? 'Gateway';
  if (kind === 'Service' && (ref.group === undefined || ref.group === '' || ref.group === 'core')) return 'Service';
  if (kind === 'Gateway' && (ref.group === undefined || ref.group === GATEWAY_GROUP)) return 'Gateway';
  return undefined;
}

class Compiler {
  readonly #objects: ClusterObjects;
  readonly #waypointOf: (serviceKey: string) => string | undefined;
  #servicesByWaypoint: Map<string, string[]> | undefined;

  constructor(objects: ClusterObjects, opts: RouteCompileOptions) {
    this.#objects = objects;
    this.#waypointOf = opts.waypointOfService;
  }

  #boundTo(waypoint: string): string[] {
    if (this.#servicesByWaypoint === undefined) {
      this.#servicesByWaypoint = new Map();
      for (const key of [...this.#objects.services.keys()].sort()) {
        const wp = this.#waypointOf(key);
        if (wp === undefined) continue;
        const keys = this.#servicesByWaypoint.get(wp) ?? [];
        keys.push(key);
        this.#servicesByWaypoint.set(wp, keys);
      }
    }
    return this.#servicesByWaypoint.get(waypoint) ?? [];
  }

  /** The parent's state, or undefined when the parentRef is not weft's to answer (another controller's Gateway). */
  parent(route: RouteInfo, ref: ParentReference): ParentState | undefined {
    const kind = parentKind(ref);
    if (kind === undefined) return undefined;
    const namespace = ref.namespace ?? route.namespace;
    const key = `${namespace}/${ref.name}`;
    const state: ParentState = { ref, attachments: [], conflicts: [], refProblems: [], summary: '' };
    const reject = (reason: string, message: string): ParentState => ({ ...state, rejected: { reason, message } });
    if (kind === 'Service') {
      const service = this.#objects.services.get(key);
      if (service === undefined) return reject('NoMatchingParent', `parent Service ${key} not found`);
      const port = servicePort(service, ref);
      if ('problem' in port) return reject('NoMatchingParent', port.problem);
      const waypoint = this.#waypointOf(key);
      if (waypoint === undefined) {
        return reject('NoWaypoint', `Service ${key} is not bound to a waypoint (label istio.io/use-waypoint on it or its namespace); weft applies HTTP routes only in a waypoint, so this route has no effect`);
      }
      const attachment: RouteAttachment = namespace === route.namespace ? 'producer' : 'consumer';
      const a: Attachment = { route, parent: state, serviceKey: key, service, waypoint, attachment, hostRank: [0, 0] };
      if (port.port !== undefined) a.port = port.port;
      state.attachments.push(a);
      const where = port.port === undefined ? '' : ` port ${port.port}`;
      state.summary = attachment === 'producer'
        ? `applied by waypoint ${waypoint} to Service ${key}${where}`
        : `applied by waypoint ${waypoint} to Service ${key}${where} for clients in namespace ${route.namespace} (consumer route)`;
      return state;
    }
    const gateway = this.#objects.gateways.get(key);
    if (gateway === undefined || gateway.spec.gatewayClassName !== WAYPOINT_CLASS) return undefined;
    if (namespace !== route.namespace) {
      return reject('NotAllowedByListeners', `waypoint ${key} accepts routes from its own namespace only (weft does not read allowedRoutes yet)`);
    }
    const listeners = gateway.spec.listeners.filter((l) => (ref.sectionName === undefined || l.name === ref.sectionName) && (ref.port === undefined || l.port === ref.port));
    if (listeners.length === 0) return reject('NoMatchingParent', `waypoint ${key} has no listener matching sectionName/port of this parentRef`);
    const bound = this.#boundTo(key);
    for (const serviceKey of bound) {
      const service = this.#objects.services.get(serviceKey);
      if (service === undefined) continue;
      const rank = hostRank(route.hostnames, serviceHostname(service));
      if (rank === undefined) continue;
      state.attachments.push({ route, parent: state, serviceKey, service, waypoint: key, attachment: 'waypoint', hostRank: rank });
    }
    if (state.attachments.length === 0 && bound.length > 0 && route.hostnames.length > 0) {
      return reject('NoMatchingListenerHostname', `none of the ${bound.length} Service(s) bound to waypoint ${key} has a hostname in spec.hostnames`);
    }
    state.summary = `applied by waypoint ${key} to ${state.attachments.length} Service(s)`;
    return state;
  }

  /** A backend or mirror target, permitted and present, or the reason it cannot be used. */
  resolve(ref: RawRef, routeNamespace: string, frontend: string | undefined): { service: string; port: number } | { reason: string; message: string } {
    const namespace = ref.namespace ?? routeNamespace;
    const key = `${namespace}/${ref.name}`;
    if (ref.group !== '' || ref.kind !== 'Service') {
      return { reason: 'InvalidKind', message: `${ref.group === '' ? 'core' : ref.group}/${ref.kind} ${key} is not a kind weft routes to (only Service)` };
    }
    // The Service a route refines is one its clients already reach, so naming it is no new access.
    if (namespace !== routeNamespace && key !== frontend) {
      return { reason: 'RefNotPermitted', message: `backend Service ${key} is in another namespace; weft does not read ReferenceGrant yet, so only same-namespace backends (or the parent Service itself) are allowed` };
    }
    const svc = this.#objects.services.get(key);
    if (svc === undefined) return { reason: 'BackendNotFound', message: `backend Service ${key} not found` };
    if (svc.spec.type === 'ExternalName') return { reason: 'InvalidKind', message: `backend Service ${key} is of type ExternalName, which weft does not route to` };
    const port = ref.port ?? 0;
    if (!svc.spec.ports.some((p) => p.port === port)) return { reason: 'BackendNotFound', message: `backend Service ${key} has no port ${port}` };
    return { service: `${namespace}/${serviceHostname(svc)}`, port };
  }
}

// ---- Entries and their order ----

function isProblem(r: { service: string; port: number } | { reason: string; message: string }): r is { reason: string; message: string } {
  return 'reason' in r;
}

function resolveFilters(c: Compiler, filters: readonly PendingFilter[], a: Attachment, problems: ParentState['refProblems']): RouteFilter[] {
  const out: RouteFilter[] = [];
  for (const f of filters) {
    if (f.type !== 'RequestMirror') {
      out.push(f);
      continue;
    }
    const target = c.resolve(f.ref, a.route.namespace, a.serviceKey);
    // An unusable mirror is dropped; the request itself still goes through (as the spec asks).
    if (isProblem(target)) problems.push({ reason: target.reason, message: `${f.path}: ${target.message}` });
    else out.push({ type: 'RequestMirror', requestMirror: { service: target.service, port: target.port, fraction: f.fraction } });
  }
  return out;
}

function resolveBackends(c: Compiler, rule: ReadRule, a: Attachment, problems: ParentState['refProblems']): RouteBackend[] {
  return rule.backends.map((b) => {
    const target = c.resolve(b.ref, a.route.namespace, a.serviceKey);
    if (isProblem(target)) {
      problems.push({ reason: target.reason, message: `${b.path}: ${target.message}` });
      return { invalid: target.message, weight: b.weight };
    }
    const backend: RouteBackend = { service: target.service, port: target.port, weight: b.weight };
    if (b.filters !== undefined) backend.filters = resolveFilters(c, b.filters, a, problems);
    return backend;
  });
}

interface Ranked {
  entry: RouteEntry;
  group: number;
  host: [number, number];
  precedence: number[];
  order: RouteOrder;
  rule: number;
  match: number;
}

const GROUP_RANK: Readonly<Record<RouteAttachment, number>> = { consumer: 0, producer: 1, waypoint: 2 };
const PATH_RANK = { Exact: 3, PathPrefix: 2, RegularExpression: 1 } as const;

/**
 * Larger sorts first. HTTP: exact path, then the longest prefix, then regexes by length (their
 * rank is implementation-specific), then the root prefix `/`; then a method, more headers, more
 * query params. gRPC: the most
 * characters of service, then of method, then more headers; Exact before RegularExpression.
 */
function precedence(m: RouteMatch): number[] {
  if (m.protocol === 'http') {
    // The root prefix is what an absent path means: it ranks below regexes, which a catch-all would otherwise shadow.
    const root = m.path.type === 'PathPrefix' && m.path.value === '/';
    return [1, root ? 0 : PATH_RANK[m.path.type], root ? 0 : m.path.value.length, m.method === undefined ? 0 : 1, m.headers.length, m.queryParams.length];
  }
  return [0, m.method?.service?.length ?? 0, m.method?.method?.length ?? 0, m.headers.length, m.method?.type === 'RegularExpression' ? 0 : 1];
}

function compareRanked(a: Ranked, b: Ranked): number {
  if (a.group !== b.group) return a.group - b.group;
  for (let i = 0; i < 2; i++) if (a.host[i] !== b.host[i]) return (b.host[i] ?? 0) - (a.host[i] ?? 0);
  const n = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const d = (b.precedence[i] ?? 0) - (a.precedence[i] ?? 0);
    if (d !== 0) return d;
  }
  return compareRouteOrder(a.order, b.order) || a.rule - b.rule || a.match - b.match;
}

function entriesFor(c: Compiler, a: Attachment): Ranked[] {
  const out: Ranked[] = [];
  for (const rule of a.route.rules) {
    const problems = a.parent.refProblems;
    const filters = resolveFilters(c, rule.filters, a, problems);
    const backends = resolveBackends(c, rule, a, problems);
    rule.matches.forEach((match, m) => {
      const entry: RouteEntry = {
        route: { kind: a.route.kind, namespace: a.route.namespace, name: a.route.name, rule: rule.index, ...(rule.name === undefined ? {} : { ruleName: rule.name }) },
        attachment: a.attachment,
        match,
        filters,
        backends,
      };
      if (a.port !== undefined) entry.port = a.port;
      if (rule.timeouts !== undefined) entry.timeouts = rule.timeouts;
      if (rule.retry !== undefined) entry.retry = rule.retry;
      out.push({ entry, group: GROUP_RANK[a.attachment], host: a.hostRank, precedence: precedence(match), order: a.route.order, rule: rule.index, match: m });
    });
  }
  return out;
}

/**
 * HTTPRoutes and GRPCRoutes are never merged: where both would apply to the same Service and
 * port for the same clients, the older route (then namespace/name) keeps it, as the spec says
 * for a listener holding both kinds.
 */
function dropKindConflicts(attachments: Attachment[]): Attachment[] {
  const kept: Attachment[] = [];
  const groupOf = (a: Attachment): string => (a.attachment === 'consumer' ? `consumer/${a.route.namespace}` : a.attachment);
  const sorted = [...attachments].sort((x, y) => compareRouteOrder(x.route.order, y.route.order) || x.route.kind.localeCompare(y.route.kind));
  for (const a of sorted) {
    const holder = kept.find((k) => k.route.kind !== a.route.kind && groupOf(k) === groupOf(a) && (k.port === undefined || a.port === undefined || k.port === a.port));
    if (holder === undefined) kept.push(a);
    else a.parent.conflicts.push(`Service ${a.serviceKey} already has ${holder.route.kind} ${holder.route.namespace}/${holder.route.name} (HTTPRoutes and GRPCRoutes are not merged)`);
  }
  return kept;
}

/** For a parent that applies the route to no Service yet, references are still checked, so its status is honest from the start. */
function refProblemsWithoutFrontend(c: Compiler, route: RouteInfo): ParentState['refProblems'] {
  const problems: ParentState['refProblems'] = [];
  for (const rule of route.rules) {
    const mirrors = [...rule.filters, ...rule.backends.flatMap((b) => b.filters ?? [])].flatMap((f) => (f.type === 'RequestMirror' ? [f] : []));
    for (const { ref, path } of [...rule.backends, ...mirrors]) {
      const target = c.resolve(ref, route.namespace, undefined);
      if (isProblem(target)) problems.push({ reason: target.reason, message: `${path}: ${target.message}` });
    }
  }
  return problems;
}

function byKey<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.keys()].sort().flatMap((k) => {
    const v = map.get(k);
    return v === undefined ? [] : [v];
  });
}

interface ParentRecord {
  route: RouteInfo;
  state: ParentState;
  invalid?: FieldError;
}

function parentConditions(c: Compiler, { route, state, invalid }: ParentRecord): RouteCondition[] {
  const base = { kind: route.kind, namespace: route.namespace, name: route.name, parentRef: state.ref };
  if (invalid !== undefined) {
    const reason = invalid instanceof RouteSpecError ? invalid.reason : 'UnsupportedValue';
    return [{ ...base, type: 'Accepted', status: 'False', reason, message: `${invalid.message}; the route is not applied` }];
  }
  if (state.rejected !== undefined) return [{ ...base, type: 'Accepted', status: 'False', ...state.rejected }];
  if (state.attachments.length > 0 && state.conflicts.length >= state.attachments.length) {
    return [{ ...base, type: 'Accepted', status: 'False', reason: 'KindConflict', message: `${state.conflicts.join('; ')}; the route is not applied` }];
  }
  const conflictNote = state.conflicts.length === 0 ? '' : `; not applied where ${state.conflicts.join('; ')}`;
  const accepted: RouteCondition = { ...base, type: 'Accepted', status: 'True', reason: 'Accepted', message: `${state.summary}${conflictNote}` };
  const problems = state.attachments.length > 0 ? state.refProblems : refProblemsWithoutFrontend(c, route);
  const first = problems[0];
  if (first === undefined) return [accepted, { ...base, type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'all references resolved' }];
  const messages = [...new Set(problems.map((p) => p.message))];
  return [accepted, { ...base, type: 'ResolvedRefs', status: 'False', reason: first.reason, message: `${messages.join('; ')}; requests routed to an unresolved backend get 500, an unresolved mirror is skipped` }];
}

/** Compiles every route of the cluster into per-Service tables and per-parent status, in a stable order. */
export function compileRoutes(objects: ClusterObjects, opts: RouteCompileOptions): CompiledRoutes {
  const compiler = new Compiler(objects, opts);
  const parents: ParentRecord[] = [];
  const byService = new Map<string, Attachment[]>();

  for (const route of [...byKey(objects.httpRoutes), ...byKey(objects.grpcRoutes)]) {
    const { namespace, name } = route.metadata;
    let rules: ReadRule[] = [];
    let invalid: FieldError | undefined;
    try {
      rules = readRules(route);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      invalid = err;
    }
    const info: RouteInfo = { kind: route.kind, namespace, name, hostnames: route.spec.hostnames, order: { namespace, name }, rules };
    for (const ref of route.spec.parentRefs) {
      const state = compiler.parent(info, ref);
      if (state === undefined) continue;
      parents.push(invalid === undefined ? { route: info, state } : { route: info, state, invalid });
      if (invalid !== undefined || state.rejected !== undefined) continue;
      for (const a of state.attachments) {
        // Two parentRefs naming the same Service and port add nothing the first did not.
        const list = byService.get(a.serviceKey) ?? [];
        if (!list.some((x) => x.route === a.route && x.port === a.port && x.attachment === a.attachment)) list.push(a);
        byService.set(a.serviceKey, list);
      }
    }
  }

  const routes: ServiceRoutes[] = [];
  for (const key of [...byService.keys()].sort()) {
    const kept = dropKindConflicts(byService.get(key) ?? []);
    const first = kept[0];
    if (first === undefined) continue;
    const ranked = kept.flatMap((a) => entriesFor(compiler, a)).sort(compareRanked);
    routes.push({ service: `${first.service.metadata.namespace}/${serviceHostname(first.service)}`, waypoint: first.waypoint, entries: ranked.map((r) => r.entry) });
  }
  return { routes, conditions: parents.flatMap((p) => parentConditions(compiler, p)) };
}
