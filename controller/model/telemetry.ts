// Istio's Telemetry API translated into what the proxies apply: whether ztunnel access-logs a
// pod's connections (a field of its Workload) and each waypoint's access log and trace
// sampling (a `telemetry` resource for that waypoint).
//
// Precedence is Istio's: a Telemetry in the root namespace without a selector is the mesh-wide
// default, one in a namespace without a selector or targetRefs covers that namespace, and one
// with `selector.matchLabels` (pods) or `targetRefs` to a waypoint's Gateway covers only those.
// The most specific level that sets a field wins, field by field, so a namespace Telemetry that
// only sets tracing keeps the mesh-wide access logging. Two at the same level: the first by
// name wins. Within one Telemetry the last entry of a list that names a provider weft has wins.
//
// ztunnel reports for the pod it carries a connection for, as a sidecar would: an outbound
// connection follows the source pod's Telemetry, an inbound one the destination pod's.
import type { TraceExporter, WaypointTelemetry } from '#core/config/telemetry.ts';
import { EMPTY_MESH_CONFIG, otlpExporter, type MeshConfig } from '#controller/model/mesh-config.ts';
import type { LabelSelector, PolicyTargetRef, Telemetry } from '#controller/source/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

/**
 * The providers weft has without a mesh config: its access log is the proxy's JSON lines on
 * stdout, which Istio's built-in `envoy` provider names; its tracer is the waypoint's OTLP
 * exporter (--otlp-endpoint). The mesh config's extension providers add to these: an
 * `opentelemetry` one (OTLP over HTTP, or over gRPC without `http`, which the waypoint then sends to) and an
 * `envoyFileAccessLog` one (the same stdout log). An entry without providers inherits the
 * less specific level's, then the mesh config's defaultProviders, then these.
 */
export const TELEMETRY_PROVIDERS = { accessLogging: ['envoy'], tracing: ['otel', 'opentelemetry'] } as const;

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The settings one proxy's traffic gets; a field left out means the proxy's own default. */
interface Settings {
  accessLog?: boolean;
  /** The tracing provider's name; the built-in ones mean the waypoint's own exporter. */
  tracingProvider?: string;
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
}

/** A Telemetry read into its settings, where it applies and what of it cannot be used. */
interface Compiled {
  telemetry: Telemetry;
  settings: Settings;
  /** Workload-level for pods (selector) or waypoints (targetRefs); else namespace-wide. */
  selector: LabelSelector | undefined;
  /** `<namespace>/<name>` of the Gateways named in targetRefs. */
  gateways: string[];
  problems: string[];
}

export interface TelemetryContext {
  rootNamespace: string;
  /** The mesh config's providers and defaults; none when left out. */
  mesh?: MeshConfig;
  /** Whether `<namespace>/<name>` is a waypoint Gateway. */
  isWaypoint: (key: string) => boolean;
  waypoints: () => Iterable<string>;
}

export interface CompiledTelemetry {
  /** Whether ztunnel access-logs the pod's connections; undefined when no Telemetry decides. */
  accessLogFor(namespace: string, labels: Readonly<Record<string, string>>): boolean | undefined;
  /** One per waypoint that some Telemetry applies to. */
  waypoints: WaypointTelemetry[];
  conditions: ResourceCondition[];
}

/** What a provider name means for one kind of telemetry: usable (with a note) or not, and why. */
type Resolved = { ok: true; note?: string } | { ok: false; why: string };

/** Per kind of telemetry: the mesh config provider kind that serves it, and the built-in names. */
const USES = {
  tracing: { kind: 'opentelemetry', builtIn: TELEMETRY_PROVIDERS.tracing, only: 'the waypoint traces to opentelemetry providers only' },
  accessLogging: { kind: 'envoyFileAccessLog', builtIn: TELEMETRY_PROVIDERS.accessLogging, only: 'the access log goes to envoyFileAccessLog providers only' },
} as const;

function resolveProvider(name: string, mesh: MeshConfig, use: keyof typeof USES): Resolved {
  const u = USES[use];
  const p = mesh.extensionProviders.get(name);
  const quoted = JSON.stringify(name);
  if (p === undefined) {
    if ((u.builtIn as readonly string[]).includes(name)) return { ok: true };
    const extension = [...mesh.extensionProviders.values()].filter((x) => x.kind === u.kind).map((x) => x.name);
    return { ok: false, why: `provider ${quoted} unknown (weft has ${[...u.builtIn, ...extension].join(', ')})` };
  }
  if (p.kind === 'opentelemetry' && use === 'tracing') return { ok: true };
  if (p.kind === 'envoyFileAccessLog' && use === 'accessLogging') {
    return p.path === '/dev/stdout' ? { ok: true } : { ok: true, note: `provider ${quoted}: weft writes the access log to stdout, not ${p.path}` };
  }
  return { ok: false, why: `provider ${quoted} is ${p.kind === 'other' ? p.type : p.kind}; ${u.only}` };
}

