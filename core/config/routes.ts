// The compiled route table the controller pushes to a waypoint: one ServiceRoutes per
// Service the waypoint serves, its entries already flattened (one per match of a rule) and
// sorted in the order the waypoint tries them (Gateway API precedence for HTTPRoutes and
// GRPCRoutes, list order for VirtualServices), with every reference resolved, and the
// DestinationRule policies of the Services it sends to. Plain JSON data;
// `parseServiceRoutes` checks every field off the wire and copies it into a fresh value. The
// value rules shared by the controller (which reads the user's raw rules) and the waypoint
// (durations, regex dialect, path syntax) live here too, so both sides agree on them.
import { FieldError, arr, bool, item, obj, oneOf, optStr, port, str } from './fields.ts';
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

/** What an entry was compiled from: a Gateway API route, or one `http` rule of a VirtualService. */
export const RouteRefKind = { ...RouteKind, VirtualService: 'VirtualService' } as const;
export type RouteRefKind = (typeof RouteRefKind)[keyof typeof RouteRefKind];

export interface RouteRef {
  kind: RouteRefKind;
  namespace: string;
  name: string;
  /** Index of the rule in `spec.rules` (VirtualService: `spec.http`). */
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
  /**
   * Only requests from one of these workloads (uids), the source the waypoint knows from the
   * connection's peer; a request from a source that is no known workload never matches, and an
   * empty list matches nothing. VirtualService `sourceLabels`: the waypoint has no pod labels,
   * so the controller resolves the selector against them.
   */
  sourceWorkloads?: string[];
  /** Only requests from clients in this namespace (from the peer identity): VirtualService `sourceNamespace`. */
  sourceNamespace?: string;
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

/**
 * Envoy's `prefix_rewrite`, which VirtualService `rewrite.uri` and `redirect.prefixRewrite`
 * use: character by character, not per path element. When the path starts with `prefix`
 * (compared without case when `ignoreCase`), those characters become `replacement` (an empty
 * prefix puts it in front); the query string is kept. The controller sets it only where the
 * entry's match guarantees that prefix.
 */
export interface PrefixReplace {
  prefix: string;
  replacement: string;
  ignoreCase?: boolean;
}

export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  /** At most one of `path` and `replacePrefix`. */
  path?: PathModifier;
  replacePrefix?: PrefixReplace;
  port?: number;
  /** Defaulted by the controller (HTTPRoute: 302, VirtualService: 301). */
  statusCode: RedirectStatusCode;
}

export interface UrlRewrite {
  hostname?: string;
  /** At most one of `path` and `replacePrefix`. */
  path?: PathModifier;
  replacePrefix?: PrefixReplace;
}

/** `numerator` of every `denominator` requests; numerator 0 is none. */
export interface Fraction {
  numerator: number;
  denominator: number;
}

