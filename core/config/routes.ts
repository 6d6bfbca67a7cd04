// The compiled route table the controller pushes to a waypoint: one ServiceRoutes per
// Service the waypoint serves, its entries already flattened (one per match of a rule) and
// sorted in Gateway API precedence order, with every reference resolved. Plain JSON data;
// `parseServiceRoutes` checks every field off the wire and copies it into a fresh value. The
// value rules shared by the controller (which reads the user's raw rules) and the waypoint
// (durations, regex dialect, path syntax) live here too, so both sides agree on them.
import { FieldError, arr, item, obj, oneOf, optStr, port, str } from './fields.ts';
import type { Obj } from './fields.ts';

export const RouteKind = { HTTPRoute: 'HTTPRoute', GRPCRoute: 'GRPCRoute' } as const;
export type RouteKind = (typeof RouteKind)[keyof typeof RouteKind];

/**
 * How a route reached the Service (GEP-1294): a Service parentRef in the Service's namespace
 * (producer: every client), one from another namespace (consumer: only clients in the route's
 * namespace), or the waypoint Gateway itself (every Service bound to it).
 */
export const RouteAttachment = { consumer: 'consumer', producer: 'producer', waypoint: 'waypoint' } as const;
export type RouteAttachment = (typeof RouteAttachment)[keyof typeof RouteAttachment];

export interface RouteRef {
  kind: RouteKind;
  namespace: string;
  name: string;
  /** Index of the rule in `spec.rules`. */
  rule: number;
  /** The rule's `name`, when it has one. */
  ruleName?: string;
}

export const PathMatchType = { Exact: 'Exact', PathPrefix: 'PathPrefix', RegularExpression: 'RegularExpression' } as const;
export type PathMatchType = (typeof PathMatchType)[keyof typeof PathMatchType];

export const ValueMatchType = { Exact: 'Exact', RegularExpression: 'RegularExpression' } as const;
export type ValueMatchType = (typeof ValueMatchType)[keyof typeof ValueMatchType];

export interface PathMatch {
  type: PathMatchType;
  /** For PathPrefix without its trailing `/` (except the root `/`), as the spec ignores it. */
  value: string;
}

export interface HeaderMatch {
  type: ValueMatchType;
  /** Lower-case; duplicates were dropped by the controller (the first one counts). */
  name: string;
  value: string;
}

export interface QueryParamMatch {
  type: ValueMatchType;
  /** Case-sensitive, as the spec says. */
  name: string;
  value: string;
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface HttpRouteMatch {
  protocol: 'http';
  path: PathMatch;
  headers: HeaderMatch[];
  queryParams: QueryParamMatch[];
  method?: HttpMethod;
}

export interface GrpcMethodMatch {
  type: ValueMatchType;
  /** Absent: any service. At least one of service and method is set. */
  service?: string;
  method?: string;
}

export interface GrpcRouteMatch {
  protocol: 'grpc';
  /** Absent: every service and method. */
  method?: GrpcMethodMatch;
  headers: HeaderMatch[];
}

export type RouteMatch = HttpRouteMatch | GrpcRouteMatch;

export interface HeaderValue {
  name: string;
  value: string;
}

/** At most one action per header name (compared case-insensitively). */
export interface HeaderModifier {
  set: HeaderValue[];
  add: HeaderValue[];
  remove: string[];
}

export type PathModifier =
  | { type: 'ReplaceFullPath'; replaceFullPath: string }
  | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };

export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308] as const;
export type RedirectStatusCode = (typeof REDIRECT_STATUS_CODES)[number];

export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: PathModifier;
  port?: number;
  /** Defaulted (302) by the controller. */
  statusCode: RedirectStatusCode;
}

export interface UrlRewrite {
  hostname?: string;
  path?: PathModifier;
}

/** A copy of the request goes to one endpoint of the Service; its response is ignored. */
export interface RequestMirror {
  /** `<namespace>/<hostname>`. An unresolvable mirror never reaches the table. */
  service: string;
  port: number;
  /** `percent` is carried as `{ numerator: percent, denominator: 100 }`; neither means all. */
  fraction: { numerator: number; denominator: number };
}