/**
 * The usable providers among `providers`, problems noted; an empty list (the default) is
 * usable as is. Returns undefined when names were given and none is usable.
 */
function usable(providers: readonly string[], resolve: (n: string) => Resolved, path: string, problems: string[]): string[] | undefined {
  if (providers.length === 0) return [];
  const ok: string[] = [];
  for (const name of providers) {
    const r = resolve(name);
    if (r.ok) {
      ok.push(name);
      if (r.note !== undefined) problems.push(`${path}: ${r.note}`);
    } else problems.push(`${path}: ${r.why}`);
  }
  return ok.length === 0 ? undefined : ok;
}

function compile(t: Telemetry, ctx: TelemetryContext): Compiled {
  const problems = t.fieldProblems === undefined || t.fieldProblems.length === 0 ? [] : [formatFieldProblems(t.fieldProblems)];
  const settings: Settings = {};
  const mesh = ctx.mesh ?? EMPTY_MESH_CONFIG;
  t.spec.accessLogging.forEach((e, i) => {
    if (usable(e.providers, (n) => resolveProvider(n, mesh, 'accessLogging'), `spec.accessLogging[${i}].providers`, problems) !== undefined) settings.accessLog = e.disabled !== true;
  });
  t.spec.tracing.forEach((e, i) => {
    const path = `spec.tracing[${i}].providers`;
    const names = usable(e.providers, (n) => resolveProvider(n, mesh, 'tracing'), path, problems);
    if (names === undefined) return;
    const [chosen, ...more] = names;
    if (chosen !== undefined) settings.tracingProvider = chosen;
    if (more.length > 0) problems.push(`${path}: a waypoint sends spans to one provider; ${JSON.stringify(chosen)} applies`);
    if (e.randomSamplingPercentage !== undefined) settings.randomSamplingPercentage = e.randomSamplingPercentage;
    if (e.disableSpanReporting !== undefined) settings.disableSpanReporting = e.disableSpanReporting;
  });
  const gateways: string[] = [];
  t.spec.targetRefs.forEach((ref: PolicyTargetRef, i) => {
    const path = `spec.targetRefs[${i}]`;
    const ns = ref.namespace ?? t.metadata.namespace;
    if (ref.kind !== 'Gateway' || (ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP) {
      problems.push(`${path}: only a Gateway (${GATEWAY_GROUP}) can be a target, got ${ref.group === undefined ? '' : `${ref.group}/`}${ref.kind}`);
    } else if (ns !== t.metadata.namespace) {
      problems.push(`${path}: a Telemetry can target a Gateway in its own namespace only`);
    } else if (!ctx.isWaypoint(`${ns}/${ref.name}`)) {
      problems.push(`${path}: Gateway ${ns}/${ref.name} is not a waypoint`);
    } else {
      gateways.push(`${ns}/${ref.name}`);
    }
  });
  let selector = t.spec.selector;
  if (selector !== undefined && t.spec.targetRefs.length > 0) {
    problems.push('spec.selector: cannot be used together with targetRefs; the targetRefs apply');
    selector = undefined;
  }
  return { telemetry: t, settings, selector, gateways, problems };
}

function matches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false;
  return true;
}

/** Folds the levels, least specific first: a level's fields replace the ones before. */
function merge(base: Settings | undefined, levels: readonly (Compiled | undefined)[]): Settings | undefined {
  let out = base;
  for (const c of levels) {
    if (c === undefined) continue;
    out = { ...out, ...c.settings };
  }
  return out;
}

/**
 * What applies where no Telemetry decides: the mesh config's defaultProviders (a tracing one
 * to send to, access logging on when one is named) and its default sampling. Undefined when
 * the mesh config sets none of these.
 */