/** A copy of the request goes to one endpoint of the Service; its response is ignored. */
export interface RequestMirror {
  /** `<namespace>/<hostname>`. An unresolvable mirror never reaches the table. */
  service: string;
  port: number;
  /** `percent` is carried as `{ numerator: percent, denominator: 100 }`; neither means all. */
  fraction: Fraction;
  /** Only endpoints of this subset (see ServiceRoutes.destinations). */
  subset?: string;
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
  /**
   * Only endpoints of this subset: a name in the table's `destinations` entry for `service`,
   * which lists the subset's workloads (the parser checks that it is there).
   */
  subset?: string;
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

/**
 * Envoy's retry conditions (`x-envoy-retry-on` and `x-envoy-retry-grpc-on`), as VirtualService
 * `retries.retryOn` names them. `retriable-headers` and `http3-post-connect-failure` are left
 * out: the first needs header matchers no route API gives, the second HTTP/3.
 */
export const RETRY_CONDITIONS = [
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

/** GEP-1731 (HTTPRouteRule.retry), or a VirtualService's `retries`. */
export interface RouteRetry {
  /** Absent: the waypoint's default. */
  attempts?: number;
  /** With `on`: the retriable-status-codes (and `on` lists that condition when there are any). */
  codes: number[];
  /** Minimum milliseconds between attempts; absent: the waypoint's default. */
  backoff?: number;
  /**
   * When an attempt is retried, in Envoy's terms (VirtualService). Absent: GEP-1731's rule, a
   * response with one of `codes` or a connection error.
   */
  on?: RetryCondition[];
  /** Whether a retry goes to another endpoint than the ones tried (Envoy's previous-hosts predicate); absent: the waypoint's default. */
  ignorePreviousHosts?: boolean;
}

/** An abort's answer: an HTTP status, or a gRPC status code (0-16) in a gRPC response. */
export type FaultAbort =
  | { httpStatus: number; fraction: Fraction }
  | { grpcStatus: number; fraction: Fraction };

/**
 * VirtualService `fault`, applied before the request is routed to a backend (Envoy's fault
 * filter): the delay first (flag DI), then the abort (flag FI, body `fault filter abort`).
 * Each fires on its own fraction of requests; an aborted request is neither sent nor retried,
 * and the delay is not counted in the entry's timeouts.
 */
export interface RouteFault {
  delay?: { fixedDelay: number; fraction: Fraction };
  abort?: FaultAbort;
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
  fault?: RouteFault;
}

// ---- Destination policy (DestinationRule), per Service the waypoint sends to ----

export const SIMPLE_LOAD_BALANCERS = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const;
export type SimpleLoadBalancer = (typeof SIMPLE_LOAD_BALANCERS)[number];

/** What a consistent hash is computed from; exactly one key. */
export type HashKey =
  | { header: string }
  /** `ttl` (ms) set: a missing cookie is generated with it (0: a session cookie); absent: never generated. */
  | { cookie: { name: string; path?: string; ttl?: number } }
  | { sourceIp: true }
  | { queryParameter: string };

/** Ring hash (Envoy's default size 1024) or Maglev (a prime table size below 5000011, default 65537); the controller fills the defaults. */
export type HashAlgorithm = { ringHash: { minimumRingSize: number } } | { maglev: { tableSize: number } };

export type LoadBalancer =
  | { simple: SimpleLoadBalancer }
  | { consistentHash: { key: HashKey; algorithm: HashAlgorithm } };

/** Envoy's circuit-breaking thresholds, per waypoint replica and destination; an absent field has no limit (connectTimeout: the waypoint's default). */
export interface ConnectionPool {
  tcp?: { maxConnections?: number; connectTimeout?: number };
  http?: { http1MaxPendingRequests?: number; http2MaxRequests?: number; maxRequestsPerConnection?: number; maxRetries?: number };
}

/**
 * Envoy's outlier detection, with every default filled in. An endpoint is ejected after that
 * many consecutive 5xx (gateway errors: 502, 503, 504, and connection failures), 0 turning the
 * check off; for `baseEjectionTime` × the times it was ejected (ms); at most
 * `maxEjectionPercent` of the endpoints at once; and not at all while fewer than
 * `minHealthPercent` of them are healthy. Ejections are checked every `interval` (ms).
 */
export interface OutlierDetection {
  consecutive5xxErrors: number;
  consecutiveGatewayErrors: number;
  interval: number;
  baseEjectionTime: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

/**
 * The effective policy for requests to one subset and/or port, with the DestinationRule's
 * subset- and port-level overrides already merged (Istio's rules). An absent field means
 * the waypoint's default.
 */
export interface TrafficPolicy {
  /** Absent: any subset (or none). */
  subset?: string;
  /** The destination Service port; absent: any port. */
  port?: number;
  loadBalancer?: LoadBalancer;
  connectionPool?: ConnectionPool;
  outlierDetection?: OutlierDetection;
}

/** A DestinationRule subset: the workloads (uids) of the Service whose pods carry its labels. */
export interface SubsetEndpoints {
  name: string;
  workloads: string[];
}

/** How the waypoint sends requests to one Service. */
export interface DestinationPolicy {
  /** `<namespace>/<hostname>` of the destination Service. */
  service: string;
  /** `<namespace>/<name>` of the DestinationRules it was made from (several for the same host merge). */
  rules: string[];
  subsets: SubsetEndpoints[];
  /**
   * Most specific first: the waypoint uses the first whose `subset` and `port` both match the
   * request's (an absent one matches any); when none matches, its defaults apply. Circuit
   * breakers and outlier state are kept per service, subset and port, as Envoy keeps them per cluster.
   */
  policies: TrafficPolicy[];
}

/** Envoy Gateway's rate-limit units, as the length of one window. */
export const RATE_LIMIT_UNIT_MS = { Second: 1000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 } as const;
export type RateLimitUnit = keyof typeof RATE_LIMIT_UNIT_MS;
export const RATE_LIMIT_UNITS = Object.keys(RATE_LIMIT_UNIT_MS) as RateLimitUnit[];

/** `Distinct`: every value of the header gets its own bucket (a request without it is not selected). */
export const RATE_LIMIT_HEADER_MATCHES = ['Exact', 'RegularExpression', 'Distinct'] as const;
export type RateLimitHeaderMatchType = (typeof RATE_LIMIT_HEADER_MATCHES)[number];

export interface RateLimitHeaderMatch {
  /** Lower case. */
  name: string;
  type: RateLimitHeaderMatchType;
  /** Absent only for `Distinct`. */
  value?: string;
  /** Selects requests the match does not hold for (not with `Distinct`). */
  invert: boolean;
}

/** `Distinct`: every source address inside `value` gets its own bucket. */
export interface RateLimitSourceMatch {
  type: 'Exact' | 'Distinct';
  /** A CIDR block. */
  value: string;
}

/** Holds when every header match and the source match hold. */
export interface RateLimitSelector {
  headers: RateLimitHeaderMatch[];
  sourceCIDR?: RateLimitSourceMatch;
}

export interface RateLimitRule {
  /** All must hold for the rule to count a request; none selects every request. */
  clientSelectors: RateLimitSelector[];
  requests: number;
  unit: RateLimitUnit;
}

/**
 * One BackendTrafficPolicy's limits as they apply to a table. As in Envoy Gateway, every route
 * has buckets of its own, even when the policy names the Gateway or the Service: the waypoint
 * keys buckets by policy, rule, route and distinct values.
 */
export interface RateLimitPolicy {
  /** `<namespace>/<name>` of the BackendTrafficPolicy. */
  policy: string;
  /** `Local`: buckets in each waypoint replica; `Global`: counters shared through Redis by every replica of every waypoint. */
  type: 'Local' | 'Global';
  /** `<kind>/<namespace>/<name>` of the routes it limits; absent: every request of the Service. */
  routes?: string[];
  rules: RateLimitRule[];
}

export interface ServiceRoutes {
  /** `<namespace>/<hostname>`, as `resourceKey.service`. */
  service: string;
  /** `<namespace>/<gateway>` of the waypoint serving it. */
  waypoint: string;
  entries: RouteEntry[];
  /**
   * The DestinationRule policy of each Service this table sends to (backends and mirrors of its
   * entries, and the Service itself for requests no entry routes), one per Service; absent
   * when no DestinationRule applies. A table may have only this and no entries.
   */
  destinations?: DestinationPolicy[];
  /** BackendTrafficPolicy rate limits, in policy order; absent when none applies. */
  rateLimits?: RateLimitPolicy[];
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
  if (o['sourceWorkloads'] !== undefined) m.sourceWorkloads = arr(o, 'sourceWorkloads', path, item.string);
  const sourceNamespace = optStr(o, 'sourceNamespace', path);
  if (sourceNamespace !== undefined) m.sourceNamespace = sourceNamespace;
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

function routeMatch(v: unknown, path: string, kind: RouteRefKind): RouteMatch {
  const o = obj(v, path);
  const protocol = oneOf(o, 'protocol', path, [kind === 'GRPCRoute' ? 'grpc' : 'http'] as const);
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

function prefixReplace(v: unknown, path: string): PrefixReplace {
  const o = obj(v, path);
  const r: PrefixReplace = { prefix: str(o, 'prefix', path, { empty: true }), replacement: str(o, 'replacement', path, { empty: true }) };
  if (o['ignoreCase'] !== undefined) r.ignoreCase = bool(o, 'ignoreCase', path);
  return r;
}

/** `path` or `replacePrefix`, never both. */
function pathChange(o: Obj, path: string, into: { path?: PathModifier; replacePrefix?: PrefixReplace }): void {
  if (o['path'] !== undefined && o['replacePrefix'] !== undefined) throw new FieldError(`${path}.replacePrefix`, 'must not be set together with path');
  if (o['path'] !== undefined) into.path = pathModifier(o['path'], `${path}.path`);
  if (o['replacePrefix'] !== undefined) into.replacePrefix = prefixReplace(o['replacePrefix'], `${path}.replacePrefix`);
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
  pathChange(o, path, r);
  if (o['port'] !== undefined) r.port = port(o, 'port', path);
  return r;
}

function urlRewrite(v: unknown, path: string): UrlRewrite {
  const o = obj(v, path);
  const r: UrlRewrite = {};
  const host = hostname(o, 'hostname', path);
  if (host !== undefined) r.hostname = host;
  pathChange(o, path, r);
  return r;
}

function namespacedKey(o: Obj, key: string, path: string, what = 'hostname'): string {
  const v = str(o, key, path);
  if (!/^[^/]+\/[^/]+$/.test(v)) throw new FieldError(`${path}.${key}`, `must be <namespace>/<${what}>`);
  return v;
}

function fraction(v: unknown, path: string): Fraction {
  const f = obj(v, path);
  const denominator = int(f, 'denominator', path, 1, 2 ** 31 - 1);
  return { numerator: int(f, 'numerator', path, 0, denominator), denominator };
}

function subsetName(o: Obj, path: string): string | undefined {
  return optStr(o, 'subset', path);
}

function requestMirror(v: unknown, path: string): RequestMirror {
  const o = obj(v, path);
  const m: RequestMirror = { service: namespacedKey(o, 'service', path), port: port(o, 'port', path), fraction: fraction(o['fraction'], `${path}.fraction`) };
  const subset = subsetName(o, path);
  if (subset !== undefined) m.subset = subset;
  return m;
}

const FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'] as const;
const GRPC_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;

function routeFilter(kind: RouteRefKind) {
  return (v: unknown, path: string): RouteFilter => {
    const o = obj(v, path);
    const type = oneOf(o, 'type', path, kind === 'GRPCRoute' ? GRPC_FILTER_TYPES : FILTER_TYPES);
    switch (type) {
      case 'RequestHeaderModifier': return { type, requestHeaderModifier: headerModifier(o['requestHeaderModifier'], `${path}.requestHeaderModifier`) };
      case 'ResponseHeaderModifier': return { type, responseHeaderModifier: headerModifier(o['responseHeaderModifier'], `${path}.responseHeaderModifier`) };
      case 'RequestRedirect': return { type, requestRedirect: requestRedirect(o['requestRedirect'], `${path}.requestRedirect`) };
      case 'URLRewrite': return { type, urlRewrite: urlRewrite(o['urlRewrite'], `${path}.urlRewrite`) };
      case 'RequestMirror': return { type, requestMirror: requestMirror(o['requestMirror'], `${path}.requestMirror`) };
    }
  };
}

function backend(kind: RouteRefKind) {
  return (v: unknown, path: string): RouteBackend => {
    const o = obj(v, path);
    const weight = int(o, 'weight', path, 0, 1_000_000);
    if (o['invalid'] !== undefined) return { invalid: str(o, 'invalid', path), weight };
    const b: ServiceBackend = { service: namespacedKey(o, 'service', path), port: port(o, 'port', path), weight };
    if (o['filters'] !== undefined) b.filters = arr(o, 'filters', path, routeFilter(kind));
    const subset = subsetName(o, path);
    if (subset !== undefined) b.subset = subset;
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
  if (o['on'] !== undefined) {
    const on = arr(o, 'on', path, (x, p) => {
      const c = RETRY_CONDITIONS.find((k) => k === x);
      if (c === undefined) throw new FieldError(p, `must be one of ${RETRY_CONDITIONS.join(', ')}`);
      return c;
    });
    if (r.codes.length > 0 && !on.includes('retriable-status-codes')) throw new FieldError(`${path}.on`, 'must list retriable-status-codes when there are codes');
    r.on = on;
  }
  if (o['ignorePreviousHosts'] !== undefined) r.ignorePreviousHosts = bool(o, 'ignorePreviousHosts', path);
  return r;
}

/** gRPC status codes run from OK (0) to UNAUTHENTICATED (16). */
const GRPC_STATUS_MAX = 16;

function fault(v: unknown, path: string): RouteFault {
  const o = obj(v, path);
  const f: RouteFault = {};
  if (o['delay'] !== undefined) {
    const d = obj(o['delay'], `${path}.delay`);
    f.delay = { fixedDelay: int(d, 'fixedDelay', `${path}.delay`, 1, MAX_MS), fraction: fraction(d['fraction'], `${path}.delay.fraction`) };
  }
  if (o['abort'] !== undefined) {
    const at = `${path}.abort`;
    const a = obj(o['abort'], at);
    const share = fraction(a['fraction'], `${at}.fraction`);
    if ((a['httpStatus'] === undefined) === (a['grpcStatus'] === undefined)) throw new FieldError(at, 'must set exactly one of httpStatus and grpcStatus');
    f.abort = a['httpStatus'] !== undefined
      ? { httpStatus: int(a, 'httpStatus', at, 200, 599), fraction: share }
      : { grpcStatus: int(a, 'grpcStatus', at, 0, GRPC_STATUS_MAX), fraction: share };
  }
  if (f.delay === undefined && f.abort === undefined) throw new FieldError(path, 'must set delay or abort');
  return f;
}

function routeRef(v: unknown, path: string): RouteRef {
  const o = obj(v, path);
  const r: RouteRef = {
    kind: oneOf(o, 'kind', path, Object.values(RouteRefKind)),
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
  if (o['fault'] !== undefined) {
    if (route.kind === 'GRPCRoute') throw new FieldError(`${path}.fault`, 'is not part of a GRPCRoute');
    e.fault = fault(o['fault'], `${path}.fault`);
  }
  return e;
}

const MAX_INT32 = 2 ** 31 - 1;

/** Exactly one of `keys` is set in `o`; returns it. */
function oneKey<K extends string>(o: Obj, path: string, keys: readonly K[]): K {
  const set = keys.filter((k) => o[k] !== undefined);
  const only = set[0];
  if (only === undefined || set.length > 1) throw new FieldError(path, `must set exactly one of ${keys.join(', ')}`);
  return only;
}

function hashKey(v: unknown, path: string): HashKey {
  const o = obj(v, path);
  switch (oneKey(o, path, ['header', 'cookie', 'sourceIp', 'queryParameter'] as const)) {
    case 'header': {
      const header = str(o, 'header', path);
      if (!HEADER_NAME.test(header)) throw new FieldError(`${path}.header`, 'must be a header name');
      return { header: header.toLowerCase() };
    }
    case 'cookie': {
      const at = `${path}.cookie`;
      const c = obj(o['cookie'], at);
      const cookie: { name: string; path?: string; ttl?: number } = { name: str(c, 'name', at) };
      const cookiePath = optStr(c, 'path', at);
      const ttl = optInt(c, 'ttl', at, 0, MAX_MS);
      if (cookiePath !== undefined) cookie.path = cookiePath;
      if (ttl !== undefined) cookie.ttl = ttl;
      return { cookie };
    }
    case 'sourceIp':
      if (o['sourceIp'] !== true) throw new FieldError(`${path}.sourceIp`, 'must be true');
      return { sourceIp: true };
    case 'queryParameter':
      return { queryParameter: str(o, 'queryParameter', path) };
  }
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) return false;
  return true;
}

function hashAlgorithm(v: unknown, path: string): HashAlgorithm {
  const o = obj(v, path);
  if (oneKey(o, path, ['ringHash', 'maglev'] as const) === 'ringHash') {
    return { ringHash: { minimumRingSize: int(obj(o['ringHash'], `${path}.ringHash`), 'minimumRingSize', `${path}.ringHash`, 1, 8_388_608) } };
  }
  const tableSize = int(obj(o['maglev'], `${path}.maglev`), 'tableSize', `${path}.maglev`, 2, 5_000_010);
  if (!isPrime(tableSize)) throw new FieldError(`${path}.maglev.tableSize`, 'must be a prime number');
  return { maglev: { tableSize } };
}

function loadBalancer(v: unknown, path: string): LoadBalancer {
  const o = obj(v, path);
  if (oneKey(o, path, ['simple', 'consistentHash'] as const) === 'simple') return { simple: oneOf(o, 'simple', path, SIMPLE_LOAD_BALANCERS) };
  const at = `${path}.consistentHash`;
  const c = obj(o['consistentHash'], at);
  return { consistentHash: { key: hashKey(c['key'], `${at}.key`), algorithm: hashAlgorithm(c['algorithm'], `${at}.algorithm`) } };
}

/** The listed integer fields of `o[key]`, each optional; absent object: undefined. */
function limits<K extends string>(o: Obj, key: string, path: string, fields: readonly K[], max: Partial<Record<K, number>> = {}): Partial<Record<K, number>> | undefined {
  if (o[key] === undefined) return undefined;
  const at = `${path}.${key}`;
  const inner = obj(o[key], at);
  const out: Partial<Record<K, number>> = {};
  for (const f of fields) {
    const n = optInt(inner, f, at, 1, max[f] ?? MAX_INT32);
    if (n !== undefined) out[f] = n;
  }
  return out;
}

function connectionPool(v: unknown, path: string): ConnectionPool {
  const o = obj(v, path);
  const pool: ConnectionPool = {};
  const tcp = limits(o, 'tcp', path, ['maxConnections', 'connectTimeout'] as const, { connectTimeout: MAX_MS });
  const http = limits(o, 'http', path, ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries'] as const);
  if (tcp !== undefined) pool.tcp = tcp;
  if (http !== undefined) pool.http = http;
  return pool;
}

function outlierDetection(v: unknown, path: string): OutlierDetection {
  const o = obj(v, path);
  return {
    consecutive5xxErrors: int(o, 'consecutive5xxErrors', path, 0, MAX_INT32),
    consecutiveGatewayErrors: int(o, 'consecutiveGatewayErrors', path, 0, MAX_INT32),
    interval: int(o, 'interval', path, 1, MAX_MS),
    baseEjectionTime: int(o, 'baseEjectionTime', path, 1, MAX_MS),
    maxEjectionPercent: int(o, 'maxEjectionPercent', path, 0, 100),
    minHealthPercent: int(o, 'minHealthPercent', path, 0, 100),
  };
}

function trafficPolicy(subsets: ReadonlySet<string>) {
  return (v: unknown, path: string): TrafficPolicy => {
    const o = obj(v, path);
    const p: TrafficPolicy = {};
    const subset = subsetName(o, path);
    if (subset !== undefined) {
      if (!subsets.has(subset)) throw new FieldError(`${path}.subset`, `must name one of the listed subsets`);
      p.subset = subset;
    }
    if (o['port'] !== undefined) p.port = port(o, 'port', path);
    if (o['loadBalancer'] !== undefined) p.loadBalancer = loadBalancer(o['loadBalancer'], `${path}.loadBalancer`);
    if (o['connectionPool'] !== undefined) p.connectionPool = connectionPool(o['connectionPool'], `${path}.connectionPool`);
    if (o['outlierDetection'] !== undefined) p.outlierDetection = outlierDetection(o['outlierDetection'], `${path}.outlierDetection`);
    return p;
  };
}

function destinationPolicy(v: unknown, path: string): DestinationPolicy {
  const o = obj(v, path);
  const seen = new Set<string>();
  const subsets = arr(o, 'subsets', path, (x, p) => {
    const s = obj(x, p);
    const name = str(s, 'name', p);
    if (seen.has(name)) throw new FieldError(`${p}.name`, `subset ${name} is listed twice`);
    seen.add(name);
    return { name, workloads: arr(s, 'workloads', p, item.string) };
  });
  return {
    service: namespacedKey(o, 'service', path),
    rules: arr(o, 'rules', path, (x, p) => {
      if (typeof x !== 'string' || !/^[^/]+\/[^/]+$/.test(x)) throw new FieldError(p, 'must be <namespace>/<name>');
      return x;
    }),
    subsets,
    policies: arr(o, 'policies', path, trafficPolicy(seen)),
  };
}

/** Every backend or mirror that names a subset finds it among the destinations of its Service. */
function checkSubsets(entries: readonly RouteEntry[], destinations: readonly DestinationPolicy[], path: string): void {
  const known = new Set(destinations.flatMap((d) => d.subsets.map((s) => `${d.service}\0${s.name}`)));
  const check = (service: string, subset: string | undefined, at: string): void => {
    if (subset !== undefined && !known.has(`${service}\0${subset}`)) throw new FieldError(at, `subset ${subset} of ${service} is not in destinations`);
  };
  const mirrors = (filters: readonly RouteFilter[], at: string): void => {
    filters.forEach((f, k) => {
      if (f.type === 'RequestMirror') check(f.requestMirror.service, f.requestMirror.subset, `${at}[${k}].requestMirror.subset`);
    });
  };
  entries.forEach((e, i) => {
    const at = `${path}.entries[${i}]`;
    mirrors(e.filters, `${at}.filters`);
    e.backends.forEach((b, j) => {
      if ('invalid' in b) return;
      check(b.service, b.subset, `${at}.backends[${j}].subset`);
      mirrors(b.filters ?? [], `${at}.backends[${j}].filters`);
    });
  });
}

function rateLimitHeader(v: unknown, path: string): RateLimitHeaderMatch {
  const o = obj(v, path);
  const name = str(o, 'name', path);
  if (!HEADER_NAME.test(name) || name !== name.toLowerCase()) throw new FieldError(`${path}.name`, 'must be a lower-case header name');
  const type = oneOf(o, 'type', path, RATE_LIMIT_HEADER_MATCHES);
  const invert = o['invert'] === undefined ? false : bool(o, 'invert', path);
  if (type === 'Distinct') {
    if (o['value'] !== undefined) throw new FieldError(`${path}.value`, 'must be absent with Distinct');
    if (invert) throw new FieldError(`${path}.invert`, 'must be false with Distinct');
    return { name, type, invert };
  }
  const value = str(o, 'value', path, { empty: true });
  return { name, type, value: type === 'RegularExpression' ? checkedRegex(value, `${path}.value`) : value, invert };
}

function rateLimitSelector(v: unknown, path: string): RateLimitSelector {
  const o = obj(v, path);
  const s: RateLimitSelector = { headers: arr(o, 'headers', path, rateLimitHeader) };
  if (o['sourceCIDR'] !== undefined) {
    const c = obj(o['sourceCIDR'], `${path}.sourceCIDR`);
    const value = item.cidr(c['value'], `${path}.sourceCIDR.value`);
    if (!value.includes('/')) throw new FieldError(`${path}.sourceCIDR.value`, 'must be a CIDR block');
    s.sourceCIDR = { type: oneOf(c, 'type', `${path}.sourceCIDR`, ['Exact', 'Distinct'] as const), value };
  }
  return s;
}

function rateLimitRule(v: unknown, path: string): RateLimitRule {
  const o = obj(v, path);
  return {
    clientSelectors: arr(o, 'clientSelectors', path, rateLimitSelector),
    requests: int(o, 'requests', path, 1, MAX_INT32),
    unit: oneOf(o, 'unit', path, RATE_LIMIT_UNITS),
  };
}

function rateLimitPolicy(v: unknown, path: string): RateLimitPolicy {
  const o = obj(v, path);
  const p: RateLimitPolicy = {
    policy: namespacedKey(o, 'policy', path, 'name'),
    type: oneOf(o, 'type', path, ['Local', 'Global'] as const),
    rules: arr(o, 'rules', path, rateLimitRule),
  };
  if (p.rules.length === 0) throw new FieldError(`${path}.rules`, 'must list at least one rule');
  if (o['routes'] !== undefined) {
    p.routes = arr(o, 'routes', path, (x, at) => {
      if (typeof x !== 'string' || !/^[A-Za-z]+\/[^/]+\/[^/]+$/.test(x)) throw new FieldError(at, 'must be <kind>/<namespace>/<name>');
      return x;
    });
  }
  return p;
}

/** Checks a pushed route table field by field and returns a fresh typed copy; throws FieldError. */
export function parseServiceRoutes(v: unknown, path: string): ServiceRoutes {
  const o = obj(v, path);
  const table: ServiceRoutes = {
    service: namespacedKey(o, 'service', path),
    waypoint: namespacedKey(o, 'waypoint', path, 'gateway'),
    entries: arr(o, 'entries', path, routeEntry),
  };
  if (o['destinations'] !== undefined) {
    const destinations = arr(o, 'destinations', path, destinationPolicy);
    const services = new Set<string>();
    destinations.forEach((d, i) => {
      if (services.has(d.service)) throw new FieldError(`${path}.destinations[${i}].service`, `${d.service} is listed twice`);
      services.add(d.service);
    });
    table.destinations = destinations;
  }
  checkSubsets(table.entries, table.destinations ?? [], path);
  if (o['rateLimits'] !== undefined) table.rateLimits = arr(o, 'rateLimits', path, rateLimitPolicy);
  return table;
}
