// `weft install` / `weft uninstall` on Kubernetes: the chart (manifests/chart) rendered as
// `helm template` renders it (manifests/render/), then written through the API in Helm's
// install order — CRDs created only where the cluster lacks them and never overwritten (as Helm
// and `kubectl create -f crds.yaml` treat them), everything else server-side applied under the
// field manager `weft`. Uninstall deletes in reverse order, keeps the release namespace (other
// things may live there) and keeps the CRDs unless asked (deleting one deletes every object of
// its kind). `--dry-run` prints what would be applied, as YAML, and needs no cluster.
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { parse as parseYaml, stringify } from 'yaml';
import { WeftError } from '#core/errors.ts';
import { loadChart, renderChart } from '#manifests/render/chart.ts';
import type { KubeObject } from '#manifests/render/chart.ts';
import { CHART_DIR, PLAIN_RELEASE } from '#manifests/render/plain.ts';
import { CLI_FIELD_MANAGER, apiError, call, statusCode } from '#cli/kube-client.ts';
import type { ApiHints } from '#cli/kube-client.ts';

export interface InstallRender {
  namespace: string;
  /** CRDs first, then the chart's objects, in Helm's install order. */
  crds: KubeObject[];
  objects: KubeObject[];
}

const HINTS: ApiHints = {
  403: 'installing weft needs cluster-admin: it writes CRDs, ClusterRoles and a DaemonSet',
  404: 'is this kind served? the Gateway API CRDs (gateway.networking.k8s.io) must be installed before weft',
};

/** `key.path=value` (the value read as YAML, as `helm --set` reads scalars) into a values tree. */
export function parseSet(assignments: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new WeftError('WEFT_ERR_INSTALL', `--set ${JSON.stringify(a)}: expected key=value`, { hint: 'for example --set controller.replicas=2' });
    const path = a.slice(0, eq).split('.');
    let at = values;
    for (const k of path.slice(0, -1)) {
      const next = at[k];
      at = typeof next === 'object' && next !== null && !Array.isArray(next) ? next as Record<string, unknown> : (at[k] = {});
    }
    at[path[path.length - 1] ?? ''] = parseYaml(a.slice(eq + 1)) as unknown;
  }
  return values;
}

export function renderInstall(options: { namespace?: string; values?: Record<string, unknown> } = {}): InstallRender {
  const namespace = options.namespace ?? PLAIN_RELEASE.namespace;
  const r = renderChart(loadChart(CHART_DIR), { name: PLAIN_RELEASE.name, namespace, values: { ...PLAIN_RELEASE.values, ...options.values } });
  const crds = r.crds.install;
  return { namespace, crds, objects: r.objects().filter((o) => !crds.includes(o)) };
}

/** The objects as one multi-document YAML stream, `helm template`'s output. */
export function installYaml(r: InstallRender): string {
  return [...r.crds, ...r.objects].map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
}

/** `deployment.apps/weft-controller`, as kubectl names objects. */
export function objectRef(o: KubeObject): string {
  const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0] ?? ''}` : '';
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
}

export type InstallOutcome = 'created' | 'configured' | 'unchanged' | 'exists, kept' | 'deleted' | 'not found' | 'kept';

export class KubernetesInstaller {
  readonly #api: KubernetesObjectApi;

  constructor(kc: KubeConfig) {
    this.#api = KubernetesObjectApi.makeApiClient(kc);
  }

  /** Applies the render; calls `report` once per object, in order. */
  async install(r: InstallRender, report: (ref: string, outcome: InstallOutcome) => void): Promise<void> {
    for (const crd of r.crds) {
      if (await this.#read(crd) !== undefined) {
        report(objectRef(crd), 'exists, kept');
        continue;
      }
      await call(HINTS, `creating ${objectRef(crd)}`, () => this.#api.create(crd as KubernetesObject, undefined, undefined, CLI_FIELD_MANAGER));
      report(objectRef(crd), 'created');
    }
    for (const o of r.objects) {
      const before = await this.#read(o);
      const after = await call(HINTS, `applying ${objectRef(o)}`, () => this.#api.patch(o as KubernetesObject, undefined, undefined, CLI_FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
      report(objectRef(o), before === undefined ? 'created' : before.metadata?.resourceVersion === after.metadata?.resourceVersion ? 'unchanged' : 'configured');
    }
  }

  /** Deletes the chart's objects in reverse install order; the namespace stays, CRDs too unless `crds`. */
  async uninstall(r: InstallRender, options: { crds: boolean }, report: (ref: string, outcome: InstallOutcome) => void): Promise<void> {
    const order = [...r.objects].reverse();
    for (const o of order) {
      if (o.kind === 'Namespace') {
        report(objectRef(o), 'kept');
        continue;
      }
      report(objectRef(o), await this.#delete(o));
    }
    for (const crd of r.crds) report(objectRef(crd), options.crds ? await this.#delete(crd) : 'kept');
  }

  async #delete(o: KubeObject): Promise<InstallOutcome> {
    try {
      await this.#api.delete(o);
      return 'deleted';
    } catch (err) {
      if (statusCode(err) === 404) return 'not found';
      throw apiError(HINTS, `deleting ${objectRef(o)}`, err);
    }
  }

  async #read(o: KubeObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.#api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(typeof o.metadata['namespace'] === 'string' ? { namespace: o.metadata['namespace'] } : {}) } });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw apiError(HINTS, `reading ${objectRef(o)}`, err);
    }
  }
}
