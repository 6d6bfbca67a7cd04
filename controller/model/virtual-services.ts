// VirtualService → entries of the route tables waypoints apply, with a status condition per
// VirtualService. A VirtualService applies where Istio's waypoints take one: to each Service
// its `hosts` name (short name, `name.ns`, FQDN or wildcard) that uses a waypoint, when the
// VirtualService is in that Service's namespace or the waypoint's, is exported to the
// waypoint's namespace, and binds the `mesh` gateway. Rules keep their list order (the first
// rule that matches wins, as Istio documents), split into one entry per match and per
// Service port, since Istio resolves ports against the port a request arrived on. Rules are
// checked key by key; a VirtualService with anything weft cannot honour is left out whole
// (Accepted=False naming the field) and the others keep working.
//
// HTTPRoute and VirtualService on one Service: Istio documents mixing them at a waypoint as
// undefined behaviour. weft gives the whole Service to the Gateway API routes (the waypoint's
// own API, Beta in Istio where VirtualService is Alpha, and the one Istio's route selection
// orders first), rather than merging two precedence models into a table nobody wrote, and
// says so in the VirtualService's Accepted condition.
import { FieldError } from '#core/config/fields.ts';
import {
  HEADER_NAME, HTTP_METHODS, PRECISE_HOSTNAME, REDIRECT_STATUS_CODES, RETRY_CONDITIONS, compileRouteRegex, pathValueProblem, regexProblem,
  type Fraction, type HeaderMatch, type HeaderModifier, type HeaderValue, type HttpMethod, type HttpRouteMatch, type PathMatch,
  type QueryParamMatch, type RedirectStatusCode, type RequestRedirect, type RetryCondition, type RouteBackend, type RouteEntry,
  type RouteFault, type RouteFilter, type RouteRetry, type RouteTimeouts, type ServiceRoutes, type UrlRewrite,
} from '#core/config/routes.ts';
import type { ClusterObjects, Pod, Service, VirtualService } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import type { DestinationRuleIndex } from '#controller/model/destination-rules.ts';
import { podIsRunning } from '#controller/model/enrollment.ts';
import { selects } from '#controller/model/labels.ts';
import { tcpPorts } from '#controller/model/services.ts';
import {
  IstioSpecError, MILLION, duration, entries, exportedTo, fields, get, hostMatches, hostProblem, integer, labelMap, list,
  literalPattern, optBoolean, optInteger, optText, percentage, resolveHost, servicesByHost, text, workloadUids, type Obj,
} from '#controller/model/istio-fields.ts';

export interface VirtualServiceOptions {
  clusterId: string;
  /** `<namespace>/<name>` of a Service → `<namespace>/<gateway>` of its waypoint, if it has one. */
  waypointOfService: (serviceKey: string) => string | undefined;
  /**
   * `<namespace>/<hostname>` of a Service (a table's `service`) → the Gateway API routes that
   * already route it, e.g. `HTTPRoute shop/reviews`; undefined when none do.
   */
  claimedBy: (tableService: string) => string | undefined;
  /** Subsets are resolved against the DestinationRules that apply at the waypoint. */
  destinationRules: DestinationRuleIndex;
}

export interface CompiledVirtualServices {
  /** One table per Service at least one VirtualService applies to, ordered by Service; no destinations yet. */
  routes: ServiceRoutes[];
  conditions: ResourceCondition[];
}

const MESH = 'mesh';

// ---- Reading the raw rules (independent of the Service they apply to) ----

interface ReadMatch {
  path: PathMatch;
  /** What a `rewrite.uri` or `redirect.prefixRewrite` replaces: the matched prefix, or the whole path. */
  replaces: { prefix: string; ignoreCase: boolean } | 'path';
  headers: HeaderMatch[];
  queryParams: QueryParamMatch[];
  /** Undefined: any method. Several: one entry each (a prefix or regex over the methods weft knows). */
  methods?: HttpMethod[];
  port?: number;
  sourceLabels?: Readonly<Record<string, string>>;
  sourceNamespace?: string;
}

interface ReadDestination {
  /** Resolved against the VirtualService's namespace. */
  host: string;
  port?: number;
  subset?: string;
  path: string;
}

interface HeaderOps {
  modifier: HeaderModifier;
  /** `host` / `:authority` in set or add: Istio rewrites the authority instead. */
  authority?: string;
}

interface ReadRouteDestination {
  destination: ReadDestination;
  weight: number;
  request?: HeaderOps;
  response?: HeaderOps;
}

interface ReadRedirect {
  statusCode: RedirectStatusCode;
  scheme?: 'http' | 'https';
  hostname?: string;
  uri?: string;
  prefixRewrite?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
}

interface ReadRule {
  index: number;
  name?: string;
  /** Empty with `all`: the rule has no match and takes every request. */
  matches: ReadMatch[];
  all: boolean;
  route: ReadRouteDestination[];
  redirect?: ReadRedirect;
  rewrite?: { uri?: string; authority?: string };
  request?: HeaderOps;
  response?: HeaderOps;
  timeouts?: RouteTimeouts;
  /** Undefined: retries turned off (`attempts: 0`). */
  retry?: RouteRetry;
  fault?: RouteFault;
  mirrors: { destination: ReadDestination; fraction: Fraction }[];
}

