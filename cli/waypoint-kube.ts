// `weft waypoint` on Kubernetes: the waypoint's Gateway is server-side applied under the field
// manager `weft` (forced, as `kubectl apply --server-side --force-conflicts`), the namespace is
// enrolled with a merge patch of one label (so a missing namespace is an error, not created),
// and list/delete read and delete Gateways through the API. The controller does the rest.
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';
import { Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { checkWaypointRef, gatewayClassOf, waypointGateway, waypointRow } from '#cli/waypoint-gateway.ts';
import type { WaypointBackend, WaypointRow, WaypointSpec } from '#cli/waypoint-gateway.ts';

export const CLI_FIELD_MANAGER = 'weft';

const GATEWAYS = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways' } as const;

export interface KubeTarget {
  /** A kubeconfig file; otherwise KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  kubeconfig?: string;
  context?: string;
}

/** The client library's configuration as kubectl would find it. */
export function loadCliKubeConfig(target: KubeTarget): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig !== undefined) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
    if (target.context !== undefined) kc.setCurrentContext(target.context);
  } catch (err) {
    throw new WeftError('WEFT_ERR_KUBECONFIG', `cannot load the kubeconfig: ${errorMessage(err)}`, { hint: 'check --kubeconfig, --context or KUBECONFIG', cause: err });
  }
  if (kc.getCurrentCluster() === null) {
    throw new WeftError('WEFT_ERR_KUBECONFIG', 'no Kubernetes cluster configured', {
      hint: 'pass --kubeconfig (or set KUBECONFIG); for the embedded cluster pass --manifests DIR, the folder the demo prints',
    });
  }
  return kc;
}

export class KubernetesWaypoints implements WaypointBackend {
  readonly #kc: KubeConfig;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  defaultNamespace(): string {
    const ns = this.#kc.getContextObject(this.#kc.getCurrentContext())?.namespace;
    return ns === undefined || ns === '' ? 'default' : ns;
  }

  async apply(spec: WaypointSpec): Promise<string> {
    const body = waypointGateway(spec);
    const existing = await this.#get(spec.namespace, spec.name);
    const cls = existing === undefined ? undefined : gatewayClassOf(existing);
    if (existing !== undefined && cls !== WAYPOINT_CLASS) throw notWaypoint(spec.namespace, spec.name, cls);
    await call(`applying Gateway ${spec.namespace}/${spec.name}`, () => this.#custom.patchNamespacedCustomObject({
      ...GATEWAYS, namespace: spec.namespace, name: spec.name, body, fieldManager: CLI_FIELD_MANAGER, force: true,
    }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)));
    return `cluster ${this.#kc.getCurrentCluster()?.name ?? ''}`;
  }

  async enrollNamespace(namespace: string, name: string): Promise<void> {
    await call(`labeling namespace ${namespace}`, () => this.#core.patchNamespace({
      name: namespace, body: { metadata: { labels: { [Labels.useWaypoint]: name } } }, fieldManager: CLI_FIELD_MANAGER,
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)));
  }

  async list(namespace: string | undefined): Promise<WaypointRow[]> {
    const list: unknown = await call('listing Gateways', () => (namespace === undefined
      ? this.#custom.listClusterCustomObject({ ...GATEWAYS })
      : this.#custom.listNamespacedCustomObject({ ...GATEWAYS, namespace })));
    const items = typeof list === 'object' && list !== null && Array.isArray((list as { items?: unknown }).items) ? (list as { items: unknown[] }).items : [];
    return items.flatMap((o) => waypointRow(o) ?? []);
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    checkWaypointRef(namespace, name);
    const existing = await this.#get(namespace, name);
    if (existing === undefined) return false;
    const cls = gatewayClassOf(existing);
    if (cls !== WAYPOINT_CLASS) throw notWaypoint(namespace, name, cls);
    try {
      await this.#custom.deleteNamespacedCustomObject({ ...GATEWAYS, namespace, name });
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw apiError(`deleting Gateway ${namespace}/${name}`, err);
    }
    return true;
  }

  async #get(namespace: string, name: string): Promise<unknown> {
    try {
      return (await this.#custom.getNamespacedCustomObject({ ...GATEWAYS, namespace, name })) as unknown;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw apiError(`reading Gateway ${namespace}/${name}`, err);
    }
  }
}

async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw apiError(what, err);
  }
}

function statusCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

/** `<what> failed: HTTP 403: <the API server's message>`, as kubectl's "Error from server". */
function apiError(what: string, err: unknown): WeftError {
  const code = statusCode(err);
  if (code === undefined) {
    return new WeftError('WEFT_ERR_KUBE_API', `${what} failed: ${errorMessage(err)}`, { hint: 'is the cluster in the kubeconfig reachable? For the embedded cluster pass --manifests DIR', cause: err });
  }
  const body = (err as { body?: unknown }).body;
  let message = '';
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      const m = typeof parsed === 'object' && parsed !== null ? (parsed as { message?: unknown }).message : undefined;
      if (typeof m === 'string') message = m;
    } catch {
      message = body.slice(0, 200);
    }
  }
  const hint = code === 403 ? 'your user may lack RBAC permission for gateways.gateway.networking.k8s.io or namespaces'
    : code === 404 ? 'does the namespace exist, and are the Gateway API CRDs installed?'
      : undefined;
  return new WeftError('WEFT_ERR_KUBE_API', `${what} failed: HTTP ${code}${message === '' ? '' : `: ${message}`}`, { ...(hint === undefined ? {} : { hint }), cause: err });
}

function notWaypoint(namespace: string, name: string, cls: string | undefined): WeftError {
  return new WeftError('WEFT_ERR_WAYPOINT', `Gateway ${namespace}/${name} is of class ${JSON.stringify(cls ?? '')}, not a waypoint`, {
    hint: `pick another --name; weft only manages Gateways of class ${WAYPOINT_CLASS}`,
  });
}
