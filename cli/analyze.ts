// `weft analyze`: runs the controller's own parser and model over folders of manifests,
// offline, and lists what would be rejected, which fields weft cannot use, and which objects
// would carry a failing condition — policies, waypoints, and routes for each of their parents.
// A waypoint Gateway is judged as if the controller had deployed it (it does, once applied),
// so what depends on it (routes, L7 policies, bindings) is judged on its own merits. With a
// mesh config file (Istio's MeshConfig, as the controller's --mesh-config reads it), the
// Telemetry providers it declares are judged as the controller would judge them.
import { readFile } from 'node:fs/promises';
import { LocalSource } from '#controller/source/local.ts';
import { buildModel } from '#controller/model/build.ts';
import { parseMeshConfig, type MeshConfig } from '#controller/model/mesh-config.ts';
import { compileRoutes } from '#controller/model/routes.ts';
import type { RouteCondition } from '#controller/model/routes.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { indexWaypoints, resolveWaypoint } from '#controller/model/waypoints.ts';
import type { WaypointAddressLookup } from '#controller/model/waypoints.ts';
import { fieldConditions } from '#controller/status/field-conditions.ts';
import type { ClusterObjects, FieldProblem, ParentReference, SourceRejection } from '#controller/source/types.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import { table } from '#cli/format.ts';
import { MODEL_OPTIONS, standInLookup } from '#cli/cluster-state.ts';

/** A field of one object that weft cannot use (unknown, unsupported or unreadable). */
export interface FieldReport extends FieldProblem {
  kind: string;
  namespace: string;
  name: string;
}

export interface Analysis {
  objects: number;
  rejections: SourceRejection[];
  /** Every such field, object by object; each object listed here also has a False condition. */
  fields: FieldReport[];
  /** Route conditions carry the parentRef they are for (one set per parent). */
  conditions: (ResourceCondition | RouteCondition)[];
  /** `namespace/name` of waypoint Gateways without an address, judged as if deployed. */
  assumedWaypoints: string[];
  /** Rejections plus conditions with status False. */
  problems: number;
}

/** Reads a mesh config file as the controller does; a file that is not YAML stops the analysis. */
async function readMeshConfig(path: string): Promise<MeshConfig> {
  try {
    return parseMeshConfig(await readFile(path, 'utf8'));
  } catch (err) {
    throw new WeftError('WEFT_ERR_MESH_CONFIG', `mesh config ${path}: ${errorMessage(err).split('\n')[0] ?? ''}`);
  }
}

export async function analyzeManifests(dirs: string[], opts: { meshConfigFile?: string } = {}): Promise<Analysis> {
  const mesh = opts.meshConfigFile === undefined ? undefined : await readMeshConfig(opts.meshConfigFile);
  const source = new LocalSource({ dirs, logger: silentLogger });
  await source.start();
  try {
    const objects = source.current();
    const assumed = new Set<string>();
    const lookup = standInLookup(assumed);
    const model = buildModel(objects, mesh === undefined ? MODEL_OPTIONS : { ...MODEL_OPTIONS, mesh }, { waypointAddress: lookup });
    const rejections = [...source.rejected()];
    const routes = routeConditions(objects, lookup);
    // The model keeps one condition per object and type; a route has one set per parent, so
    // routes come from the route compiler (the model's are a subset of these).
    const fromRoutes = new Set(routes.map(conditionKey));
    const modelConditions = model.conditions.filter((c) => !fromRoutes.has(conditionKey(c)) && !isAssumedProgrammed(c, assumed));
    // The model's conditions first: a KnownFields condition it already reports is not doubled.
    const seen = new Set(modelConditions.map(conditionKey));
    const conditions = [...modelConditions, ...routes, ...fieldConditions(objects).filter((c) => !seen.has(conditionKey(c)))];
    const maps: ReadonlyMap<string, unknown>[] = [objects.namespaces, objects.pods, objects.services, objects.endpointSlices, objects.nodes,
      objects.gateways, objects.httpRoutes, objects.grpcRoutes, objects.authorizationPolicies, objects.peerAuthentications];
    const count = maps.reduce((n, m) => n + m.size, 0);
    return {
      objects: count, rejections, fields: fieldReports(objects), conditions, assumedWaypoints: [...assumed].sort(),
      problems: rejections.length + conditions.filter((c) => c.status === 'False').length,
    };
  } finally {
    await source.stop();
  }
}

