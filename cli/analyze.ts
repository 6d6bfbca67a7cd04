// `weft analyze`: runs the controller's own parser and model over folders of manifests,
// offline, and lists what would be rejected and which objects would carry a failing condition.
import { LocalSource } from '#controller/source/local.ts';
import { buildModel } from '#controller/model/build.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import type { SourceRejection } from '#controller/source/types.ts';
import { silentLogger } from '#core/log.ts';
import { table } from '#cli/format.ts';

export interface Analysis {
  objects: number;
  rejections: SourceRejection[];
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
    const conditions = model.conditions;
    const maps: ReadonlyMap<string, unknown>[] = [objects.namespaces, objects.pods, objects.services, objects.endpointSlices, objects.nodes,
      objects.gateways, objects.httpRoutes, objects.grpcRoutes, objects.authorizationPolicies, objects.peerAuthentications];
    const count = maps.reduce((n, m) => n + m.size, 0);
    return { objects: count, rejections, conditions, problems: rejections.length + conditions.filter((c) => c.status === 'False').length };
  } finally {
    await source.stop();
  }
}

export function formatAnalysis(a: Analysis): string {
  let out = `${a.objects} objects read\n`;
  if (a.rejections.length > 0) {
    out += `\nrejected (${a.rejections.length}):\n`;
    out += table(['FILE', 'OBJECT', 'REASON'], a.rejections.map((r) => [r.file ?? '', [r.kind, r.namespace, r.name].filter((x) => x !== undefined && x !== '').join('/'), r.reason]));
  }
  const notes = a.conditions.filter((c) => c.status === 'False' || c.reason !== c.type);
  if (notes.length > 0) {
    out += `\nconditions (${notes.length}):\n`;
    out += table(['OBJECT', 'TYPE', 'STATUS', 'REASON', 'MESSAGE'], notes.map((c) => [`${c.kind}/${c.namespace}/${c.name}`, c.type, c.status, c.reason, c.message]));
  }
  out += a.problems === 0 ? '\nno problems found\n' : `\n${a.problems} problem(s)\n`;
  return out;
}
