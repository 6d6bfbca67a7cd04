// L7 authorization at the waypoint with Istio's semantics, as a pure function of the request
// and the policies pushed to this waypoint:
//   any matching DENY denies; else, when no ALLOW policy applies, allow; else a matching
//   ALLOW allows; else deny. AUDIT policies only mark the request.
// Dry-run policies never decide; the decision they would give is reported beside the real one.
// Policies are compiled once per pushed list (WeakMap on the array), so a request only runs
// closures over precomputed sets, prefix lists, CIDR block lists and regular expressions.
import net from 'node:net';
import type { L7Action, L7Authorization, L7Condition, L7Operation, L7PathMatch, L7Rule, L7Source } from '#core/config/l7-authorization.ts';
import type { StringMatch } from '#core/config/model.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';

export interface L7Request {
  /** `<namespace>/<hostname>` of the Service addressed; absent when a workload is addressed directly. */
  service?: string;
  /** The peer's SPIFFE id (`spiffe://td/ns/x/sa/y`); absent or empty for plaintext. */
  sourcePrincipal?: string;
  /** Derived from the principal when absent. */
  sourceNamespace?: string;
  sourceIp: string;
  /** The original client (X-Forwarded-For / PROXY); the source IP when there is none. */
  remoteIp: string;
  destinationIp: string;
  destinationPort: number;
  /** Host / :authority as received, port included when the client sent one. */
  host: string;
  method: string;
  /** Normalized path; Istio matches without the query, and anything from `?` is ignored here too. */
  path: string;
  /** A request header by lowercase name; repeated headers joined with ",". */
  header: (lowerName: string) => string | undefined;
  /** TLS server name the client asked for, when the waypoint terminated TLS. */
  sni?: string;
}

export interface L7ShadowDecision {
  /** What the decision would be if the dry-run policies were enforced too. */
  allowed: boolean;
  policy?: string;
  reason: string;
  /** Dry-run policies (`<namespace>/<name>`) that matched the request. */
  matched: string[];
}

export interface L7Decision {
  allowed: boolean;
  /** `<namespace>/<name>` of the policy that decided; absent when none did. */
  policy?: string;
  /** In words, for logs and the access log. */
  reason: string;
  /** AUDIT policies (`<namespace>/<name>`) that matched. */
  audited: string[];
  /** Present when at least one dry-run policy applies to the request. */
  dryRun?: L7ShadowDecision;
}

type Ip = { address: string; family: 'ipv4' | 'ipv6' } | undefined;

/** Parts of the peer's SPIFFE id; read only when a policy looks at them. */
interface Identity {
  namespace: string | undefined;
  /** `<namespace>/<service account>`. */
  serviceAccount: string | undefined;
  trustDomain: string | undefined;
}

/** What policies look at, computed once per request. */
interface Facts {
  req: L7Request;
  /** Without the `spiffe://` scheme, as Istio writes principals. */
  principal: string | undefined;
  identity: Identity | undefined;
  sourceIp: Ip;
  remoteIp: Ip;
  destinationIp: Ip;
  host: string;
  path: string;
}

type Check = (f: Facts) => boolean;

interface CompiledPolicy {
  id: string;
  action: L7Action;
  dryRun: boolean;
  services: ReadonlySet<string> | undefined;
  matches: Check;
}

interface CompiledList {
  /** Sorted by `<namespace>/<name>`; dry-run ones included. */
  all: CompiledPolicy[];
  hasDryRun: boolean;
}

const SCHEME = 'spiffe://';
const NO_ALLOW = 'no ALLOW policy applies';

function toIp(value: string): Ip {
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; policies write them as IPv4.
  const v = value.startsWith('::ffff:') && net.isIPv4(value.slice(7)) ? value.slice(7) : value;
  const family = net.isIP(v);
  return family === 4 ? { address: v, family: 'ipv4' } : family === 6 ? { address: v, family: 'ipv6' } : undefined;
}