/** The Programmed=True a stand-in address produced says nothing about the manifests. */
function isAssumedProgrammed(c: ResourceCondition, assumed: ReadonlySet<string>): boolean {
  return c.kind === 'Gateway' && c.type === 'Programmed' && assumed.has(`${c.namespace}/${c.name}`);
}

/** Every route's conditions for each of its parents, with Services bound to waypoints as the model binds them. */
function routeConditions(objects: ClusterObjects, lookup: WaypointAddressLookup): RouteCondition[] {
  const { waypoints } = indexWaypoints(objects, MODEL_OPTIONS.trustDomain, lookup);
  const byIdentity = new Map([...waypoints].map(([key, wp]) => [wp.identity, key]));
  const waypointOfService = (key: string): string | undefined => {
    const svc = objects.services.get(key);
    if (svc === undefined || svc.spec.type === 'ExternalName') return undefined;
    const nsLabels = objects.namespaces.get(svc.metadata.namespace)?.metadata.labels ?? {};
    const identity = resolveWaypoint({ kind: 'Service', metadata: svc.metadata }, nsLabels, waypoints).waypoint?.identity;
    return identity === undefined ? undefined : byIdentity.get(identity);
  };
  return compileRoutes(objects, { trustDomain: MODEL_OPTIONS.trustDomain, waypointOfService }).conditions;
}

function conditionKey(c: ResourceCondition): string {
  return `${c.kind}/${c.namespace}/${c.name}/${c.type}`;
}

/** `HTTPRoute/shop/r (parent Service web:80)` for a route's per-parent conditions. */
function objectLabel(c: ResourceCondition | RouteCondition): string {
  const base = `${c.kind}/${c.namespace}/${c.name}`;
  return 'parentRef' in c ? `${base} (parent ${parentLabel(c.parentRef)})` : base;
}

function parentLabel(ref: ParentReference): string {
  const ns = ref.namespace === undefined ? '' : `${ref.namespace}/`;
  return `${ref.kind ?? 'Gateway'} ${ns}${ref.name}${ref.port === undefined ? '' : `:${ref.port}`}${ref.sectionName === undefined ? '' : `#${ref.sectionName}`}`;
}

function fieldReports(objects: ClusterObjects): FieldReport[] {
  const out: FieldReport[] = [];
  const kinds = [objects.gateways, objects.httpRoutes, objects.grpcRoutes, objects.authorizationPolicies, objects.peerAuthentications];
  for (const map of kinds) {
    for (const o of map.values()) {
      for (const p of o.fieldProblems ?? []) out.push({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name, ...p });
    }
  }
  return out;
}

export function formatAnalysis(a: Analysis): string {
  let out = `${a.objects} objects read\n`;
  if (a.rejections.length > 0) {
    out += `\nrejected (${a.rejections.length}):\n`;
    out += table(['FILE', 'OBJECT', 'REASON'], a.rejections.map((r) => [r.file ?? '', [r.kind, r.namespace, r.name].filter((x) => x !== undefined && x !== '').join('/'), r.reason]));
  }
  if (a.fields.length > 0) {
    out += `\nfields weft cannot use (${a.fields.length}):\n`;
    out += table(['OBJECT', 'FIELD', 'PROBLEM'], a.fields.map((f) => [`${f.kind}/${f.namespace}/${f.name}`, f.path, f.message]));
  }
  const notes = a.conditions.filter((c) => c.status === 'False' || c.reason !== c.type);
  if (notes.length > 0) {
    out += `\nconditions (${notes.length}):\n`;
    out += table(['OBJECT', 'TYPE', 'STATUS', 'REASON', 'MESSAGE'], notes.map((c) => [objectLabel(c), c.type, c.status, c.reason, c.message]));
  }
  if (a.assumedWaypoints.length > 0) {
    out += `\nwaypoints judged as if deployed (the controller deploys them): ${a.assumedWaypoints.join(', ')}\n`;
  }
  out += a.problems === 0 ? '\nno problems found\n' : `\n${a.problems} problem(s)\n`;
  return out;
}