export type RouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | { type: 'RequestRedirect'; requestRedirect: RequestRedirect }
  | { type: 'URLRewrite'; urlRewrite: UrlRewrite }
  | { type: 'RequestMirror'; requestMirror: RequestMirror };

export type RouteFilterType = RouteFilter['type'];

export interface ServiceBackend {
  /** `<namespace>/<hostname>`, as `resourceKey.service`. */
  service: string;
  /** The Service port (not the target port). */
  port: number;
  /** 0 is never chosen. */
  weight: number;
  /** Run only when this backend is chosen, after the entry's own filters. */
  filters?: RouteFilter[];
}

/** A backendRef the controller could not resolve: its share of requests gets a 500 (gRPC: UNAVAILABLE). */
export interface InvalidBackend {
  invalid: string;
  weight: number;
}

export type RouteBackend = ServiceBackend | InvalidBackend;

/** Milliseconds; 0 disables the timeout. */
export interface RouteTimeouts {
  request?: number;
  backendRequest?: number;
}

/** GEP-1731 (HTTPRouteRule.retry). */
export interface RouteRetry {
  /** Absent: the waypoint's default. */
  attempts?: number;
  codes: number[];
  /** Minimum milliseconds between attempts; absent: the waypoint's default. */
  backoff?: number;
}

export interface RouteEntry {
  route: RouteRef;
  attachment: RouteAttachment;
  /** parentRef.port: the entry applies only to requests on this Service port. */
  port?: number;
  match: RouteMatch;
  filters: RouteFilter[];
  /** Empty, or no weight above 0: the rule is still routed, and answered 500 (gRPC: UNAVAILABLE). */
  backends: RouteBackend[];
  timeouts?: RouteTimeouts;
  retry?: RouteRetry;
}

export interface ServiceRoutes {
  /** `<namespace>/<hostname>`, as `resourceKey.service`. */
  service: string;
  /** `<namespace>/<gateway>` of the waypoint serving it. */
  waypoint: string;
  entries: RouteEntry[];
}

// ---- Value rules shared by the controller and the wire validator ----

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const DURATION_PART = /([0-9]{1,5})(h|ms|m|s)/g;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A GEP-2257 duration (`500ms`, `1h2m`, components summed) in milliseconds, or undefined when malformed. */
export function parseGatewayDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, digits, unit] of text.matchAll(DURATION_PART)) total += Number(digits) * (UNIT_MS[unit ?? ''] ?? 0);
  return total;
}

const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

/** Why an Exact or PathPrefix value is not a valid path (the HTTPPathMatch CEL rules), or undefined. */
export function pathValueProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"';
  if (value.length > 1024) return 'must be at most 1024 characters';
  for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#']) if (value.includes(bad)) return `must not contain "${bad}"`;
  if (value.endsWith('/..') || value.endsWith('/.')) return 'must not end with "/." or "/.."';
  if (!PATH_CHARS.test(value)) return 'has characters a path cannot carry';
  return undefined;
}

/** PathPrefix ignores a trailing `/`; the root stays `/`. */
export function normalizePathPrefix(value: string): string {
  const trimmed = value.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
export const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Compiles a RegularExpression match value. The dialect is ECMAScript (`u` flag) with RE2's
 * limits: the whole value must match (as in Envoy), a leading `(?i)` makes it case-insensitive,
 * and lookaround and backreferences are refused because RE2 has neither (they are also where
 * backtracking blows up). Throws SyntaxError with the reason.
 */
export function compileRouteRegex(source: string): RegExp {
  let body = source;
  let flags = 'u';
  if (body.startsWith('(?i)')) {
    body = body.slice(4);
    flags += 'i';
  }
  const refused = refusedRegexConstruct(body);
  if (refused !== undefined) throw new SyntaxError(`${refused} is not supported (RE2 dialect)`);
  return new RegExp(`^(?:${body})$`, flags);
}

function refusedRegexConstruct(body: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      const next = body[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return 'a backreference';
      if (!inClass && next === 'k') return 'a named backreference';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(' && body[i + 1] === '?') {
      const kind = body.slice(i + 2, i + 4);
      if (kind.startsWith('=') || kind.startsWith('!') || kind === '<=' || kind === '<!') return 'lookaround';
    }
  }
  return undefined;
}

/** Why a regex value does not compile, or undefined. */
export function regexProblem(source: string): string | undefined {
  try {
    compileRouteRegex(source);
    return undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return `is not a valid regular expression: ${err.message}`;
    throw err;
  }
}

// ---- Wire validation ----

function int(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FieldError(`${path}.${key}`, `must be an integer in ${min}-${max}`);
  }
  return v;
}