function facts(req: L7Request): Facts {
  const p = req.sourcePrincipal;
  const principal = p === undefined || p === '' ? undefined : p.startsWith(SCHEME) ? p.slice(SCHEME.length) : p;
  const cut = req.path.search(/[?#]/);
  return {
    req,
    principal,
    identity: undefined,
    sourceIp: toIp(req.sourceIp),
    remoteIp: toIp(req.remoteIp),
    destinationIp: toIp(req.destinationIp),
    host: req.host.toLowerCase(),
    path: cut === -1 ? req.path : req.path.slice(0, cut),
  };
}

const NO_IDENTITY: Identity = { namespace: undefined, serviceAccount: undefined, trustDomain: undefined };
/** Parsed principals: a mesh has few identities and each one makes many requests. */
const identities = new Map<string, Identity>();
const MAX_IDENTITIES = 10_000;

function parsePrincipal(principal: string): Identity {
  let id = identities.get(principal);
  if (id === undefined) {
    try {
      const spiffe = parseSpiffeId(SCHEME + principal);
      id = { namespace: spiffe.namespace, serviceAccount: `${spiffe.namespace}/${spiffe.serviceAccount}`, trustDomain: spiffe.trustDomain };
    } catch {
      // Not a Kubernetes SPIFFE id: principal patterns still apply, the parts derived from it do not.
      id = NO_IDENTITY;
    }
    if (identities.size >= MAX_IDENTITIES) identities.clear();
    identities.set(principal, id);
  }
  return id;
}

function identity(f: Facts): Identity {
  if (f.identity !== undefined) return f.identity;
  const parsed = f.principal === undefined ? NO_IDENTITY : parsePrincipal(f.principal);
  const given = f.req.sourceNamespace === '' ? undefined : f.req.sourceNamespace;
  f.identity = given === undefined || given === parsed.namespace ? parsed : { ...parsed, namespace: given };
  return f.identity;
}

type Test<V> = (value: V) => boolean;

/**
 * Istio's string forms over one value. `presence` is "present" for header-based fields
 * (hosts, methods, request headers: Envoy's present_match) and "non-empty" elsewhere (`.+`).
 */
function stringTest(patterns: readonly StringMatch[], opts: { lower?: boolean; presentIfDefined?: boolean } = {}): Test<string | undefined> {
  const norm = (s: string): string => (opts.lower === true ? s.toLowerCase() : s);
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let presence = false;
  for (const m of patterns) {
    if ('exact' in m) exact.add(norm(m.exact));
    else if ('prefix' in m) prefixes.push(norm(m.prefix));
    else if ('suffix' in m) suffixes.push(norm(m.suffix));
    else presence = true;
  }
  return (v) => {
    if (v === undefined) return false;
    if (presence && (opts.presentIfDefined === true || v !== '')) return true;
    if (exact.has(v)) return true;
    for (const p of prefixes) if (v.startsWith(p)) return true;
    for (const s of suffixes) if (v.endsWith(s)) return true;
    return false;
  };
}

function addressTest(cidrs: readonly string[]): Test<Ip> {
  const list = new net.BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.split('/');
    const ip = toIp(addr);
    if (ip === undefined) continue; // validated on arrival; a bad entry can only fail to match
    const max = ip.family === 'ipv4' ? 32 : 128;
    list.addSubnet(ip.address, bits === undefined ? max : Number(bits), ip.family);
  }
  return (ip) => ip !== undefined && list.check(ip.address, ip.family);
}

function portTest(ports: readonly number[]): Test<number> {
  const set = new Set(ports);
  return (p) => set.has(p);
}

// Envoy's URI template operators: `{*}` one segment of pchars, `{**}` any run of pchars and "/".
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@";
const ONE_SEGMENT = `[${PCHAR}]+`;
const ANY_SEGMENTS = `[${PCHAR}/]*`;

/** An Istio path template as Envoy matches it: the whole path, segment by segment. */
function pathTemplateRegExp(template: string): RegExp {
  const body = template.slice(1).split('/').map((seg) => {
    if (seg === '{*}') return ONE_SEGMENT;
    if (seg === '{**}') return ANY_SEGMENTS;
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^/${body.join('/')}$`);
}

function pathTest(patterns: readonly L7PathMatch[]): Test<string> {
  const plain: StringMatch[] = [];
  const templates: RegExp[] = [];
  for (const p of patterns) {
    if ('template' in p) templates.push(pathTemplateRegExp(p.template));
    else plain.push(p);
  }
  const strings = stringTest(plain);
  return (path) => strings(path) || templates.some((re) => re.test(path));
}

/** A positive list must hit and a negative list must miss; undefined when neither is set. */
function field<T, V>(pos: readonly T[] | undefined, neg: readonly T[] | undefined, compile: (list: readonly T[]) => Test<V>, value: (f: Facts) => V): Check | undefined {
  const hit = pos !== undefined && pos.length > 0 ? compile(pos) : undefined;
  const miss = neg !== undefined && neg.length > 0 ? compile(neg) : undefined;
  if (hit === undefined && miss === undefined) return undefined;
  return (f) => {
    const v = value(f);
    return (hit === undefined || hit(v)) && (miss === undefined || !miss(v));
  };
}

function all(checks: ReadonlyArray<Check | undefined>): Check {
  const list = checks.filter((c): c is Check => c !== undefined);
  if (list.length === 0) return () => true;
  if (list.length === 1) return list[0] ?? (() => true);
  return (f) => list.every((c) => c(f));
}

/** Any of the alternatives; an absent or empty list places no constraint. */
function any(list: readonly Check[] | undefined): Check {
  if (list === undefined || list.length === 0) return () => true;
  return (f) => list.some((c) => c(f));
}

const strs = (opts?: { lower?: boolean; presentIfDefined?: boolean }) => (l: readonly StringMatch[]): Test<string | undefined> => stringTest(l, opts);
const exactSet = (l: readonly string[]): Test<string | undefined> => {
  const set = new Set(l);
  return (v) => v !== undefined && set.has(v);
};

function compileSource(s: L7Source): Check {
  return all([
    field(s.principals, s.notPrincipals, strs(), (f) => f.principal),
    field(s.namespaces, s.notNamespaces, strs(), (f) => identity(f).namespace),
    field(s.serviceAccounts, s.notServiceAccounts, exactSet, (f) => identity(f).serviceAccount),
    field(s.ipBlocks, s.notIpBlocks, addressTest, (f) => f.sourceIp),
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, addressTest, (f) => f.remoteIp),
  ]);
}

function compileOperation(o: L7Operation): Check {
  return all([
    field(o.hosts, o.notHosts, strs({ lower: true, presentIfDefined: true }), (f) => f.host),
    field(o.ports, o.notPorts, portTest, (f) => f.req.destinationPort),
    field(o.methods, o.notMethods, strs({ presentIfDefined: true }), (f) => f.req.method),
    field(o.paths, o.notPaths, pathTest, (f) => f.path),
  ]);
}

/** Pseudo-headers come from the request itself; the rest from the header reader. */
function headerValue(f: Facts, name: string): string | undefined {
  switch (name) {
    case ':authority': return f.req.host;
    case ':method': return f.req.method;
    case ':path': return f.req.path;
    default: return f.req.header(name);
  }
}

function compileCondition(c: L7Condition): Check {
  switch (c.key) {
    case 'request.headers': {
      const name = c.header.toLowerCase();
      return field(c.values, c.notValues, strs({ presentIfDefined: true }), (f) => headerValue(f, name)) ?? (() => true);
    }
    case 'source.ip': return field(c.values, c.notValues, addressTest, (f) => f.sourceIp) ?? (() => true);
    case 'remote.ip': return field(c.values, c.notValues, addressTest, (f) => f.remoteIp) ?? (() => true);
    case 'destination.ip': return field(c.values, c.notValues, addressTest, (f) => f.destinationIp) ?? (() => true);
    case 'destination.port': return field(c.values, c.notValues, portTest, (f) => f.req.destinationPort) ?? (() => true);
    case 'source.namespace': return field(c.values, c.notValues, strs(), (f) => identity(f).namespace) ?? (() => true);
    case 'source.principal': return field(c.values, c.notValues, strs(), (f) => f.principal) ?? (() => true);
    case 'source.trustDomain': return field(c.values, c.notValues, strs(), (f) => identity(f).trustDomain) ?? (() => true);
    case 'source.serviceAccount': return field(c.values, c.notValues, exactSet, (f) => identity(f).serviceAccount) ?? (() => true);
    case 'connection.sni': return field(c.values, c.notValues, strs(), (f) => f.req.sni) ?? (() => true);
  }
}

function compileRule(r: L7Rule): Check {
  return all([
    any(r.from?.map(compileSource)),
    any(r.to?.map(compileOperation)),
    all((r.when ?? []).map(compileCondition)),
  ]);
}

const policyCache = new WeakMap<L7Authorization, CompiledPolicy>();
const listCache = new WeakMap<readonly L7Authorization[], CompiledList>();

function compilePolicy(p: L7Authorization): CompiledPolicy {
  let c = policyCache.get(p);
  if (c === undefined) {
    const rules = p.rules.map(compileRule);
    c = {
      id: `${p.namespace}/${p.name}`,
      action: p.action,
      dryRun: p.dryRun,
      services: p.services === undefined ? undefined : new Set(p.services),
      // No rules: matches nothing (an ALLOW without rules allows nothing).
      matches: (f) => rules.some((r) => r(f)),
    };
    policyCache.set(p, c);
  }
  return c;
}

function compileList(policies: readonly L7Authorization[]): CompiledList {
  let c = listCache.get(policies);
  if (c === undefined) {
    // By name, so the policy reported as deciding does not depend on push order.
    const all = policies.map(compilePolicy).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    c = { all, hasDryRun: all.some((p) => p.dryRun) };
    listCache.set(policies, c);
  }
  return c;
}

function applies(p: CompiledPolicy, req: L7Request): boolean {
  return p.services === undefined || (req.service !== undefined && p.services.has(req.service));
}

interface Verdict {
  allowed: boolean;
  policy?: string;
  reason: string;
}

/**
 * Istio's order over the policies `use` admits. `matches` is memoised by position, so the
 * shadow pass reuses what the enforced pass already evaluated.
 */
function decide(all: readonly CompiledPolicy[], use: (p: CompiledPolicy) => boolean, matches: (i: number) => boolean): Verdict {
  for (let i = 0; i < all.length; i++) {
    const p = all[i];
    if (p !== undefined && p.action === 'DENY' && use(p) && matches(i)) return { allowed: false, policy: p.id, reason: `denied by DENY policy ${p.id}` };
  }
  const allows: string[] = [];
  for (let i = 0; i < all.length; i++) {
    const p = all[i];
    if (p === undefined || p.action !== 'ALLOW' || !use(p)) continue;
    if (matches(i)) return { allowed: true, policy: p.id, reason: `allowed by ALLOW policy ${p.id}` };
    allows.push(p.id);
  }
  if (allows.length === 0) return { allowed: true, reason: NO_ALLOW };
  return { allowed: false, reason: `no ALLOW policy matched (${allows.join(', ')})` };
}

export function authorizeRequest(policies: readonly L7Authorization[], req: L7Request): L7Decision {
  if (policies.length === 0) return { allowed: true, reason: NO_ALLOW, audited: [] };
  const { all, hasDryRun } = compileList(policies);
  const f = facts(req);
  // 0 = not evaluated yet, 1 = matches, 2 = does not.
  const memo = new Uint8Array(all.length);
  const matches = (i: number): boolean => {
    let m = memo[i];
    if (m === 0) memo[i] = m = all[i]?.matches(f) === true ? 1 : 2;
    return m === 1;
  };
  const enforced = (p: CompiledPolicy): boolean => !p.dryRun && applies(p, req);
  const audited: string[] = [];
  for (let i = 0; i < all.length; i++) {
    const p = all[i];
    if (p !== undefined && p.action === 'AUDIT' && enforced(p) && matches(i)) audited.push(p.id);
  }
  const decision: L7Decision = { ...decide(all, enforced, matches), audited };
  if (hasDryRun) {
    const matched: string[] = [];
    let dryApplies = false;
    for (let i = 0; i < all.length; i++) {
      const p = all[i];
      if (p === undefined || !p.dryRun || !applies(p, req)) continue;
      dryApplies = true;
      if (matches(i)) matched.push(p.id);
    }
    if (dryApplies) decision.dryRun = { ...decide(all, (p) => applies(p, req), matches), matched };
  }
  return decision;
}
