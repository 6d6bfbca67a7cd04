// DestinationRule → the destination policy a waypoint applies to the requests it sends to a
// Service (ServiceRoutes.destinations): subsets resolved to the workloads whose pods carry
// their labels (the waypoint has workloads but not pod labels), and the load balancer,
// connection pool and outlier detection with Istio's subset- and port-level overrides merged
// per subset and port, so the waypoint only picks the first policy that fits a request.
// Which rule applies follows Istio: the waypoint's namespace first, then the Service's, then
// the root namespace; an exact host before a wildcard; rules of one namespace for the same
// host merge (subsets added, the first traffic policy kept). A rule weft cannot read is
// left out; fields it reads but cannot honour are left out of an applied rule, and named.
import { FieldError } from '#core/config/fields.ts';
import {
  HEADER_NAME, SIMPLE_LOAD_BALANCERS, type ConnectionPool, type DestinationPolicy, type HashAlgorithm, type HashKey, type LoadBalancer,
  type OutlierDetection, type SubsetEndpoints, type TrafficPolicy,
} from '#core/config/routes.ts';
import type { ClusterObjects, DestinationRule, Service } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { selects } from '#controller/model/labels.ts';
import { serviceHostname } from '#controller/model/services.ts';
import {
  IstioSpecError, duration, exportedTo, fields, get, hostMatches, hostProblem, hostSpecificity, integer, list, optBoolean,
  optInteger, optText, resolveHost, servicePods, text, workloadUids, type Obj,
} from '#controller/model/istio-fields.ts';

export interface DestinationRuleOptions {
  clusterId: string;
  /** Istio's config root namespace: its rules are the mesh-wide fallback. */
  rootNamespace: string;
}

/** A part of an applied rule that weft leaves out, and why. */
interface Ignored {
  path: string;
  why: string;
}

/** The three parts of a traffic policy weft applies; an absent one is the waypoint's default. */
interface Components {
  loadBalancer?: LoadBalancer;
  connectionPool?: ConnectionPool;
  outlierDetection?: OutlierDetection;
}

interface ReadPolicy extends Components {
  /** Port-level settings: each replaces the whole policy for its port (Istio: no inheritance). */
  ports: Map<number, Components>;
}

interface ReadSubset {
  name: string;
  labels: Readonly<Record<string, string>>;
  policy?: ReadPolicy;
}

interface ReadRule {
  rule: DestinationRule;
  /** `<namespace>/<name>`. */
  key: string;
  host: string;
  policy?: ReadPolicy;
  subsets: ReadSubset[];
  ignored: Ignored[];
}

// ---- Reading one rule ----

const INT32 = 2 ** 31 - 1;
const RING_HASH_DEFAULT = 1024;
/** Envoy's largest ring (8M entries). */
const RING_LIMIT = 8_388_608;
const MAGLEV_DEFAULT = 65537;
const MAGLEV_LIMIT = 5_000_011;
/** Envoy's and Istio's outlier detection defaults. */
const OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 10 } as const;
const SUBSET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) return false;
  return true;
}

/** Records a field of a known kind that weft does not honour, when it is set to more than its off value. */
function ignoreIfSet(o: Obj, key: string, path: string, why: string, ignored: Ignored[]): void {
  const v = get(o, key);
  if (v === undefined || v === false || v === 0 || v === '') return;
  ignored.push({ path: `${path}.${key}`, why });
}

const NO_LOCALITIES = 'weft has no localities or zones: every endpoint is equally near';