function optInt(o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  return o[key] === undefined ? undefined : int(o, key, path, min, max);
}

const MAX_MS = 99_999 * 4 * 3_600_000;

function checkedRegex(value: string, path: string): string {
  const problem = regexProblem(value);
  if (problem !== undefined) throw new FieldError(path, problem);
  return value;
}

function pathMatch(v: unknown, path: string): PathMatch {
  const o = obj(v, path);
  const type = oneOf(o, 'type', path, Object.values(PathMatchType));
  const value = str(o, 'value', path);
  if (type === 'RegularExpression') return { type, value: checkedRegex(value, `${path}.value`) };
  const problem = pathValueProblem(value);
  if (problem !== undefined) throw new FieldError(`${path}.value`, problem);
  if (type === 'PathPrefix' && normalizePathPrefix(value) !== value) throw new FieldError(`${path}.value`, 'must not end with "/" (except the root)');
  return { type, value };
}

function valueMatch(o: Obj, path: string): { type: ValueMatchType; value: string } {
  const type = oneOf(o, 'type', path, Object.values(ValueMatchType));
  const value = str(o, 'value', path);
  return { type, value: type === 'RegularExpression' ? checkedRegex(value, `${path}.value`) : value };
}

function headerMatch(v: unknown, path: string): HeaderMatch {
  const o = obj(v, path);
  const name = str(o, 'name', path);
  if (!HEADER_NAME.test(name) || name !== name.toLowerCase()) throw new FieldError(`${path}.name`, 'must be a lower-case header name');
  return { name, ...valueMatch(o, path) };
}

function queryParamMatch(v: unknown, path: string): QueryParamMatch {
  const o = obj(v, path);
  return { name: str(o, 'name', path), ...valueMatch(o, path) };
}

function httpMatch(o: Obj, path: string): HttpRouteMatch {
  const m: HttpRouteMatch = {
    protocol: 'http',
    path: pathMatch(o['path'], `${path}.path`),
    headers: arr(o, 'headers', path, headerMatch),
    queryParams: arr(o, 'queryParams', path, queryParamMatch),
  };
  if (o['method'] !== undefined) m.method = oneOf(o, 'method', path, HTTP_METHODS);
  return m;
}

function grpcMethodMatch(v: unknown, path: string): GrpcMethodMatch {
  const o = obj(v, path);
  const type = oneOf(o, 'type', path, Object.values(ValueMatchType));
  const m: GrpcMethodMatch = { type };
  for (const key of ['service', 'method'] as const) {
    const value = optStr(o, key, path);
    if (value === undefined) continue;
    m[key] = type === 'RegularExpression' ? checkedRegex(value, `${path}.${key}`) : value;
  }
  if (m.service === undefined && m.method === undefined) throw new FieldError(path, 'must set service or method');
  return m;
}

function grpcMatch(o: Obj, path: string): GrpcRouteMatch {
  const m: GrpcRouteMatch = { protocol: 'grpc', headers: arr(o, 'headers', path, headerMatch) };
  if (o['method'] !== undefined) m.method = grpcMethodMatch(o['method'], `${path}.method`);
  return m;
}

function routeMatch(v: unknown, path: string, kind: RouteKind): RouteMatch {
  const o = obj(v, path);
  const protocol = oneOf(o, 'protocol', path, [kind === 'HTTPRoute' ? 'http' : 'grpc'] as const);
  return protocol === 'http' ? httpMatch(o, path) : grpcMatch(o, path);
}

