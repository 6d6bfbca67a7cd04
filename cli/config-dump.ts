// `weft config ztunnel NODE` / `weft config waypoint NAME`: the configuration a proxy holds.
// Three places to read it from: the proxy's own admin endpoint (`--admin URL`, its
// /config_dump, e.g. through a port-forward of 15000), or what the controller pushes to that
// proxy — computed with the controller's own per-client view (viewFor) over the model the
// running controller serves at /debug/model, or over the model of a folder of manifests.
import type { Resource } from '#core/config/model.ts';
import { validateResources } from '#core/config/validate.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { modelKey } from '#controller/model/types.ts';
import { viewFor } from '#controller/model/view.ts';
import type { ViewClient } from '#controller/model/view.ts';
import { MODEL_OPTIONS } from '#cli/cluster-state.ts';
import { table } from '#cli/format.ts';
import type { Printable } from '#cli/output.ts';

export type ProxyRef = { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; namespace: string; name: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The model the controller's /debug/model shows, as the model type (resources re-validated). */
export function modelFromJson(body: unknown): MeshModel | undefined {
  if (!isRecord(body) || body['built'] !== true || !Array.isArray(body['resources'])) return undefined;
  const { valid } = validateResources(body['resources']);
  const ids = Array.isArray(body['waypointIdentities']) ? body['waypointIdentities'].filter((x): x is string => typeof x === 'string') : [];
  return { resources: new Map(valid.map((r) => [modelKey(r), r])), conditions: [], identitiesByNode: new Map(), waypointIdentities: new Set(ids) };
}

function clientOf(model: MeshModel, ref: ProxyRef): ViewClient {
  if (ref.kind === 'ztunnel') return { kind: 'ztunnel', node: ref.node };
  const suffix = `/ns/${ref.namespace}/sa/${ref.name}`;
  const identity = [...model.waypointIdentities].find((id) => id.endsWith(suffix)) ?? spiffeIdFor(ref.namespace, ref.name, MODEL_OPTIONS.trustDomain);
  return { kind: 'waypoint', identity };
}

/** What the controller would push to this proxy, grouped as the proxy's own config dump groups it; `source` says whose model. */
export function pushedConfig(model: MeshModel, ref: ProxyRef, source: string): Record<string, unknown> {
  const client = clientOf(model, ref);
  const view = [...viewFor(model, client).values()].sort((a, b) => modelKey(a).localeCompare(modelKey(b)));
  const of = (kind: Resource['kind']): unknown[] => view.filter((r) => r.kind === kind).map((r) => r.value);
  const head = ref.kind === 'ztunnel' ? { node: ref.node } : { waypoint: { namespace: ref.namespace, name: ref.name, identity: client.kind === 'waypoint' ? client.identity : '' } };
  return {
    ...head, source,
    workloads: of('workload'), services: of('service'),
    policies: ref.kind === 'ztunnel' ? of('authorization') : of('l7authorization'),
    ...(ref.kind === 'waypoint' ? { routes: of('routes') } : {}),
  };
}

/** A short name for one entry of a dump list. */
function entryName(v: unknown): string {
  if (!isRecord(v)) return String(v);
  const ns = typeof v['namespace'] === 'string' ? `${v['namespace']}/` : '';
  for (const k of ['name', 'hostname', 'service', 'key', 'uid', 'identity']) if (typeof v[k] === 'string') return `${ns}${v[k]}`;
  return JSON.stringify(v).slice(0, 60);
}

function entryDetail(v: unknown): string {
  if (!isRecord(v)) return '';
  if (Array.isArray(v['addresses'])) return v['addresses'].map(String).join(',');
  if (typeof v['action'] === 'string') return `${v['action']}${typeof v['scope'] === 'string' ? ` ${v['scope']}` : ''}`;
  return '';
}

/** A dump (pushed or the proxy's own): the table lists each list's entries; json/yaml the whole. */
export function dumpPrintable(dump: unknown): Printable {
  return {
    data: dump,
    table: (wide) => {
      const rows: string[][] = [];
      const scalars: string[] = [];
      for (const [k, v] of Object.entries(isRecord(dump) ? dump : {})) {
        if (Array.isArray(v)) for (const e of v) rows.push([k, entryName(e), ...(wide ? [entryDetail(e)] : [])]);
        else if (typeof v !== 'object' || v === null) scalars.push(`${k}: ${String(v)}`);
      }
      const head = scalars.length === 0 ? '' : `${scalars.join(', ')}\n`;
      return rows.length === 0 ? `${head}nothing configured\n` : `${head}${table(['SECTION', 'NAME', ...(wide ? ['DETAIL'] : [])], rows)}`;
    },
  };
}
