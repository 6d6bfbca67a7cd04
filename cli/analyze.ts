// `weft analyze`: runs the controller's own parser and model over folders of manifests,
// offline, and lists what would be rejected, which fields weft cannot use, and which objects
// would carry a failing condition.
import { LocalSource } from '#controller/source/local.ts';
import { buildModel } from '#controller/model/build.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { fieldConditions } from '#controller/status/field-conditions.ts';
import type { ClusterObjects, FieldProblem, SourceRejection } from '#controller/source/types.ts';
import { silentLogger } from '#core/log.ts';
import { table } from '#cli/format.ts';

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
  conditions: ResourceCondition[];
  /** Rejections plus conditions with status False. */
  problems: number;
}

export async function analyzeManifests(dirs: string[]): Promise<Analysis> {
  const source = new LocalSource({ dirs, logger: silentLogger });
  await source.start();
  try {
    const objects = source.current();
    const model = buildModel(objects, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' });
    const rejections = [...source.rejected()];
    // The model's conditions first: a KnownFields condition it already reports is not doubled.
    const seen = new Set(model.conditions.map(conditionKey));
    const conditions = [...model.conditions, ...fieldConditions(objects).filter((c) => !seen.has(conditionKey(c)))];
    const maps: ReadonlyMap<string, unknown>[] = [objects.namespaces, objects.pods, objects.services, objects.endpointSlices, objects.nodes,
      objects.gateways, objects.httpRoutes, objects.grpcRoutes, objects.authorizationPolicies, objects.peerAuthentications];
    const count = maps.reduce((n, m) => n + m.size, 0);
    return { objects: count, rejections, fields: fieldReports(objects), conditions, problems: rejections.length + conditions.filter((c) => c.status === 'False').length };
  } finally {
    await source.stop();
  }
}

function conditionKey(c: ResourceCondition): string {
  return `${c.kind}/${c.namespace}/${c.name}/${c.type}`;
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
    out += table(['OBJECT', 'TYPE', 'STATUS', 'REASON', 'MESSAGE'], notes.map((c) => [`${c.kind}/${c.namespace}/${c.name}`, c.type, c.status, c.reason, c.message]));
  }
  out += a.problems === 0 ? '\nno problems found\n' : `\n${a.problems} problem(s)\n`;
  return out;
}
