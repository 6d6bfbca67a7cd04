// Readers for the raw JSON of Istio's networking kinds (VirtualService `http[]`, DestinationRule
// traffic policies), shared by their two models: every key is checked, and what weft cannot
// honour throws an IstioSpecError naming the field. Also the value rules both kinds follow
// as Istio does: durations, percentages, host names and their short forms, exportTo, and the
// pods a Service's endpoints are.
import { FieldError, obj } from '#core/config/fields.ts';
import type { Fraction } from '#core/config/routes.ts';
import type { ClusterObjects, Pod, Service } from '#controller/source/types.ts';
import { podIsRunning } from '#controller/model/enrollment.ts';
import { Labels, selects } from '#controller/model/labels.ts';
import { serviceHostname } from '#controller/model/services.ts';
import { workloadUid } from '#controller/model/workload.ts';

export type Obj = Record<string, unknown>;

/** A field weft cannot honour; the object is left out (or the field ignored) and its condition names it. */
export class IstioSpecError extends FieldError {
  constructor(path: string, message: string) {
    super(path, message);
    this.name = 'IstioSpecError';
  }
}

/** Kubernetes treats an explicit null like an absent optional field. */
export function get(o: Obj, key: string): unknown {
  return o[key] ?? undefined;
}

/** The object at `path`, refusing keys not in `known` and naming the ones weft knows but does not do. */
export function fields(v: unknown, path: string, known: readonly string[], unsupported: Readonly<Record<string, string>> = {}): Obj {
  const o = obj(v, path);
  for (const key of Object.keys(o)) {
    if (get(o, key) === undefined) continue;
    const why = unsupported[key];
    if (why !== undefined) throw new IstioSpecError(`${path}.${key}`, `is not supported: ${why}`);
    if (!known.includes(key)) throw new IstioSpecError(`${path}.${key}`, 'is not a field of this object (check the spelling and the Istio API version)');
  }
  return o;
}

export function list<T>(o: Obj, key: string, path: string, read: (v: unknown, path: string) => T): T[] {
  const v = get(o, key);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new FieldError(`${path}.${key}`, 'must be a list');
  return v.map((x, i) => read(x, `${path}.${key}[${i}]`));
}

/** A map of string keys to values, in key order as written. */
export function entries<T>(o: Obj, key: string, path: string, read: (v: unknown, path: string, name: string) => T): [string, T][] {
  const v = get(o, key);
  if (v === undefined) return [];
  const m = obj(v, `${path}.${key}`);
  return Object.keys(m).map((name) => [name, read(m[name], `${path}.${key}[${JSON.stringify(name)}]`, name)]);
}

export function text(o: Obj, key: string, path: string, opts: { empty?: boolean } = {}): string {
  const v = get(o, key);
  if (typeof v !== 'string') throw new FieldError(`${path}.${key}`, 'must be a string');
  if (v === '' && opts.empty !== true) throw new FieldError(`${path}.${key}`, 'must not be empty');
  return v;
}

export function optText(o: Obj, key: string, path: string, opts: { empty?: boolean } = {}): string | undefined {
  return get(o, key) === undefined ? undefined : text(o, key, path, opts);
}

export function integer(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = get(o, key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new FieldError(`${path}.${key}`, `must be an integer in ${min}-${max}`);
  return v;
}

export function optInteger(o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  return get(o, key) === undefined ? undefined : integer(o, key, path, min, max);
}

export function optBoolean(o: Obj, key: string, path: string): boolean | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new FieldError(`${path}.${key}`, 'must be true or false');
  return v;
}

/** A label map (`sourceLabels`, subset `labels`); absent reads as empty. */
export function labelMap(o: Obj, key: string, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries(o, key, path, (x, p) => {
    if (typeof x !== 'string') throw new FieldError(p, 'must be a string');
    return x;
  })) out[k] = v;
  return out;
}

// ---- Durations and percentages ----

const DURATION_TOKEN = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000_001 };
/** The wire caps milliseconds at what its duration fields carry. */
const MAX_MS = 99_999 * 4 * 3_600_000;

/** A duration as Istio's CRDs accept it (Go's syntax: `1h30m`, `1.5s`, `250ms`), in milliseconds, or undefined when malformed. */
export function parseIstioDuration(source: string): number | undefined {
  if (source === '0') return 0;
  if (source === '') return undefined;
  let total = 0;
  DURATION_TOKEN.lastIndex = 0;
  while (DURATION_TOKEN.lastIndex < source.length) {
    const m = DURATION_TOKEN.exec(source);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  }
  return total;
}

/**
 * A duration field in whole milliseconds (Envoy's timers have no finer grain). `min` is
 * Istio's lower bound: 1 ms for most fields ("MUST be >=1ms"), 0 where 0 turns a timeout off.
 */
export function duration(o: Obj, key: string, path: string, min = 1): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' ? parseIstioDuration(v) : undefined;
  if (ms === undefined) throw new FieldError(`${path}.${key}`, `${JSON.stringify(v)} is not a duration (e.g. 500ms, 10s, 1h30m)`);
  const whole = Math.round(ms);
  if (ms < min || whole > MAX_MS) throw new FieldError(`${path}.${key}`, min === 1 ? 'must be at least 1ms' : 'is out of range');
  return whole === 0 && ms > 0 ? 1 : whole;
}