function headerValue(v: unknown, path: string): HeaderValue {
  const o = obj(v, path);
  const name = str(o, 'name', path);
  if (!HEADER_NAME.test(name)) throw new FieldError(`${path}.name`, 'must be a header name');
  return { name, value: str(o, 'value', path, { empty: true }) };
}

function headerModifier(v: unknown, path: string): HeaderModifier {
  const o = obj(v, path);
  const m: HeaderModifier = {
    set: arr(o, 'set', path, headerValue),
    add: arr(o, 'add', path, headerValue),
    remove: arr(o, 'remove', path, (x, p) => {
      const name = item.string(x, p);
      if (!HEADER_NAME.test(name)) throw new FieldError(p, 'must be a header name');
      return name;
    }),
  };
  const seen = new Set<string>();
  for (const name of [...m.set.map((h) => h.name), ...m.add.map((h) => h.name), ...m.remove]) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new FieldError(path, `header ${name} has more than one action`);
    seen.add(lower);
  }
  return m;
}

function pathModifier(v: unknown, path: string): PathModifier {
  const o = obj(v, path);
  const type = oneOf(o, 'type', path, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  if (type === 'ReplaceFullPath') {
    const value = str(o, 'replaceFullPath', path);
    if (!value.startsWith('/')) throw new FieldError(`${path}.replaceFullPath`, 'must start with "/"');
    return { type, replaceFullPath: value };
  }
  const value = str(o, 'replacePrefixMatch', path, { empty: true });
  if (value !== '' && !value.startsWith('/')) throw new FieldError(`${path}.replacePrefixMatch`, 'must be empty or start with "/"');
  return { type, replacePrefixMatch: value };
}

function hostname(o: Obj, key: string, path: string): string | undefined {
  const v = optStr(o, key, path);
  if (v !== undefined && !PRECISE_HOSTNAME.test(v)) throw new FieldError(`${path}.${key}`, 'must be a hostname');
  return v;
}

function requestRedirect(v: unknown, path: string): RequestRedirect {
  const o = obj(v, path);
  const code = o['statusCode'];
  const statusCode = REDIRECT_STATUS_CODES.find((c) => c === code);
  if (statusCode === undefined) throw new FieldError(`${path}.statusCode`, `must be one of ${REDIRECT_STATUS_CODES.join(', ')}`);
  const r: RequestRedirect = { statusCode };
  if (o['scheme'] !== undefined) r.scheme = oneOf(o, 'scheme', path, ['http', 'https'] as const);
  const host = hostname(o, 'hostname', path);
  if (host !== undefined) r.hostname = host;
  if (o['path'] !== undefined) r.path = pathModifier(o['path'], `${path}.path`);
  if (o['port'] !== undefined) r.port = port(o, 'port', path);
  return r;
}

function urlRewrite(v: unknown, path: string): UrlRewrite {
  const o = obj(v, path);
  const r: UrlRewrite = {};
  const host = hostname(o, 'hostname', path);
  if (host !== undefined) r.hostname = host;
  if (o['path'] !== undefined) r.path = pathModifier(o['path'], `${path}.path`);
  return r;
}

function namespacedKey(o: Obj, key: string, path: string, what = 'hostname'): string {
  const v = str(o, key, path);
  if (!/^[^/]+\/[^/]+$/.test(v)) throw new FieldError(`${path}.${key}`, `must be <namespace>/<${what}>`);
  return v;
}

function requestMirror(v: unknown, path: string): RequestMirror {
  const o = obj(v, path);
  const f = obj(o['fraction'], `${path}.fraction`);
  const denominator = int(f, 'denominator', `${path}.fraction`, 1, 2 ** 31 - 1);
  const numerator = int(f, 'numerator', `${path}.fraction`, 0, denominator);
  return { service: namespacedKey(o, 'service', path), port: port(o, 'port', path), fraction: { numerator, denominator } };
}

const FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'] as const;
const GRPC_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;

function routeFilter(kind: RouteKind) {
  return (v: unknown, path: string): RouteFilter => {
    const o = obj(v, path);
    const type = oneOf(o, 'type', path, kind === 'HTTPRoute' ? FILTER_TYPES : GRPC_FILTER_TYPES);
    switch (type) {
      case 'RequestHeaderModifier': return { type, requestHeaderModifier: headerModifier(o['requestHeaderModifier'], `${path}.requestHeaderModifier`) };
      case 'ResponseHeaderModifier': return { type, responseHeaderModifier: headerModifier(o['responseHeaderModifier'], `${path}.responseHeaderModifier`) };
      case 'RequestRedirect': return { type, requestRedirect: requestRedirect(o['requestRedirect'], `${path}.requestRedirect`) };
      case 'URLRewrite': return { type, urlRewrite: urlRewrite(o['urlRewrite'], `${path}.urlRewrite`) };
      case 'RequestMirror': return { type, requestMirror: requestMirror(o['requestMirror'], `${path}.requestMirror`) };
    }
  };
}

function backend(kind: RouteKind) {
  return (v: unknown, path: string): RouteBackend => {
    const o = obj(v, path);
    const weight = int(o, 'weight', path, 0, 1_000_000);
    if (o['invalid'] !== undefined) return { invalid: str(o, 'invalid', path), weight };
    const b: ServiceBackend = { service: namespacedKey(o, 'service', path), port: port(o, 'port', path), weight };
    if (o['filters'] !== undefined) b.filters = arr(o, 'filters', path, routeFilter(kind));
    return b;
  };
}

function timeouts(v: unknown, path: string): RouteTimeouts {
  const o = obj(v, path);
  const t: RouteTimeouts = {};
  const request = optInt(o, 'request', path, 0, MAX_MS);
  const backendRequest = optInt(o, 'backendRequest', path, 0, MAX_MS);
  if (request !== undefined) t.request = request;
  if (backendRequest !== undefined) t.backendRequest = backendRequest;
  return t;
}

function retry(v: unknown, path: string): RouteRetry {
  const o = obj(v, path);
  const r: RouteRetry = {
    codes: arr(o, 'codes', path, (x, p) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 400 || x > 599) throw new FieldError(p, 'must be a status code in 400-599');
      return x;
    }),
  };
  const attempts = optInt(o, 'attempts', path, 1, 2 ** 31 - 1);
  const backoff = optInt(o, 'backoff', path, 0, MAX_MS);
  if (attempts !== undefined) r.attempts = attempts;
  if (backoff !== undefined) r.backoff = backoff;
  return r;
}