function hashKey(c: Obj, path: string, ignored: Ignored[]): HashKey {
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => get(c, k) !== undefined && get(c, k) !== false);
  if (keys.length !== 1) throw new FieldError(path, 'must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName');
  switch (keys[0]) {
    case 'httpHeaderName': {
      const header = text(c, 'httpHeaderName', path);
      if (!HEADER_NAME.test(header)) throw new FieldError(`${path}.httpHeaderName`, `${JSON.stringify(header)} is not a header name`);
      return { header: header.toLowerCase() };
    }
    case 'useSourceIp': return { sourceIp: true };
    case 'httpQueryParameterName': return { queryParameter: text(c, 'httpQueryParameterName', path) };
    default: {
      const at = `${path}.httpCookie`;
      const k = fields(c['httpCookie'], at, ['name', 'path', 'ttl', 'attributes']);
      const cookie: { name: string; path?: string; ttl?: number } = { name: text(k, 'name', at) };
      const cookiePath = optText(k, 'path', at);
      const ttl = duration(k, 'ttl', at, 0);
      if (cookiePath !== undefined) cookie.path = cookiePath;
      if (ttl !== undefined) cookie.ttl = ttl;
      if (list(k, 'attributes', at, (x) => x).length > 0) ignored.push({ path: `${at}.attributes`, why: 'weft does not add attributes to the cookies it generates' });
      return { cookie };
    }
  }
}

function hashAlgorithm(c: Obj, path: string): HashAlgorithm {
  const deprecated = optInteger(c, 'minimumRingSize', path, 0, RING_LIMIT);
  const ring = get(c, 'ringHash');
  const maglev = get(c, 'maglev');
  if ((deprecated !== undefined && deprecated > 0 && (ring !== undefined || maglev !== undefined)) || (ring !== undefined && maglev !== undefined)) {
    throw new FieldError(path, 'only one of minimumRingSize, ringHash and maglev may be set');
  }
  if (maglev !== undefined) {
    const m = fields(maglev, `${path}.maglev`, ['tableSize']);
    const tableSize = optInteger(m, 'tableSize', `${path}.maglev`, 0, MAGLEV_LIMIT - 1) || MAGLEV_DEFAULT;
    if (!isPrime(tableSize)) throw new FieldError(`${path}.maglev.tableSize`, 'must be a prime number');
    return { maglev: { tableSize } };
  }
  const size = ring === undefined ? deprecated : optInteger(fields(ring, `${path}.ringHash`, ['minimumRingSize']), 'minimumRingSize', `${path}.ringHash`, 0, RING_LIMIT);
  return { ringHash: { minimumRingSize: size || RING_HASH_DEFAULT } };
}