/** Istio's default when a rule sets no `retries` (HTTPRoute.retries in virtual_service.proto; pilot's retry.go). */
const DEFAULT_RETRY: RouteRetry = { attempts: 2, codes: [], on: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'] };

const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

const SUBSET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ANY = '.*';
/** A regex that only the empty string matches (the wire's Exact needs a non-empty value). */
const EMPTY = '(?:)';

type StringMatch = { exact: string } | { prefix: string } | { regex: string } | { present: true };

/** Istio's StringMatch; none of its keys (`{}`), or the regex `*`, is a presence match. */
function stringMatch(v: unknown, path: string): StringMatch {
  const o = fields(v, path, ['exact', 'prefix', 'regex']);
  const set = ['exact', 'prefix', 'regex'].filter((k) => get(o, k) !== undefined);
  if (set.length > 1) throw new FieldError(path, 'must set only one of exact, prefix, regex');
  if (get(o, 'exact') !== undefined) return { exact: text(o, 'exact', path, { empty: true }) };
  if (get(o, 'prefix') !== undefined) return { prefix: text(o, 'prefix', path, { empty: true }) };
  if (get(o, 'regex') !== undefined) {
    const regex = text(o, 'regex', path, { empty: true });
    return regex === '*' ? { present: true } : { regex };
  }
  return { present: true };
}

function checkedRegex(value: string, path: string): string {
  const problem = regexProblem(value);
  if (problem !== undefined) throw new IstioSpecError(path, problem);
  return value;
}

/** A header or query value match in the table's terms: prefixes and presence become anchored regexes. */
function valueMatch(m: StringMatch, path: string): { type: 'Exact' | 'RegularExpression'; value: string } {
  if ('present' in m) return { type: 'RegularExpression', value: ANY };
  if ('exact' in m) return m.exact === '' ? { type: 'RegularExpression', value: EMPTY } : { type: 'Exact', value: m.exact };
  if ('prefix' in m) return { type: 'RegularExpression', value: `${literalPattern(m.prefix)}${ANY}` };
  return { type: 'RegularExpression', value: checkedRegex(m.regex, `${path}.regex`) };
}

/** The path part of a match, and what a prefix rewrite replaces for it (Envoy: the matched prefix, or the whole path). */
function uriMatch(v: unknown, path: string, ignoreCase: boolean): Pick<ReadMatch, 'path' | 'replaces'> {
  const m = stringMatch(v, path);
  const caseFlag = ignoreCase ? '(?i)' : '';
  if ('present' in m) return { path: { type: 'PathPrefix', value: '/' }, replaces: { prefix: '/', ignoreCase: false } };
  if ('regex' in m) return { path: { type: 'RegularExpression', value: checkedRegex(m.regex, `${path}.regex`) }, replaces: 'path' };
  if ('exact' in m) {
    if (!ignoreCase && pathValueProblem(m.exact) === undefined) return { path: { type: 'Exact', value: m.exact }, replaces: 'path' };
    return { path: { type: 'RegularExpression', value: `${caseFlag}${literalPattern(m.exact)}` }, replaces: 'path' };
  }
  // Envoy's prefix is character-wise (`/foo` takes `/foobar`), unlike the table's element-wise PathPrefix.
  if (m.prefix === '' || m.prefix === '/') return { path: { type: 'PathPrefix', value: '/' }, replaces: { prefix: m.prefix, ignoreCase: false } };
  return { path: { type: 'RegularExpression', value: `${caseFlag}${literalPattern(m.prefix)}${ANY}` }, replaces: { prefix: m.prefix, ignoreCase } };
}

/** The methods a StringMatch on `:method` takes, among those the table can name. */
function methodMatch(v: unknown, path: string): HttpMethod[] | undefined {
  const m = stringMatch(v, path);
  if ('present' in m) return undefined;
  if ('exact' in m) {
    const found = HTTP_METHODS.find((x) => x === m.exact);
    if (found === undefined) throw new IstioSpecError(`${path}.exact`, `${JSON.stringify(m.exact)} is not supported: weft matches the methods ${HTTP_METHODS.join(', ')} (case-sensitive)`);
    return [found];
  }
  if ('prefix' in m) return HTTP_METHODS.filter((x) => x.startsWith(m.prefix));
  const re = compileRouteRegex(checkedRegex(m.regex, `${path}.regex`));
  return HTTP_METHODS.filter((x) => re.test(x));
}

const MATCH_FIELDS = ['name', 'uri', 'method', 'headers', 'port', 'sourceLabels', 'gateways', 'queryParams', 'ignoreUriCase', 'sourceNamespace', 'statPrefix'];
const MATCH_UNSUPPORTED: Readonly<Record<string, string>> = {
  scheme: 'requests reach a waypoint as plain HTTP inside HBONE, so the scheme tells nothing',
  authority: 'weft selects a waypoint route table by Service, not by Host header',
  withoutHeaders: 'weft route tables have no negative header matches yet',
};
/** Header names Istio leaves out of header matches (they name other parts of the request). */
const NOT_HEADERS = ['uri', 'scheme', 'method', 'authority'];

/** undefined when the match names gateways and none of them is `mesh`: Istio leaves it out of waypoints and sidecars. */
function readMatch(v: unknown, path: string): ReadMatch | undefined {
  const o = fields(v, path, MATCH_FIELDS, MATCH_UNSUPPORTED);
  const gateways = list(o, 'gateways', path, (x, p) => {
    if (typeof x !== 'string' || x === '') throw new FieldError(p, 'must be a gateway name');
    return x;
  });
  if (gateways.length > 0 && !gateways.includes(MESH)) return undefined;
  const ignoreCase = optBoolean(o, 'ignoreUriCase', path) ?? false;
  const uri = get(o, 'uri') === undefined
    ? { path: { type: 'PathPrefix', value: '/' } as PathMatch, replaces: { prefix: '/', ignoreCase: false } }
    : uriMatch(o['uri'], `${path}.uri`, ignoreCase);
  const headers: HeaderMatch[] = [];
  for (const [raw, m] of entries(o, 'headers', path, (x, p) => ({ match: stringMatch(x, p), path: p }))) {
    const name = raw.toLowerCase();
    if (NOT_HEADERS.includes(name)) continue;
    if (name.startsWith('@')) throw new IstioSpecError(m.path, 'is not supported: matching JWT claims needs RequestAuthentication, which weft does not implement');
    if (!HEADER_NAME.test(name)) throw new IstioSpecError(m.path, `${JSON.stringify(raw)} is not a header name weft can match (pseudo-headers are not in the table)`);
    if (headers.some((h) => h.name === name)) throw new FieldError(m.path, `header ${name} is matched twice (names are case-insensitive)`);
    headers.push({ name, ...valueMatch(m.match, m.path) });
  }
  const queryParams: QueryParamMatch[] = entries(o, 'queryParams', path, (x, p, name) => {
    if (name === '') throw new FieldError(p, 'must have a parameter name');
    return { name, ...valueMatch(stringMatch(x, p), p) };
  }).map(([, q]) => q);
  const m: ReadMatch = { ...uri, headers, queryParams };
  if (get(o, 'method') !== undefined) {
    const methods = methodMatch(o['method'], `${path}.method`);
    if (methods !== undefined) m.methods = methods;
  }
  const port = optInteger(o, 'port', path, 1, 65535);
  if (port !== undefined) m.port = port;
  const labels = labelMap(o, 'sourceLabels', path);
  if (Object.keys(labels).length > 0) m.sourceLabels = labels;
  const sourceNamespace = optText(o, 'sourceNamespace', path);
  if (sourceNamespace !== undefined) m.sourceNamespace = sourceNamespace;
  return m;
}

function readDestination(v: unknown, path: string, namespace: string): ReadDestination {
  const o = fields(v, path, ['host', 'subset', 'port']);
  const host = text(o, 'host', path);
  const problem = host === '*' || host.startsWith('*.') ? 'must name one Service, not a wildcard' : hostProblem(host);
  if (problem !== undefined) throw new FieldError(`${path}.host`, problem);
  const d: ReadDestination = { host: resolveHost(host, namespace), path };
  const subset = optText(o, 'subset', path);
  if (subset !== undefined) {
    if (!SUBSET_NAME.test(subset)) throw new FieldError(`${path}.subset`, `${JSON.stringify(subset)} is not a valid subset name (a DNS label)`);
    d.subset = subset;
  }
  if (get(o, 'port') !== undefined) d.port = integer(fields(o['port'], `${path}.port`, ['number']), 'number', `${path}.port`, 1, 65535);
  return d;
}

function isAuthority(name: string): boolean {
  return name === 'host' || name === ':authority';
}

/**
 * Istio's header operations as one table modifier: `host`/`:authority` become the authority
 * (pseudo-headers are dropped, as Istio drops them), and since Envoy removes before it adds,
 * a name both removed and set keeps the set, and one both set and added gets both values.
 */
function headerOps(v: unknown, path: string): HeaderOps {
  const o = fields(v, path, ['set', 'add', 'remove']);
  const values = (key: 'set' | 'add'): HeaderValue[] => {
    const out: HeaderValue[] = [];
    for (const [, h] of entries(o, key, path, (x, p, name) => {
      if (typeof x !== 'string') throw new FieldError(p, 'must be a string');
      // A line break or NUL would split the header, and Node refuses to send it.
      if (/[\r\n\0]/.test(x)) throw new FieldError(p, 'must not contain line breaks or NUL');
      if (!isAuthority(name.toLowerCase()) && !name.startsWith(':') && !HEADER_NAME.test(name)) throw new FieldError(p, `${JSON.stringify(name)} is not a header name`);
      if (out.some((d) => d.name === name.toLowerCase())) throw new FieldError(p, `header ${name} is listed twice (names are case-insensitive)`);
      const h = { name: name.toLowerCase(), value: x };
      out.push(h);
      return h;
    })) void h;
    return out;
  };
  const set = values('set');
  const add = values('add');
  const ops: HeaderOps = { modifier: { set: [], add: [], remove: [] } };
  const authority = [...set, ...add].filter((h) => isAuthority(h.name));
  if (authority.length > 1) throw new FieldError(path, 'sets the authority (host) more than once');
  if (authority[0] !== undefined) ops.authority = authority[0].value;
  const keep = (h: HeaderValue): boolean => !h.name.startsWith(':') && h.name !== 'host';
  for (const h of set.filter(keep)) {
    const more = add.find((a) => a.name === h.name);
    ops.modifier.set.push(more === undefined ? h : { name: h.name, value: `${h.value},${more.value}` });
  }
  for (const h of add.filter(keep)) if (!set.some((s) => s.name === h.name)) ops.modifier.add.push(h);
  const written = new Set([...ops.modifier.set, ...ops.modifier.add].map((h) => h.name));
  for (const name of list(o, 'remove', path, (x, p) => {
    if (typeof x !== 'string' || (!x.startsWith(':') && !HEADER_NAME.test(x))) throw new FieldError(p, 'must be a header name');
    return x.toLowerCase();
  })) {
    if (!name.startsWith(':') && name !== 'host' && !written.has(name) && !ops.modifier.remove.includes(name)) ops.modifier.remove.push(name);
  }
  return ops;
}

function headers(o: Obj, path: string, into: { request?: HeaderOps; response?: HeaderOps }): void {
  if (get(o, 'headers') === undefined) return;
  const at = `${path}.headers`;
  const h = fields(o['headers'], at, ['request', 'response']);
  if (get(h, 'request') !== undefined) into.request = headerOps(h['request'], `${at}.request`);
  if (get(h, 'response') !== undefined) {
    const response = headerOps(h['response'], `${at}.response`);
    delete response.authority;
    into.response = response;
  }
}

function readRedirect(v: unknown, path: string, matches: readonly ReadMatch[]): ReadRedirect {
  const o = fields(v, path, ['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode', 'prefixRewrite']);
  const code = optInteger(o, 'redirectCode', path, 0, 999) ?? 0;
  const statusCode = REDIRECT_STATUS_CODES.find((c) => c === (code === 0 ? 301 : code));
  if (statusCode === undefined) throw new IstioSpecError(`${path}.redirectCode`, `${code} is not supported (${REDIRECT_STATUS_CODES.join(', ')})`);
  const r: ReadRedirect = { statusCode };
  const uri = optText(o, 'uri', path);
  const prefixRewrite = optText(o, 'prefixRewrite', path, { empty: true });
  if (uri !== undefined && prefixRewrite !== undefined) throw new FieldError(path, 'may set only one of uri and prefixRewrite');
  if (uri !== undefined) {
    if (!uri.startsWith('/')) throw new IstioSpecError(`${path}.uri`, 'must start with "/" for weft');
    r.uri = uri;
  }
  if (prefixRewrite !== undefined && prefixRewrite !== '') {
    if (matches.some((m) => m.replaces === 'path')) throw new FieldError(`${path}.prefixRewrite`, 'needs every uri match of the rule to be a prefix match');
    r.prefixRewrite = prefixRewrite;
  }
  const authority = optText(o, 'authority', path);
  if (authority !== undefined) {
    if (!PRECISE_HOSTNAME.test(authority.toLowerCase())) throw new IstioSpecError(`${path}.authority`, `${JSON.stringify(authority)} is not supported: weft redirects to a host name without a port (set redirect.port for one)`);
    r.hostname = authority.toLowerCase();
  }
  const scheme = optText(o, 'scheme', path);
  if (scheme !== undefined) {
    if (scheme !== 'http' && scheme !== 'https') throw new FieldError(`${path}.scheme`, 'must be http or https');
    r.scheme = scheme;
  }
  if (get(o, 'port') !== undefined && get(o, 'derivePort') !== undefined) throw new FieldError(path, 'may set only one of port and derivePort');
  const port = optInteger(o, 'port', path, 1, 65535);
  if (port !== undefined) r.port = port;
  const derive = optText(o, 'derivePort', path);
  if (derive !== undefined) {
    if (derive !== 'FROM_PROTOCOL_DEFAULT' && derive !== 'FROM_REQUEST_PORT') throw new FieldError(`${path}.derivePort`, 'must be FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT');
    r.derivePort = derive;
  }
  if (r.uri === undefined && r.prefixRewrite === undefined && r.hostname === undefined && r.scheme === undefined && r.port === undefined && r.derivePort === undefined) {
    throw new FieldError(path, 'must set uri, prefixRewrite, authority, scheme or a port');
  }
  return r;
}

function readRetries(v: unknown, path: string): { retry?: RouteRetry; perTry?: number } {
  const o = fields(v, path, ['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff']);
  const attempts = optInteger(o, 'attempts', path, 0, 2 ** 31 - 1) ?? 0;
  const perTry = duration(o, 'perTryTimeout', path);
  const retryOn = optText(o, 'retryOn', path, { empty: true }) ?? '';
  if (attempts === 0) {
    if (perTry !== undefined || retryOn !== '' || get(o, 'retryRemoteLocalities') !== undefined) throw new FieldError(path, 'sets a retry policy while attempts is 0 (retries off)');
    return {};
  }
  const retry: RouteRetry = { attempts, codes: [] };
  const on: RetryCondition[] = [];
  for (const part of retryOn.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (/^\d+$/.test(part)) {
      const code = Number(part);
      if (code < 400 || code > 599) throw new IstioSpecError(`${path}.retryOn`, `status ${part} is not supported: weft retries on 4xx and 5xx codes`);
      if (!retry.codes.includes(code)) retry.codes.push(code);
      continue;
    }
    const c = RETRY_CONDITIONS.find((k) => k === part);
    if (c === undefined) {
      const known = part === 'retriable-headers' || part === 'http3-post-connect-failure';
      throw known ? new IstioSpecError(`${path}.retryOn`, `${part} is not supported by weft`) : new FieldError(`${path}.retryOn`, `${JSON.stringify(part)} is not a retry condition (${RETRY_CONDITIONS.join(', ')}, or a status code)`);
    }
    if (!on.includes(c)) on.push(c);
  }
  // Istio: status codes imply retriable-status-codes; an empty retryOn is the default list.
  if (retry.codes.length > 0 && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
  retry.on = on.length === 0 ? [...(DEFAULT_RETRY.on ?? [])] : on;
  const backoff = duration(o, 'backoff', path);
  if (backoff !== undefined) retry.backoff = backoff;
  const ignorePrevious = optBoolean(o, 'retryIgnorePreviousHosts', path);
  if (ignorePrevious !== undefined) retry.ignorePreviousHosts = ignorePrevious;
  return perTry === undefined ? { retry } : { retry, perTry };
}

function faultShare(o: Obj, path: string, legacyPercent: boolean): Fraction {
  const p = percentage(o, 'percentage', path);
  if (p !== undefined) return p;
  // Istio: without a percentage nothing is injected; the deprecated integer `percent` still counts for delays.
  const legacy = legacyPercent ? optInteger(o, 'percent', path, 0, 100) : undefined;
  return { numerator: legacy ?? 0, denominator: legacy === undefined ? MILLION : 100 };
}

function readFault(v: unknown, path: string): RouteFault {
  const o = fields(v, path, ['delay', 'abort']);
  const f: RouteFault = {};
  if (get(o, 'delay') !== undefined) {
    const at = `${path}.delay`;
    const d = fields(o['delay'], at, ['percent', 'fixedDelay', 'percentage'], { exponentialDelay: 'Istio does not implement it either' });
    const fixedDelay = duration(d, 'fixedDelay', at);
    if (fixedDelay === undefined) throw new FieldError(`${at}.fixedDelay`, 'is required');
    f.delay = { fixedDelay, fraction: faultShare(d, at, true) };
  }
  if (get(o, 'abort') !== undefined) {
    const at = `${path}.abort`;
    const a = fields(o['abort'], at, ['httpStatus', 'grpcStatus', 'percentage'], { http2Error: 'Istio does not implement it either' });
    const share = faultShare(a, at, false);
    if ((get(a, 'httpStatus') === undefined) === (get(a, 'grpcStatus') === undefined)) throw new FieldError(at, 'must set exactly one of httpStatus and grpcStatus');
    if (get(a, 'httpStatus') !== undefined) {
      f.abort = { httpStatus: integer(a, 'httpStatus', at, 200, 599), fraction: share };
    } else {
      const name = text(a, 'grpcStatus', at);
      const code = GRPC_STATUS[name];
      if (code === undefined) throw new FieldError(`${at}.grpcStatus`, `${JSON.stringify(name)} is not a gRPC status name (e.g. UNAVAILABLE, NOT_FOUND)`);
      f.abort = { grpcStatus: code, fraction: share };
    }
  }
  if (f.delay === undefined && f.abort === undefined) throw new FieldError(path, 'must set delay and/or abort');
  return f;
}

function readMirrors(o: Obj, path: string, namespace: string): ReadRule['mirrors'] {
  if (get(o, 'mirror') !== undefined && get(o, 'mirrors') !== undefined) throw new FieldError(path, 'may set only one of mirror and mirrors');
  const out: ReadRule['mirrors'] = [];
  const add = (destination: ReadDestination, fraction: Fraction): void => {
    // Istio: an explicit 0 % mirrors nothing, so there is no mirror.
    if (fraction.numerator > 0) out.push({ destination, fraction });
  };
  if (get(o, 'mirror') !== undefined) {
    if (get(o, 'mirrorPercentage') !== undefined && get(o, 'mirrorPercent') !== undefined) throw new FieldError(path, 'may set only one of mirrorPercentage and mirrorPercent');
    const legacy = optInteger(o, 'mirrorPercent', path, 0, 100);
    add(readDestination(o['mirror'], `${path}.mirror`, namespace), percentage(o, 'mirrorPercentage', path) ?? { numerator: legacy ?? 100, denominator: 100 });
  } else if (get(o, 'mirrorPercentage') !== undefined || get(o, 'mirrorPercent') !== undefined) {
    throw new FieldError(path, 'sets a mirror percentage without a mirror');
  }
  list(o, 'mirrors', path, (x, p) => {
    const m = fields(x, p, ['destination', 'percentage']);
    if (get(m, 'destination') === undefined) throw new FieldError(`${p}.destination`, 'is required');
    add(readDestination(m['destination'], `${p}.destination`, namespace), percentage(m, 'percentage', p) ?? { numerator: 100, denominator: 100 });
  });
  return out;
}

const RULE_FIELDS = ['name', 'match', 'route', 'redirect', 'rewrite', 'timeout', 'retries', 'fault', 'mirror', 'mirrors', 'mirrorPercentage', 'mirrorPercent', 'headers'];
const RULE_UNSUPPORTED: Readonly<Record<string, string>> = {
  directResponse: 'weft route tables cannot answer with a fixed response yet',
  delegate: 'weft does not merge delegate VirtualServices',
  corsPolicy: 'weft does not implement CORS yet',
};

function readRule(v: unknown, index: number, namespace: string): ReadRule | undefined {
  const path = `spec.http[${index}]`;
  const o = fields(v, path, RULE_FIELDS, RULE_UNSUPPORTED);
  const listed = list(o, 'match', path, readMatch);
  const matches = listed.filter((m) => m !== undefined);
  // Every match named other gateways: the rule is not for waypoints at all (and no catch-all).
  if (listed.length > 0 && matches.length === 0) return undefined;
  const rule: ReadRule = { index, matches, all: listed.length === 0, route: [], mirrors: readMirrors(o, path, namespace) };
  const name = optText(o, 'name', path);
  if (name !== undefined) rule.name = name;
  rule.route = list(o, 'route', path, (x, p) => {
    const d = fields(x, p, ['destination', 'weight', 'headers']);
    if (get(d, 'destination') === undefined) throw new FieldError(`${p}.destination`, 'is required');
    const rd: ReadRouteDestination = { destination: readDestination(d['destination'], `${p}.destination`, namespace), weight: optInteger(d, 'weight', p, 0, 1_000_000) ?? 0 };
    headers(d, p, rd);
    return rd;
  });
  if (rule.route.length > 1 && rule.route.every((d) => d.weight === 0)) throw new FieldError(`${path}.route`, 'total destination weight is 0');
  if (get(o, 'redirect') !== undefined) {
    for (const k of ['route', 'rewrite', 'fault']) if (get(o, k) !== undefined) throw new FieldError(`${path}.${k}`, 'cannot be used together with redirect');
    rule.redirect = readRedirect(o['redirect'], `${path}.redirect`, matches);
  } else if (rule.route.length === 0) {
    throw new FieldError(`${path}.route`, 'is required (or redirect)');
  }
  if (get(o, 'rewrite') !== undefined) {
    const at = `${path}.rewrite`;
    const r = fields(o['rewrite'], at, ['uri', 'authority'], { uriRegexRewrite: 'weft rewrites with uri (a prefix or the whole path) only' });
    const rewrite: { uri?: string; authority?: string } = {};
    const uri = optText(r, 'uri', at);
    const authority = optText(r, 'authority', at);
    if (uri !== undefined) {
      if (matches.some((m) => m.replaces === 'path') && !uri.startsWith('/')) throw new IstioSpecError(`${at}.uri`, 'must start with "/" when it replaces a whole path');
      rewrite.uri = uri;
    }
    if (authority !== undefined) {
      if (!PRECISE_HOSTNAME.test(authority.toLowerCase())) throw new IstioSpecError(`${at}.authority`, `${JSON.stringify(authority)} is not supported: weft rewrites the authority to a host name without a port`);
      rewrite.authority = authority.toLowerCase();
    }
    if (uri === undefined && authority === undefined) throw new FieldError(at, 'must set uri or authority');
    rule.rewrite = rewrite;
  }
  headers(o, path, rule);
  if (rule.request?.authority !== undefined) {
    if (rule.rewrite?.authority !== undefined) throw new FieldError(`${path}.headers.request`, 'sets the authority, which rewrite.authority already sets');
    if (!PRECISE_HOSTNAME.test(rule.request.authority.toLowerCase())) throw new IstioSpecError(`${path}.headers.request`, 'sets the authority to something other than a host name without a port');
  }
  const timeout = duration(o, 'timeout', path, 0);
  if (timeout !== undefined) rule.timeouts = { request: timeout };
  if (get(o, 'retries') === undefined) {
    rule.retry = { ...DEFAULT_RETRY, on: [...(DEFAULT_RETRY.on ?? [])] };
  } else {
    const { retry, perTry } = readRetries(o['retries'], `${path}.retries`);
    if (retry !== undefined) rule.retry = retry;
    if (perTry !== undefined) rule.timeouts = { ...rule.timeouts, backendRequest: perTry };
  }
  if (get(o, 'fault') !== undefined) rule.fault = readFault(o['fault'], `${path}.fault`);
  return rule;
}

interface ReadVirtualService {
  vs: VirtualService;
  hosts: string[];
  rules: ReadRule[];
}

function readVirtualService(vs: VirtualService): ReadVirtualService {
  const problem = vs.fieldProblems?.[0];
  if (problem !== undefined) throw new IstioSpecError(problem.path, problem.message);
  if (vs.spec.tcp.length > 0) throw new IstioSpecError('spec.tcp', 'is not supported: weft waypoints take HTTP routes from VirtualServices');
  if (vs.spec.tls.length > 0) throw new IstioSpecError('spec.tls', 'is not supported: weft waypoints take HTTP routes from VirtualServices');
  if (vs.spec.hosts.length === 0) throw new FieldError('spec.hosts', 'must name at least one host (delegate VirtualServices are not supported)');
  const hosts = vs.spec.hosts.map((h, i) => {
    const p = hostProblem(h);
    if (p !== undefined) throw new FieldError(`spec.hosts[${i}]`, p);
    return resolveHost(h, vs.metadata.namespace);
  });
  const rules: ReadRule[] = [];
  vs.spec.http.forEach((raw, i) => {
    const rule = readRule(raw, i, vs.metadata.namespace);
    if (rule !== undefined) rules.push(rule);
  });
  return { vs, hosts, rules };
}

// ---- Entries for one Service ----

interface Attachment {
  read: ReadVirtualService;
  key: string;
  service: Service;
  waypoint: string;
  /** `<namespace>/<hostname>`. */
  table: string;
}

type RefProblem = string;

class Resolver {
  readonly #objects: ClusterObjects;
  readonly #hosts: ReturnType<typeof servicesByHost>;
  readonly #opts: VirtualServiceOptions;
  #pods: Pod[] | undefined;
  readonly #sourceMemo = new Map<string, string[]>();

  constructor(objects: ClusterObjects, opts: VirtualServiceOptions) {
    this.#objects = objects;
    this.#hosts = servicesByHost(objects);
    this.#opts = opts;
  }

  /** The Services a (resolved) host names, in `objects.services` order. */
  servicesFor(host: string): { fqdn: string; key: string; service: Service }[] {
    if (!host.startsWith('*')) {
      const found = this.#hosts.get(host);
      return found === undefined ? [] : [{ fqdn: host, ...found }];
    }
    return [...this.#hosts].filter(([fqdn]) => hostMatches(host, fqdn)).map(([fqdn, found]) => ({ fqdn, ...found }));
  }

  /** A destination for requests that arrived on `listenerPort`, or why it cannot be reached. */
  destination(d: ReadDestination, listenerPort: number, waypoint: string): { service: string; port: number; subset?: string } | { problem: RefProblem } {
    const found = this.#hosts.get(d.host);
    if (found === undefined) return { problem: `${d.path}: host ${d.host} is not a Service in the cluster (weft does not read ServiceEntry)` };
    const ports = tcpPorts(found.service).map((p) => p.port);
    // Istio: a Service with one port needs none named; otherwise the port the request came in on.
    const port = d.port ?? (ports.length === 1 ? ports[0] ?? listenerPort : listenerPort);
    if (!ports.includes(port)) return { problem: `${d.path}: Service ${found.key} has no port ${port}` };
    const out: { service: string; port: number; subset?: string } = { service: `${found.service.metadata.namespace}/${d.host}`, port };
    if (d.subset !== undefined) {
      if (!this.#opts.destinationRules.hasSubset(found.key, waypoint, d.subset)) {
        return { problem: `${d.path}: subset ${d.subset} of Service ${found.key} is not defined by a DestinationRule that applies at waypoint ${waypoint}` };
      }
      out.subset = d.subset;
    }
    return out;
  }

  /** Workload uids of running pods with these labels (in that namespace, if given): VirtualService sourceLabels. */
  sources(labels: Readonly<Record<string, string>>, namespace: string | undefined): string[] {
    const key = JSON.stringify([namespace ?? '', Object.entries(labels).sort()]);
    let uids = this.#sourceMemo.get(key);
    if (uids === undefined) {
      this.#pods ??= [...this.#objects.pods.values()].filter(podIsRunning);
      uids = workloadUids(this.#pods.filter((p) => (namespace === undefined || p.metadata.namespace === namespace) && selects(labels, p.metadata.labels)), this.#opts.clusterId);
      this.#sourceMemo.set(key, uids);
    }
    return uids;
  }
}

const DEFAULT_PORT = { http: 80, https: 443 } as const;

function modifiers(ops: { request?: HeaderOps; response?: HeaderOps }): RouteFilter[] {
  const out: RouteFilter[] = [];
  const empty = (m: HeaderModifier): boolean => m.set.length + m.add.length + m.remove.length === 0;
  if (ops.request !== undefined && !empty(ops.request.modifier)) out.push({ type: 'RequestHeaderModifier', requestHeaderModifier: ops.request.modifier });
  if (ops.response !== undefined && !empty(ops.response.modifier)) out.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: ops.response.modifier });
  return out;
}

/** The path change a rewrite or prefix redirect makes for one match. */
function pathChange(m: ReadMatch | undefined, replacement: string): Pick<UrlRewrite, 'path' | 'replacePrefix'> {
  const replaces = m?.replaces ?? { prefix: '/', ignoreCase: false };
  if (replaces === 'path') return { path: { type: 'ReplaceFullPath', replaceFullPath: replacement } };
  // An empty prefix (Envoy's match-everything) replaces nothing: the replacement is put in front.
  return { replacePrefix: { prefix: replaces.prefix, replacement, ...(replaces.ignoreCase ? { ignoreCase: true } : {}) } };
}

function redirectFor(r: ReadRedirect, m: ReadMatch | undefined, listenerPort: number): RequestRedirect {
  const out: RequestRedirect = { statusCode: r.statusCode };
  if (r.scheme !== undefined) out.scheme = r.scheme;
  if (r.hostname !== undefined) out.hostname = r.hostname;
  if (r.uri !== undefined) out.path = { type: 'ReplaceFullPath', replaceFullPath: r.uri };
  if (r.prefixRewrite !== undefined) {
    const change = pathChange(m, r.prefixRewrite);
    if (change.replacePrefix !== undefined) out.replacePrefix = change.replacePrefix;
  }
  if (r.port !== undefined) out.port = r.port;
  else if (r.derivePort === 'FROM_REQUEST_PORT') out.port = listenerPort;
  // A new authority without a port, or the protocol's default, is a Location without a port.
  else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT' || r.hostname !== undefined) out.port = DEFAULT_PORT[r.scheme ?? 'http'];
  return out;
}

function entriesFor(resolver: Resolver, a: Attachment, refProblems: RefProblem[]): RouteEntry[] {
  const { vs } = a.read;
  const out: RouteEntry[] = [];
  const problem = (p: RefProblem): void => {
    if (!refProblems.includes(p)) refProblems.push(p);
  };
  for (const listenerPort of tcpPorts(a.service).map((p) => p.port)) {
    for (const rule of a.read.rules) {
      const route = { kind: 'VirtualService' as const, namespace: vs.metadata.namespace, name: vs.metadata.name, rule: rule.index, ...(rule.name === undefined ? {} : { ruleName: rule.name }) };
      const backends: RouteBackend[] = rule.route.map((d) => {
        const weight = rule.route.length === 1 ? 1 : d.weight;
        const target = resolver.destination(d.destination, listenerPort, a.waypoint);
        if ('problem' in target) {
          problem(target.problem);
          return { invalid: target.problem, weight };
        }
        const b: RouteBackend = { service: target.service, port: target.port, weight, ...(target.subset === undefined ? {} : { subset: target.subset }) };
        const filters = modifiers(d);
        const authority = d.request?.authority;
        // A destination's authority counts only when the rule sets none (as Istio builds it).
        if (authority !== undefined && rule.rewrite?.authority === undefined && rule.request?.authority === undefined) filters.unshift({ type: 'URLRewrite', urlRewrite: { hostname: authority.toLowerCase() } });
        if (filters.length > 0) b.filters = filters;
        return b;
      });
      const mirrors: RouteFilter[] = [];
      for (const m of rule.mirrors) {
        const target = resolver.destination(m.destination, listenerPort, a.waypoint);
        // An unusable mirror is dropped; the request itself still goes through.
        if ('problem' in target) problem(target.problem);
        else mirrors.push({ type: 'RequestMirror', requestMirror: { service: target.service, port: target.port, fraction: m.fraction, ...(target.subset === undefined ? {} : { subset: target.subset }) } });
      }
      const matches: (ReadMatch | undefined)[] = rule.all ? [undefined] : rule.matches.filter((m) => m.port === undefined || m.port === listenerPort);
      for (const m of matches) {
        const filters: RouteFilter[] = [];
        if (rule.redirect !== undefined) filters.push({ type: 'RequestRedirect', requestRedirect: redirectFor(rule.redirect, m, listenerPort) });
        const authority = rule.rewrite?.authority ?? rule.request?.authority?.toLowerCase();
        if (rule.rewrite?.uri !== undefined || authority !== undefined) {
          const rewrite: UrlRewrite = rule.rewrite?.uri === undefined ? {} : pathChange(m, rule.rewrite.uri);
          if (authority !== undefined) rewrite.hostname = authority;
          filters.push({ type: 'URLRewrite', urlRewrite: rewrite });
        }
        filters.push(...modifiers(rule), ...mirrors);
        const base: HttpRouteMatch = m === undefined
          ? { protocol: 'http', path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }
          : { protocol: 'http', path: m.path, headers: m.headers, queryParams: m.queryParams };
        if (m?.sourceLabels !== undefined) base.sourceWorkloads = resolver.sources(m.sourceLabels, m.sourceNamespace);
        if (m?.sourceNamespace !== undefined) base.sourceNamespace = m.sourceNamespace;
        for (const method of m?.methods ?? [undefined]) {
          const entry: RouteEntry = {
            route, attachment: 'producer', port: listenerPort, match: method === undefined ? base : { ...base, method }, filters,
            backends: rule.redirect === undefined ? backends : [],
          };
          if (rule.timeouts !== undefined) entry.timeouts = rule.timeouts;
          if (rule.retry !== undefined && rule.redirect === undefined) entry.retry = rule.retry;
          if (rule.fault !== undefined) entry.fault = rule.fault;
          out.push(entry);
        }
      }
    }
  }
  return out;
}

// ---- Which Services a VirtualService applies to, and its conditions ----

interface Outcome {
  read?: ReadVirtualService;
  error?: FieldError;
  applied: string[];
  /** Why it is not applied somewhere, with the reason it would report if nothing applied. */
  notes: { reason: string; message: string }[];
  refProblems: RefProblem[];
}

/** Istio orders VirtualServices for one host by creation time, then name, then namespace; weft has no creation times yet. */
function istioOrder(a: VirtualService, b: VirtualService): number {
  return a.metadata.name.localeCompare(b.metadata.name) || a.metadata.namespace.localeCompare(b.metadata.namespace);
}

function conditionsOf(vs: VirtualService, o: Outcome): ResourceCondition[] {
  const base = { kind: 'VirtualService', namespace: vs.metadata.namespace, name: vs.metadata.name };
  if (o.error !== undefined) return [{ ...base, type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: `${o.error.message}; the VirtualService is not applied` }];
  const notes = o.notes.map((n) => n.message);
  if (o.applied.length === 0) {
    const reason = o.notes[0]?.reason ?? 'NoMatchingHost';
    return [{ ...base, type: 'Accepted', status: 'False', reason, message: `${notes.length === 0 ? 'no host matched' : notes.join('; ')}; the VirtualService is not applied` }];
  }
  const also = notes.length === 0 ? '' : `; not applied: ${notes.join('; ')}`;
  const accepted: ResourceCondition = { ...base, type: 'Accepted', status: 'True', reason: 'Accepted', message: `applied ${o.applied.join('; ')}${also}` };
  if (o.refProblems.length === 0) return [accepted, { ...base, type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'all destinations resolved' }];
  return [accepted, {
    ...base, type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound',
    message: `${o.refProblems.join('; ')}; requests routed to an unresolved destination get 500, an unresolved mirror is skipped`,
  }];
}

/** Compiles every VirtualService into per-Service entries and per-object status, in a stable order. */
export function compileVirtualServices(objects: ClusterObjects, opts: VirtualServiceOptions): CompiledVirtualServices {
  const resolver = new Resolver(objects, opts);
  const byTable = new Map<string, Attachment[]>();
  const outcomes = new Map<VirtualService, Outcome>();
  const all = [...objects.virtualServices.values()].sort(istioOrder);

  for (const vs of all) {
    const outcome: Outcome = { applied: [], notes: [], refProblems: [] };
    outcomes.set(vs, outcome);
    let read: ReadVirtualService;
    try {
      read = readVirtualService(vs);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      outcome.error = err;
      continue;
    }
    outcome.read = read;
    const note = (reason: string, message: string): void => void outcome.notes.push({ reason, message });
    if (vs.spec.gateways.length > 0 && !vs.spec.gateways.includes(MESH)) {
      note('NotForMesh', 'spec.gateways does not include mesh, so its rules are for those gateways, not for waypoints');
      continue;
    }
    const ns = vs.metadata.namespace;
    read.hosts.forEach((host, i) => {
      const matched = resolver.servicesFor(host);
      if (matched.length === 0) note('NoMatchingHost', `spec.hosts[${i}] ${host} matches no Service`);
      for (const { fqdn, key, service } of matched) {
        const waypoint = opts.waypointOfService(key);
        const table = `${service.metadata.namespace}/${fqdn}`;
        if (waypoint === undefined) {
          note('NoWaypoint', `Service ${key} is not bound to a waypoint (label istio.io/use-waypoint on it or its namespace); weft applies VirtualServices only in waypoints`);
          continue;
        }
        const waypointNs = waypoint.split('/')[0] ?? '';
        if (ns !== service.metadata.namespace && ns !== waypointNs) {
          note('NotAllowed', `Service ${key}: a waypoint takes VirtualServices from the Service's namespace or its own (${waypointNs}) only`);
          continue;
        }
        if (!exportedTo(vs.spec.exportTo, ns, waypointNs)) {
          note('NotExported', `Service ${key}: spec.exportTo does not include namespace ${waypointNs} of its waypoint ${waypoint}`);
          continue;
        }
        const claimed = opts.claimedBy(table);
        if (claimed !== undefined) {
          note('Overridden', `Service ${key} is routed by ${claimed}, and Gateway API routes take precedence over VirtualServices at a waypoint (Istio leaves mixing the two undefined)`);
          continue;
        }
        const list = byTable.get(table) ?? [];
        if (list.some((x) => x.read === read)) continue;
        list.push({ read, key, service, waypoint, table });
        byTable.set(table, list);
        outcome.applied.push(`by waypoint ${waypoint} to Service ${key}`);
      }
    });
  }

  const routes: ServiceRoutes[] = [];
  for (const table of [...byTable.keys()].sort()) {
    const attachments = byTable.get(table) ?? [];
    const first = attachments[0];
    if (first === undefined) continue;
    const entriesOut = attachments.flatMap((a) => entriesFor(resolver, a, outcomes.get(a.read.vs)?.refProblems ?? []));
    routes.push({ service: table, waypoint: first.waypoint, entries: entriesOut });
  }
  const conditions = all.flatMap((vs) => {
    const o = outcomes.get(vs);
    return o === undefined ? [] : conditionsOf(vs, o);
  });
  return { routes, conditions };
}
