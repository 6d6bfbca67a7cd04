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
import type { WaypointTelemetry } from '#core/config/telemetry.ts';
import type { LabelSelector, PolicyTargetRef, Telemetry } from '#controller/source/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

/**
 * The providers weft has: its access log is the proxy's JSON lines on stdout, which Istio's
 * built-in `envoy` provider names; its tracer is the waypoint's OTLP exporter (--otlp-endpoint).
 * An entry without providers means these.
 */
export const TELEMETRY_PROVIDERS = { accessLogging: ['envoy'], tracing: ['otel', 'opentelemetry'] } as const;

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The settings one proxy's traffic gets; a field left out means the proxy's own default. */
interface Settings {
  accessLog?: boolean;
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

function known(providers: readonly string[], names: readonly string[], path: string, problems: string[]): boolean {
  if (providers.length === 0) return true;
  const unknown = providers.filter((p) => !names.includes(p));
  if (unknown.length > 0) problems.push(`${path}: provider ${unknown.map((p) => JSON.stringify(p)).join(', ')} unknown (weft has ${names.join(', ')})`);
  return unknown.length < providers.length;
}

function compile(t: Telemetry, ctx: TelemetryContext): Compiled {
  const problems = t.fieldProblems === undefined || t.fieldProblems.length === 0 ? [] : [formatFieldProblems(t.fieldProblems)];
  const settings: Settings = {};
  t.spec.accessLogging.forEach((e, i) => {
    if (known(e.providers, TELEMETRY_PROVIDERS.accessLogging, `spec.accessLogging[${i}].providers`, problems)) settings.accessLog = e.disabled !== true;
  });
  t.spec.tracing.forEach((e, i) => {
    if (!known(e.providers, TELEMETRY_PROVIDERS.tracing, `spec.tracing[${i}].providers`, problems)) return;
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
function merge(levels: readonly (Compiled | undefined)[]): Settings | undefined {
  let out: Settings | undefined;
  for (const c of levels) {
    if (c === undefined) continue;
    out = { ...out, ...c.settings };
  }
  return out;
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
    const s = merge(levels(ns, first(byNamespace.get(ns) ?? [], (c) => c.gateways.includes(key))));
    if (s === undefined) continue;
    const w: WaypointTelemetry = { waypoint: key };
    if (s.accessLog !== undefined) w.accessLog = s.accessLog;
    if (s.randomSamplingPercentage !== undefined || s.disableSpanReporting !== undefined) {
      w.tracing = {};
      if (s.randomSamplingPercentage !== undefined) w.tracing.randomSamplingPercentage = s.randomSamplingPercentage;
      if (s.disableSpanReporting !== undefined) w.tracing.disableSpanReporting = s.disableSpanReporting;
    }
    waypoints.push(w);
  }

  return {
    accessLogFor: (namespace, labels) => {
      if (byNamespace.size === 0) return undefined;
      const specific = first(byNamespace.get(namespace) ?? [], (c) => c.selector !== undefined && matches(c.selector, labels));
      return merge(levels(namespace, specific))?.accessLog;
    },
    waypoints,
    conditions,
  };
}