function routeRef(v: unknown, path: string): RouteRef {
  const o = obj(v, path);
  const r: RouteRef = {
    kind: oneOf(o, 'kind', path, Object.values(RouteKind)),
    namespace: str(o, 'namespace', path),
    name: str(o, 'name', path),
    rule: int(o, 'rule', path, 0, 1023),
  };
  const ruleName = optStr(o, 'ruleName', path);
  if (ruleName !== undefined) r.ruleName = ruleName;
  return r;
}

function routeEntry(v: unknown, path: string): RouteEntry {
  const o = obj(v, path);
  const route = routeRef(o['route'], `${path}.route`);
  const e: RouteEntry = {
    route,
    attachment: oneOf(o, 'attachment', path, Object.values(RouteAttachment)),
    match: routeMatch(o['match'], `${path}.match`, route.kind),
    filters: arr(o, 'filters', path, routeFilter(route.kind)),
    backends: arr(o, 'backends', path, backend(route.kind)),
  };
  if (o['port'] !== undefined) e.port = port(o, 'port', path);
  if (o['timeouts'] !== undefined) e.timeouts = timeouts(o['timeouts'], `${path}.timeouts`);
  if (o['retry'] !== undefined) e.retry = retry(o['retry'], `${path}.retry`);
  return e;
}

/** Checks a pushed route table field by field and returns a fresh typed copy; throws FieldError. */
export function parseServiceRoutes(v: unknown, path: string): ServiceRoutes {
  const o = obj(v, path);
  return {
    service: namespacedKey(o, 'service', path),
    waypoint: namespacedKey(o, 'waypoint', path, 'gateway'),
    entries: arr(o, 'entries', path, routeEntry),
  };
}
