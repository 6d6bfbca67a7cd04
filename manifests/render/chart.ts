// Renders a Helm chart the way `helm template` / `helm install` do, for the subset of Helm
// the weft chart uses: Chart.yaml, values.yaml coalesced with overrides (a null override
// removes a key), every file under templates/ parsed into one template set (files starting
// with `_` only define), `.Values`, `.Release`, `.Chart`, `.Capabilities.KubeVersion` and
// `.Template`, the functions of helm-functions.ts, `lookup` answered by a caller-given
// reader (empty, as under `helm template`, when there is none), NOTES.txt, and crds/ as Helm
// installs it: plain YAML, created when absent, never overwritten. Objects come out in Helm's
// install order.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { TemplateSet, isMap } from './go-template.ts';
import { helmFunctions } from './helm-functions.ts';
import type { LookupFn } from './helm-functions.ts';

export type KubeObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> & { name: string } };

export interface Chart {
  dir: string;
  metadata: Record<string, unknown> & { name: string; version: string };
  values: Record<string, unknown>;
  /** Path under the chart (`templates/x.yaml`) → text. */
  templates: Map<string, string>;
  crds: Map<string, string>;
}

export interface ReleaseOptions {
  name: string;
  namespace: string;
  /** Overrides, coalesced over values.yaml as `--values`/`--set` are. */
  values?: Record<string, unknown>;
  /** What `lookup` and the CRD step see of the cluster. */
  lookup?: LookupFn;
  isUpgrade?: boolean;
  kubeVersion?: string;
}

export interface RenderedFile {
  /** `weft/templates/controller.yaml`, as Helm names it in `# Source:` lines. */
  source: string;
  objects: KubeObject[];
}

export interface RenderedChart {
  values: Record<string, unknown>;
  files: RenderedFile[];
  /** The CRDs Helm would create (those the cluster lacks), and those it skips. */
  crds: { install: KubeObject[]; skipped: KubeObject[] };
  notes: string;
  /** CRDs first, then the templates' objects, in Helm's install order. */
  objects(): KubeObject[];
}

/** Helm's InstallOrder (pkg/release/util/kind_sorter.go); kinds it does not list come last. */
export const INSTALL_ORDER: readonly string[] = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget',
  'ServiceAccount', 'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim',
  'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role',
  'RoleList', 'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet',
  'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

export function loadChart(dir: string): Chart {
  const metadata = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as unknown;
  if (!isMap(metadata) || typeof metadata['name'] !== 'string' || typeof metadata['version'] !== 'string') {
    throw new Error(`${dir}/Chart.yaml: name and version are required`);
  }
  const values = parseYaml(readFileSync(join(dir, 'values.yaml'), 'utf8')) as unknown;
  const templates = new Map<string, string>();
  for (const f of listFiles(join(dir, 'templates'))) templates.set(relative(dir, f), readFileSync(f, 'utf8'));
  const crds = new Map<string, string>();
  for (const f of listFiles(join(dir, 'crds'))) if (/\.(ya?ml|json)$/.test(f)) crds.set(relative(dir, f), readFileSync(f, 'utf8'));
  return { dir, metadata: metadata as Chart['metadata'], values: isMap(values) ? values : {}, templates, crds };
}

/** Helm's coalescing: maps merge key by key, anything else replaces, null deletes. */
export function coalesceValues(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = coalesceValues(out[k], v);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** Go's exported-field names for Chart.yaml keys (`appVersion` → `AppVersion`). */
function chartObject(metadata: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) out[k.charAt(0).toUpperCase() + k.slice(1)] = v;
  out['Annotations'] ??= {};
  return out;
}

function parseObjects(source: string, text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: the rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const v = doc.toJS() as unknown;
    if (v === null || v === undefined) continue;
    if (!isMap(v) || typeof v['apiVersion'] !== 'string' || typeof v['kind'] !== 'string' || !isMap(v['metadata']) || typeof v['metadata']['name'] !== 'string') {
      throw new Error(`${source}: a rendered document is not a Kubernetes object (apiVersion, kind, metadata.name)`);
    }
    out.push(v as KubeObject);
  }
  return out;
}

export function installRank(kind: string): number {
  const i = INSTALL_ORDER.indexOf(kind);
  return i < 0 ? INSTALL_ORDER.length : i;
}

export function renderChart(chart: Chart, release: ReleaseOptions): RenderedChart {
  const values = coalesceValues(chart.values, release.values ?? {});
  const kubeVersion = release.kubeVersion ?? 'v1.31.0';
  const [major = '1', minor = '31'] = kubeVersion.replace(/^v/, '').split('.');
  const set = new TemplateSet(helmFunctions(release.lookup));
  for (const [path, text] of chart.templates) set.add(`${chart.metadata.name}/${path}`, text);
  const top = {
    Values: values,
    Release: {
      Name: release.name, Namespace: release.namespace, Service: 'Helm', Revision: 1,
      IsInstall: release.isUpgrade !== true, IsUpgrade: release.isUpgrade === true,
    },
    Chart: chartObject(chart.metadata),
    Capabilities: { KubeVersion: { Version: kubeVersion, Major: major, Minor: minor } },
  };
  const files: RenderedFile[] = [];
  let notes = '';
  for (const path of chart.templates.keys()) {
    const base = path.split('/').at(-1) ?? path;
    const name = `${chart.metadata.name}/${path}`;
    const data = { ...top, Template: { Name: name, BasePath: `${chart.metadata.name}/templates` } };
    if (base === 'NOTES.txt') {
      notes = set.execute(name, data);
      continue;
    }
    if (base.startsWith('_') || !/\.(ya?ml|json)$/.test(base)) continue;
    const objects = parseObjects(name, set.execute(name, data));
    if (objects.length > 0) files.push({ source: name, objects });
  }
  const install: KubeObject[] = [];
  const skipped: KubeObject[] = [];
  for (const [path, text] of chart.crds) {
    for (const crd of parseObjects(`${chart.metadata.name}/${path}`, text)) {
      const present = release.lookup?.(crd.apiVersion, crd.kind, '', crd.metadata.name) !== undefined;
      (present ? skipped : install).push(crd);
    }
  }
  return {
    values, files, crds: { install, skipped }, notes,
    objects: () => [
      ...install,
      ...files.flatMap((f) => f.objects).map((o, i) => ({ o, i })).sort((a, b) => installRank(a.o.kind) - installRank(b.o.kind) || a.i - b.i).map((x) => x.o),
    ],
  };
}