function meshDefaults(mesh: MeshConfig, problems: string[]): Settings | undefined {
  const out: Settings = {};
  const tracing = usable(mesh.defaultProviders.tracing, (n) => resolveProvider(n, mesh, 'tracing'), 'defaultProviders.tracing', problems);
  const [chosen, ...more] = tracing ?? [];
  if (chosen !== undefined) out.tracingProvider = chosen;
  if (more.length > 0) problems.push(`defaultProviders.tracing: a waypoint sends spans to one provider; ${JSON.stringify(chosen)} applies`);
  const logs = usable(mesh.defaultProviders.accessLogging, (n) => resolveProvider(n, mesh, 'accessLogging'), 'defaultProviders.accessLogging', problems);
  if (logs !== undefined && logs.length > 0) out.accessLog = true;
  if (mesh.defaultSamplingPercentage !== undefined) out.randomSamplingPercentage = mesh.defaultSamplingPercentage;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The OTLP collector (HTTP or gRPC) a tracing provider names; undefined for the waypoint's own exporter. */
function exporterOf(name: string | undefined, mesh: MeshConfig): TraceExporter | undefined {
  const p = name === undefined ? undefined : mesh.extensionProviders.get(name);
  return p?.kind === 'opentelemetry' ? otlpExporter(p) : undefined;
}

/**
 * The condition the mesh config gets, on a `MeshConfig` named after Istio's ConfigMap `istio`:
 * there is no such Kubernetes kind, so it is not written to the API, but the controller's
 * status.json shows it with the rest.
 */
function meshCondition(rootNamespace: string, problems: readonly string[]): ResourceCondition {
  const base = { kind: 'MeshConfig', namespace: rootNamespace, name: 'istio', type: 'Accepted' };
  if (problems.length === 0) return { ...base, status: 'True', reason: 'Accepted', message: 'applied' };
  return { ...base, status: 'False', reason: 'UnsupportedValue', message: `${problems.join('; ')}; weft ignores these and applies the rest of the mesh config` };
}

/** The first by name of those that apply at one level. */
function first(all: Iterable<Compiled>, applies: (c: Compiled) => boolean): Compiled | undefined {
  let best: Compiled | undefined;
  for (const c of all) if (applies(c) && (best === undefined || c.telemetry.metadata.name < best.telemetry.metadata.name)) best = c;
  return best;
}

function condition(c: Compiled): ResourceCondition {
  const { namespace, name } = c.telemetry.metadata;
  const base = { kind: 'Telemetry', namespace, name, type: 'Accepted' };
  if (c.problems.length === 0) return { ...base, status: 'True', reason: 'Accepted', message: 'applied' };
  return { ...base, status: 'False', reason: 'UnsupportedValue', message: `${c.problems.join('; ')}; weft ignores these and applies the rest of the Telemetry` };
}

export function compileTelemetry(telemetries: Iterable<Telemetry>, ctx: TelemetryContext): CompiledTelemetry {
  const byNamespace = new Map<string, Compiled[]>();
  const conditions: ResourceCondition[] = [];
  const mesh = ctx.mesh ?? EMPTY_MESH_CONFIG;
  const meshProblems = [...mesh.problems];
  const base = meshDefaults(mesh, meshProblems);
  if (ctx.mesh !== undefined) conditions.push(meshCondition(ctx.rootNamespace, meshProblems));
  for (const t of telemetries) {
    const c = compile(t, ctx);
    conditions.push(condition(c));
    let list = byNamespace.get(t.metadata.namespace);
    if (list === undefined) byNamespace.set(t.metadata.namespace, (list = []));
    list.push(c);
  }
  const namespaceWide = (c: Compiled): boolean => c.selector === undefined && c.telemetry.spec.targetRefs.length === 0;
  const levelCache = new Map<string, Compiled | undefined>();
  const namespaceLevel = (ns: string): Compiled | undefined => {
    if (!levelCache.has(ns)) levelCache.set(ns, first(byNamespace.get(ns) ?? [], namespaceWide));
    return levelCache.get(ns);
  };
  const root = namespaceLevel(ctx.rootNamespace);
  const levels = (ns: string, specific: Compiled | undefined): (Compiled | undefined)[] =>
    [ns === ctx.rootNamespace ? undefined : root, namespaceLevel(ns), specific];

  const waypoints: WaypointTelemetry[] = [];
  for (const key of ctx.waypoints()) {
    const ns = key.slice(0, key.indexOf('/'));
    const s = merge(base, levels(ns, first(byNamespace.get(ns) ?? [], (c) => c.gateways.includes(key))));
    if (s === undefined) continue;
    const w: WaypointTelemetry = { waypoint: key };
    if (s.accessLog !== undefined) w.accessLog = s.accessLog;
    const exporter = exporterOf(s.tracingProvider, mesh);
    if (s.randomSamplingPercentage !== undefined || s.disableSpanReporting !== undefined || exporter !== undefined) {
      w.tracing = {};
      if (s.randomSamplingPercentage !== undefined) w.tracing.randomSamplingPercentage = s.randomSamplingPercentage;
      if (s.disableSpanReporting !== undefined) w.tracing.disableSpanReporting = s.disableSpanReporting;
      if (exporter !== undefined) w.tracing.exporter = exporter;
    }
    waypoints.push(w);
  }

  return {
    accessLogFor: (namespace, labels) => {
      if (byNamespace.size === 0) return base?.accessLog;
      const specific = first(byNamespace.get(namespace) ?? [], (c) => c.selector !== undefined && matches(c.selector, labels));
      return merge(base, levels(namespace, specific))?.accessLog;
    },
    waypoints,
    conditions,
  };
}