function loadBalancer(v: unknown, path: string, ignored: Ignored[]): LoadBalancer | undefined {
  const o = fields(v, path, ['simple', 'consistentHash', 'localityLbSetting', 'zoneAwareLbSetting', 'warmupDurationSecs', 'warmup']);
  if (get(o, 'localityLbSetting') !== undefined) {
    const at = `${path}.localityLbSetting`;
    const l = fields(o['localityLbSetting'], at, ['distribute', 'failover', 'failoverPriority', 'enabled']);
    const enabled = optBoolean(l, 'enabled', at);
    const rules = ['distribute', 'failover', 'failoverPriority'].some((k) => list(l, k, at, (x) => x).length > 0);
    if (enabled === true || (enabled === undefined && rules)) ignored.push({ path: at, why: NO_LOCALITIES });
  }
  ignoreIfSet(o, 'zoneAwareLbSetting', path, NO_LOCALITIES, ignored);
  ignoreIfSet(o, 'warmupDurationSecs', path, 'weft does not ramp traffic up to new endpoints', ignored);
  ignoreIfSet(o, 'warmup', path, 'weft does not ramp traffic up to new endpoints', ignored);
  const simple = get(o, 'simple');
  const hash = get(o, 'consistentHash');
  if (simple !== undefined && hash !== undefined) throw new FieldError(path, 'only one of simple and consistentHash may be set');
  if (hash !== undefined) {
    const at = `${path}.consistentHash`;
    const c = fields(hash, at, ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize']);
    return { consistentHash: { key: hashKey(c, at, ignored), algorithm: hashAlgorithm(c, at) } };
  }
  if (simple === undefined || simple === 'UNSPECIFIED') return undefined;
  if (simple === 'LEAST_CONN') return { simple: 'LEAST_REQUEST' };
  if (simple === 'PASSTHROUGH') {
    ignored.push({ path: `${path}.simple`, why: 'PASSTHROUGH sends to the address the client dialled, which a waypoint never sees; its default balancing is used' });
    return undefined;
  }
  const found = SIMPLE_LOAD_BALANCERS.find((s) => s === simple);
  if (found === undefined) throw new FieldError(`${path}.simple`, `${JSON.stringify(simple)} is not one of UNSPECIFIED, ${SIMPLE_LOAD_BALANCERS.join(', ')}, LEAST_CONN, PASSTHROUGH`);
  return { simple: found };
}

/** A non-negative int32 where 0 (proto3's unset) means no limit; undefined then. */
function limit(o: Obj, key: string, path: string): number | undefined {
  const n = optInteger(o, key, path, 0, INT32);
  return n === undefined || n === 0 ? undefined : n;
}

function connectionPool(v: unknown, path: string, ignored: Ignored[]): ConnectionPool {
  const o = fields(v, path, ['tcp', 'http']);
  if (get(o, 'tcp') === undefined && get(o, 'http') === undefined) throw new FieldError(path, 'must set tcp or http');
  const pool: ConnectionPool = {};
  if (get(o, 'tcp') !== undefined) {
    const at = `${path}.tcp`;
    const t = fields(o['tcp'], at, ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']);
    for (const k of ['tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']) ignoreIfSet(t, k, at, 'weft keeps its own HBONE connection settings', ignored);
    const tcp: NonNullable<ConnectionPool['tcp']> = {};
    const maxConnections = limit(t, 'maxConnections', at);
    const connectTimeout = duration(t, 'connectTimeout', at);
    if (maxConnections !== undefined) tcp.maxConnections = maxConnections;
    if (connectTimeout !== undefined) tcp.connectTimeout = connectTimeout;
    pool.tcp = tcp;
  }
  if (get(o, 'http') !== undefined) {
    const at = `${path}.http`;
    const h = fields(o['http'], at, [
      'http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout', 'h2UpgradePolicy',
      'useClientProtocol', 'maxConcurrentStreams', 'http2KeepAlive',
    ]);
    for (const k of ['idleTimeout', 'useClientProtocol', 'maxConcurrentStreams', 'http2KeepAlive']) ignoreIfSet(h, k, at, 'weft keeps its own HBONE connection settings', ignored);
    if (get(h, 'h2UpgradePolicy') !== undefined && get(h, 'h2UpgradePolicy') !== 'DEFAULT') {
      ignored.push({ path: `${at}.h2UpgradePolicy`, why: 'weft keeps its own HBONE connection settings' });
    }
    const http: NonNullable<ConnectionPool['http']> = {};
    for (const k of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries'] as const) {
      const n = limit(h, k, at);
      if (n !== undefined) http[k] = n;
    }
    pool.http = http;
  }
  return pool;
}

function outlierDetection(v: unknown, path: string, ignored: Ignored[]): OutlierDetection {
  const o = fields(v, path, [
    'consecutiveErrors', 'splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures', 'consecutiveGatewayErrors',
    'consecutive5xxErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent', 'outlierDetectionHttpErrorCodes',
  ]);
  ignoreIfSet(o, 'consecutiveErrors', path, 'it is deprecated and Istio ignores it too; use consecutiveGatewayErrors or consecutive5xxErrors', ignored);
  ignoreIfSet(o, 'splitExternalLocalOriginErrors', path, 'weft counts local and upstream errors together', ignored);
  ignoreIfSet(o, 'consecutiveLocalOriginFailures', path, 'weft counts local and upstream errors together', ignored);
  if (list(o, 'outlierDetectionHttpErrorCodes', path, (x) => x).length > 0) ignored.push({ path: `${path}.outlierDetectionHttpErrorCodes`, why: 'weft counts 5xx responses only' });
  const maxEjection = optInteger(o, 'maxEjectionPercent', path, 0, 100);
  return {
    consecutive5xxErrors: optInteger(o, 'consecutive5xxErrors', path, 0, INT32) ?? OUTLIER_DEFAULTS.consecutive5xxErrors,
    consecutiveGatewayErrors: optInteger(o, 'consecutiveGatewayErrors', path, 0, INT32) ?? 0,
    interval: duration(o, 'interval', path) ?? OUTLIER_DEFAULTS.interval,
    baseEjectionTime: duration(o, 'baseEjectionTime', path) ?? OUTLIER_DEFAULTS.baseEjectionTime,
    // Istio passes it on only above 0, so 0 is Envoy's default too.
    maxEjectionPercent: maxEjection === undefined || maxEjection === 0 ? OUTLIER_DEFAULTS.maxEjectionPercent : maxEjection,
    minHealthPercent: optInteger(o, 'minHealthPercent', path, 0, 100) ?? 0,
  };
}

const IN_MESH_TLS = 'weft always reaches mesh workloads over HBONE with mutual TLS';

/** loadBalancer, connectionPool, outlierDetection and tls of a policy or a port-level setting. */
function components(o: Obj, path: string, ignored: Ignored[]): Components {
  const c: Components = {};
  if (get(o, 'loadBalancer') !== undefined) {
    const lb = loadBalancer(o['loadBalancer'], `${path}.loadBalancer`, ignored);
    if (lb !== undefined) c.loadBalancer = lb;
  }
  if (get(o, 'connectionPool') !== undefined) c.connectionPool = connectionPool(o['connectionPool'], `${path}.connectionPool`, ignored);
  if (get(o, 'outlierDetection') !== undefined) c.outlierDetection = outlierDetection(o['outlierDetection'], `${path}.outlierDetection`, ignored);
  if (get(o, 'tls') !== undefined) {
    const tls = fields(o['tls'], `${path}.tls`, ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl']);
    const mode = optText(tls, 'mode', `${path}.tls`) ?? 'DISABLE';
    if (mode !== 'ISTIO_MUTUAL' || Object.keys(tls).some((k) => k !== 'mode' && get(tls, k) !== undefined)) ignored.push({ path: `${path}.tls`, why: IN_MESH_TLS });
  }
  return c;
}

function trafficPolicy(v: unknown, path: string, ignored: Ignored[]): ReadPolicy {
  const o = fields(v, path, ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget']);
  ignoreIfSet(o, 'tunnel', path, 'it applies to TCP and TLS routes, which a waypoint does not take from VirtualServices', ignored);
  ignoreIfSet(o, 'proxyProtocol', path, 'weft does not send the PROXY protocol to workloads', ignored);
  ignoreIfSet(o, 'retryBudget', path, 'weft limits retries with connectionPool.http.maxRetries only', ignored);
  const policy: ReadPolicy = { ...components(o, path, ignored), ports: new Map() };
  list(o, 'portLevelSettings', path, (x, p) => {
    const s = fields(x, p, ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls']);
    if (get(s, 'port') === undefined) throw new FieldError(`${p}.port`, 'is required');
    const port = integer(fields(s['port'], `${p}.port`, ['number']), 'number', `${p}.port`, 1, 65535);
    if (policy.ports.has(port)) throw new FieldError(`${p}.port`, `port ${port} has more than one setting`);
    if (!['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'].some((k) => get(s, k) !== undefined)) throw new FieldError(p, 'must set at least one of loadBalancer, connectionPool, outlierDetection, tls');
    policy.ports.set(port, components(s, p, ignored));
  });
  return policy;
}

/** Reads a rule for the index, or says why it cannot be applied at all. */
function readRule(rule: DestinationRule): ReadRule | FieldError {
  const { namespace, name } = rule.metadata;
  try {
    const problem = rule.fieldProblems?.[0];
    if (problem !== undefined) throw new IstioSpecError(problem.path, problem.message);
    const hostIssue = hostProblem(rule.spec.host);
    if (hostIssue !== undefined) throw new FieldError('spec.host', hostIssue);
    if (rule.spec.workloadSelector !== undefined) {
      throw new IstioSpecError('spec.workloadSelector', 'is not supported: a rule for chosen clients only would need client labels, and waypoints apply rules for every client');
    }
    const ignored: Ignored[] = [];
    const read: ReadRule = { rule, key: `${namespace}/${name}`, host: resolveHost(rule.spec.host, namespace), subsets: [], ignored };
    if (rule.spec.trafficPolicy !== undefined) read.policy = trafficPolicy(rule.spec.trafficPolicy, 'spec.trafficPolicy', ignored);
    rule.spec.subsets.forEach((s, i) => {
      const path = `spec.subsets[${i}]`;
      if (!SUBSET_NAME.test(s.name)) throw new FieldError(`${path}.name`, `${JSON.stringify(s.name)} is not a valid subset name (a DNS label)`);
      if (read.subsets.some((x) => x.name === s.name)) throw new FieldError(`${path}.name`, `subset ${s.name} is defined twice`);
      const subset: ReadSubset = { name: s.name, labels: s.labels };
      if (s.trafficPolicy !== undefined) subset.policy = trafficPolicy(s.trafficPolicy, `${path}.trafficPolicy`, ignored);
      read.subsets.push(subset);
    });
    return read;
  } catch (err) {
    if (err instanceof FieldError) return err;
    throw err;
  }
}

// ---- Effective policies ----

const KEYS = ['loadBalancer', 'connectionPool', 'outlierDetection'] as const;

/** The policy for a port: its port-level setting whole, else the rule-level one. */
function atPort(policy: ReadPolicy, port: number | undefined): { policy: Components; portLevel: boolean } {
  const p = port === undefined ? undefined : policy.ports.get(port);
  return p === undefined ? { policy, portLevel: false } : { policy: p, portLevel: true };
}

/**
 * Istio's MergeSubsetTrafficPolicy: the rule's policy (or its port-level setting), with each
 * field the subset sets replacing the rule's; a subset port-level setting replaces them all.
 */
function effective(top: ReadPolicy | undefined, subset: ReadPolicy | undefined, port: number | undefined): Components {
  const base = top === undefined ? {} : atPort(top, port).policy;
  if (subset === undefined) return pick(base);
  const own = atPort(subset, port);
  const merged: Components = pick(base);
  for (const k of KEYS) {
    if (own.policy[k] === undefined && !own.portLevel) continue;
    const v = own.policy[k];
    if (v === undefined) delete merged[k];
    else (merged as Record<string, unknown>)[k] = v;
  }
  return merged;
}

function pick(c: Components): Components {
  const out: Components = {};
  if (c.loadBalancer !== undefined) out.loadBalancer = c.loadBalancer;
  if (c.connectionPool !== undefined) out.connectionPool = c.connectionPool;
  if (c.outlierDetection !== undefined) out.outlierDetection = c.outlierDetection;
  return out;
}

/** Most specific first, so the first policy whose subset and port fit a request is its effective one. */
function policies(top: ReadPolicy | undefined, subsets: readonly ReadSubset[]): TrafficPolicy[] {
  const out: TrafficPolicy[] = [];
  const topPorts = [...(top?.ports.keys() ?? [])];
  for (const s of subsets) {
    if (s.policy === undefined) continue;
    const ports = [...new Set([...topPorts, ...s.policy.ports.keys()])].sort((a, b) => a - b);
    for (const port of ports) out.push({ subset: s.name, port, ...effective(top, s.policy, port) });
    out.push({ subset: s.name, ...effective(top, s.policy, undefined) });
  }
  if (top !== undefined) {
    for (const port of topPorts.sort((a, b) => a - b)) out.push({ port, ...effective(top, undefined, port) });
    // An empty policy for any subset and port says no more than none.
    const rest = effective(top, undefined, undefined);
    if (Object.keys(rest).length > 0) out.push(rest);
  }
  return out;
}

// ---- Which rule applies, and the conditions ----

interface Use {
  waypoint: string;
  service: string;
}

/** Why a rule whose host names a Service did not apply to it, most telling first. */
const NOTE_ORDER = ['Overridden', 'NotExported', 'OtherNamespace'] as const;
type NoteReason = (typeof NOTE_ORDER)[number];

/** A candidate's namespace tier for a waypoint: 0 its own namespace, 1 the Service's, 2 the root namespace. */
function tier(ruleNamespace: string, waypointNamespace: string, serviceNamespace: string, rootNamespace: string): number | undefined {
  if (ruleNamespace === waypointNamespace && waypointNamespace !== rootNamespace) return 0;
  if (ruleNamespace === serviceNamespace) return 1;
  if (ruleNamespace === rootNamespace) return 2;
  return undefined;
}

/**
 * The DestinationRules of a cluster, read once per build. `policyFor` answers, for a Service
 * and the waypoint sending to it, the policy to push; `conditions` then reports each rule,
 * including where it was applied.
 */
export class DestinationRuleIndex {
  readonly #objects: ClusterObjects;
  readonly #opts: DestinationRuleOptions;
  readonly #read: (ReadRule | { rule: DestinationRule; error: FieldError })[] = [];
  readonly #memo = new Map<string, DestinationPolicy | undefined>();
  readonly #uses = new Map<string, Use[]>();
  readonly #notes = new Map<string, { reason: NoteReason; message: string }[]>();

  constructor(objects: ClusterObjects, opts: DestinationRuleOptions) {
    this.#objects = objects;
    this.#opts = opts;
    for (const key of [...objects.destinationRules.keys()].sort()) {
      const rule = objects.destinationRules.get(key);
      if (rule === undefined) continue;
      const read = readRule(rule);
      this.#read.push(read instanceof FieldError ? { rule, error: read } : read);
    }
  }

  #note(rule: string, reason: NoteReason, message: string): void {
    const notes = this.#notes.get(rule) ?? [];
    if (!notes.some((n) => n.message === message)) notes.push({ reason, message });
    this.#notes.set(rule, notes);
  }

  /** The rules that apply to requests a waypoint of `waypointNamespace` sends to the Service: one namespace, one host, merged. */
  #select(svc: Service, waypointNamespace: string): ReadRule[] {
    const fqdn = serviceHostname(svc);
    const target = `Service ${svc.metadata.namespace}/${svc.metadata.name}`;
    const candidates: { rule: ReadRule; tier: number }[] = [];
    for (const r of this.#read) {
      if (!('key' in r) || !hostMatches(r.host, fqdn)) continue;
      const ns = r.rule.metadata.namespace;
      const t = tier(ns, waypointNamespace, svc.metadata.namespace, this.#opts.rootNamespace);
      if (t === undefined) {
        this.#note(r.key, 'OtherNamespace', `for ${target}, a waypoint in namespace ${waypointNamespace} reads rules only from its own namespace, the Service's and ${this.#opts.rootNamespace}`);
      } else if (!exportedTo(r.rule.spec.exportTo, ns, waypointNamespace)) {
        this.#note(r.key, 'NotExported', `spec.exportTo does not include namespace ${waypointNamespace}, where the waypoint sending to ${target} runs`);
      } else {
        candidates.push({ rule: r, tier: t });
      }
    }
    const best = Math.min(...candidates.map((c) => c.tier));
    const inTier = candidates.filter((c) => c.tier === best).map((c) => c.rule);
    // Istio's most specific host: an exact name, else the longest wildcard; rules with that host merge.
    const host = inTier.reduce<ReadRule | undefined>((b, r) => (b === undefined || hostSpecificity(r.host) > hostSpecificity(b.host) ? r : b), undefined)?.host;
    // Istio orders rules of one namespace by creation time, then name; weft has no creation times yet.
    const chosen = inTier.filter((r) => r.host === host).sort((a, b) => a.rule.metadata.name.localeCompare(b.rule.metadata.name));
    for (const c of candidates) {
      if (chosen.includes(c.rule)) continue;
      this.#note(c.rule.key, 'Overridden', `for ${target} ${chosen.map((r) => r.key).join(', ')} applies instead (Istio's order: the waypoint's namespace, then the Service's, then ${this.#opts.rootNamespace}; an exact host before a wildcard)`);
    }
    return chosen;
  }

  #build(serviceKey: string, waypointNamespace: string): DestinationPolicy | undefined {
    const svc = this.#objects.services.get(serviceKey);
    if (svc === undefined || svc.spec.type === 'ExternalName') return undefined;
    const rules = this.#select(svc, waypointNamespace);
    const first = rules[0];
    if (first === undefined) return undefined;
    const subsets: ReadSubset[] = [];
    for (const r of rules) for (const s of r.subsets) if (!subsets.some((x) => x.name === s.name)) subsets.push(s);
    const top = rules.find((r) => r.policy !== undefined)?.policy;
    const pods = servicePods(this.#objects, svc);
    const endpoints: SubsetEndpoints[] = subsets.map((s) => ({
      name: s.name,
      workloads: workloadUids(pods.filter((p) => selects(s.labels, p.metadata.labels)), this.#opts.clusterId),
    }));
    return { service: `${svc.metadata.namespace}/${serviceHostname(svc)}`, rules: rules.map((r) => r.key), subsets: endpoints, policies: policies(top, subsets) };
  }

  /**
   * The policy for requests waypoint `waypoint` (`<namespace>/<name>`) sends to Service
   * `serviceKey` (`<namespace>/<name>`), recorded as applied there; undefined when no rule applies.
   */
  policyFor(serviceKey: string, waypoint: string): DestinationPolicy | undefined {
    const waypointNamespace = waypoint.split('/')[0] ?? '';
    const memoKey = `${serviceKey}\0${waypointNamespace}`;
    if (!this.#memo.has(memoKey)) this.#memo.set(memoKey, this.#build(serviceKey, waypointNamespace));
    const policy = this.#memo.get(memoKey);
    for (const rule of policy?.rules ?? []) {
      const uses = this.#uses.get(rule) ?? [];
      if (!uses.some((u) => u.waypoint === waypoint && u.service === serviceKey)) uses.push({ waypoint, service: serviceKey });
      this.#uses.set(rule, uses);
    }
    return policy;
  }

  /** Whether the policy for that Service and waypoint defines the subset (without recording a use). */
  hasSubset(serviceKey: string, waypoint: string, subset: string): boolean {
    const waypointNamespace = waypoint.split('/')[0] ?? '';
    const memoKey = `${serviceKey}\0${waypointNamespace}`;
    if (!this.#memo.has(memoKey)) this.#memo.set(memoKey, this.#build(serviceKey, waypointNamespace));
    return this.#memo.get(memoKey)?.subsets.some((s) => s.name === subset) ?? false;
  }

  /** One Accepted condition per rule (and PartiallyInvalid for fields left out), after every policyFor call of the build. */
  conditions(): ResourceCondition[] {
    const out: ResourceCondition[] = [];
    for (const r of this.#read) {
      const { namespace, name } = r.rule.metadata;
      const base = { kind: 'DestinationRule', namespace, name };
      if (!('key' in r)) {
        out.push({ ...base, type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: `${r.error.message}; the DestinationRule is not applied` });
        continue;
      }
      const uses = this.#uses.get(r.key) ?? [];
      const notes = this.#notes.get(r.key) ?? [];
      if (uses.length === 0) {
        const first = NOTE_ORDER.find((reason) => notes.some((n) => n.reason === reason));
        const [reason, why] = first !== undefined
          ? [first, notes.map((n) => n.message).join('; ')]
          : this.#servicesMatching(r.host) > 0
            ? ['NoWaypoint', `no waypoint sends requests to a Service matching ${r.host}; weft applies DestinationRules in waypoints only (to Services labelled istio.io/use-waypoint, and to those their routes send to)`]
            : ['HostNotFound', `spec.host ${r.host} matches no Service`];
        out.push({ ...base, type: 'Accepted', status: 'False', reason, message: `${why}; the DestinationRule has no effect` });
        continue;
      }
      const where = uses.map((u) => `by waypoint ${u.waypoint} to requests for Service ${u.service}`).join('; ');
      const also = notes.length === 0 ? '' : `; not elsewhere: ${notes.map((n) => n.message).join('; ')}`;
      out.push({ ...base, type: 'Accepted', status: 'True', reason: 'Accepted', message: `applied ${where}${also}` });
      if (r.ignored.length > 0) {
        out.push({
          ...base, type: 'PartiallyInvalid', status: 'True', reason: 'UnsupportedValue',
          message: `weft leaves out ${r.ignored.map((i) => `${i.path} (${i.why})`).join('; ')}; the rest is applied`,
        });
      }
    }
    return out;
  }

  #servicesMatching(host: string): number {
    let n = 0;
    for (const svc of this.#objects.services.values()) if (svc.spec.type !== 'ExternalName' && hostMatches(host, serviceHostname(svc))) n++;
    return n;
  }
}