/** Parts per million, as Istio hands a percentage to Envoy. */
export const MILLION = 1_000_000;

/** Istio's `Percent {value}` (a double in 0-100) as a fraction of a million; undefined when absent. */
export function percentage(o: Obj, key: string, path: string): Fraction | undefined {
  if (get(o, key) === undefined) return undefined;
  const at = `${path}.${key}`;
  const p = fields(o[key], at, ['value']);
  const value = get(p, 'value') ?? 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) throw new FieldError(`${at}.value`, 'must be a number in 0-100');
  return { numerator: Math.round(value * 10_000), denominator: MILLION };
}

// ---- Hosts ----

const CLUSTER_DOMAIN = 'svc.cluster.local';
const WILDCARD_HOST = /^(\*|\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

/**
 * A host as Istio resolves it against the object's namespace: a short name `reviews` is
 * `reviews.<namespace>.svc.cluster.local`; `*` and names with dots are taken as written.
 * weft also completes `reviews.prod` and `reviews.prod.svc`, the names cluster DNS answers
 * for a Service, which Istio would take literally and match to nothing.
 */
export function resolveHost(host: string, namespace: string): string {
  const h = host.toLowerCase();
  if (h === '*' || h.startsWith('*.')) return h;
  const dots = h.split('.').length - 1;
  if (dots === 0) return `${h}.${namespace}.${CLUSTER_DOMAIN}`;
  if (dots === 1) return `${h}.${CLUSTER_DOMAIN}`;
  if (dots === 2 && h.endsWith('.svc')) return `${h}.cluster.local`;
  return h;
}

/** Why a host is not one Istio accepts (a DNS name, optionally with a leading `*.`, or `*`), or undefined. */
export function hostProblem(host: string): string | undefined {
  if (host.length > 253 || !WILDCARD_HOST.test(host.toLowerCase())) return `${JSON.stringify(host)} is not a host name (a leading "*." is the only wildcard)`;
  return undefined;
}

/** Whether a (resolved) host pattern names the FQDN: equal, `*`, or a `*.suffix` it ends with. */
export function hostMatches(pattern: string, fqdn: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return fqdn.endsWith(pattern.slice(1));
  return pattern === fqdn;
}

/** How specific a matching pattern is: an exact name beats every wildcard, a longer wildcard a shorter one. */
export function hostSpecificity(pattern: string): number {
  return pattern.startsWith('*') ? pattern.length : Number.MAX_SAFE_INTEGER;
}

/**
 * Whether an object of `namespace` with this `exportTo` is visible in `viewer`'s namespace:
 * empty or `*` is everywhere, `.` its own namespace, `~` nowhere, a name that namespace.
 */
export function exportedTo(exportTo: readonly string[], namespace: string, viewer: string): boolean {
  if (exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' ? namespace === viewer : e !== '~' && e === viewer));
}

/** Mesh Services (not ExternalName) by FQDN, keyed `<namespace>/<name>`, in `objects.services` order. */
export function servicesByHost(objects: Pick<ClusterObjects, 'services'>): Map<string, { key: string; service: Service }> {
  const out = new Map<string, { key: string; service: Service }>();
  for (const [key, service] of objects.services) {
    if (service.spec.type === 'ExternalName') continue;
    out.set(serviceHostname(service), { key, service });
  }
  return out;
}

/**
 * The running pods behind a Service, the endpoints a DestinationRule subset picks from: those
 * its selector selects, or, for a Service without one, the pods its EndpointSlices name.
 */
export function servicePods(objects: Pick<ClusterObjects, 'pods' | 'endpointSlices'>, svc: Service): Pod[] {
  const { namespace, name } = svc.metadata;
  const sel = svc.spec.selector;
  const out: Pod[] = [];
  if (sel !== undefined && Object.keys(sel).length > 0) {
    for (const pod of objects.pods.values()) {
      if (pod.metadata.namespace === namespace && selects(sel, pod.metadata.labels) && podIsRunning(pod)) out.push(pod);
    }
    return out;
  }
  const named = new Set<string>();
  for (const slice of objects.endpointSlices.values()) {
    if (slice.metadata.namespace !== namespace || slice.metadata.labels[Labels.serviceName] !== name) continue;
    for (const e of slice.endpoints) {
      if (e.targetRef?.kind === 'Pod' && e.targetRef.name !== undefined) named.add(`${e.targetRef.namespace ?? namespace}/${e.targetRef.name}`);
    }
  }
  for (const key of named) {
    const pod = objects.pods.get(key);
    if (pod !== undefined && podIsRunning(pod)) out.push(pod);
  }
  return out;
}

/** Workload uids of pods, sorted so a table does not change with the order pods were listed in. */
export function workloadUids(pods: readonly Pod[], clusterId: string): string[] {
  return pods.map((p) => workloadUid(p, clusterId)).sort();
}

/** A literal string as a pattern in the route regex dialect (ECMAScript `u`: only syntax characters may be escaped). */
export function literalPattern(value: string): string {
  return value.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
