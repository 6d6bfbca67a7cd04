// `weft waypoint` on Kubernetes: the waypoint's Gateway is server-side applied under the field
// manager `weft` (forced, as `kubectl apply --server-side --force-conflicts`), the namespace is
// enrolled with a merge patch of one label (so a missing namespace is an error, not created),
// and list/delete read and delete Gateways through the API. The controller does the rest.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { WeftError } from '#core/errors.ts';
import { CLI_FIELD_MANAGER, apiError, call, statusCode } from '#cli/kube-client.ts';
import { Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { checkWaypointRef, gatewayClassOf, waypointGateway, waypointRow } from '#cli/waypoint-gateway.ts';
import type { WaypointBackend, WaypointRow, WaypointSpec } from '#cli/waypoint-gateway.ts';

const GATEWAY_HINTS = {
  403: 'your user may lack RBAC permission for gateways.gateway.networking.k8s.io or namespaces',
  404: 'does the namespace exist, and are the Gateway API CRDs installed?',
} as const;

const NAMESPACE_HINTS = {
  403: 'your user may lack RBAC permission to patch namespaces',
  404: 'weft labels existing namespaces only: create it first (kubectl create namespace)',
} as const;

const GATEWAYS = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways' } as const;

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
    await call(GATEWAY_HINTS, `applying Gateway ${spec.namespace}/${spec.name}`, () => this.#custom.patchNamespacedCustomObject({
      ...GATEWAYS, namespace: spec.namespace, name: spec.name, body, fieldManager: CLI_FIELD_MANAGER, force: true,
    }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)));
    return `cluster ${this.#kc.getCurrentCluster()?.name ?? ''}`;
  }

  async enrollNamespace(namespace: string, name: string): Promise<void> {
    await this.labelNamespace(namespace, { [Labels.useWaypoint]: name });
  }

  async labelNamespace(namespace: string, labels: Readonly<Record<string, string | null>>): Promise<void> {
    await call(NAMESPACE_HINTS, `labeling namespace ${namespace}`, () => this.#core.patchNamespace({
      name: namespace, body: { metadata: { labels } }, fieldManager: CLI_FIELD_MANAGER,
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)));
  }

  async list(namespace: string | undefined): Promise<WaypointRow[]> {
    const list: unknown = await call(GATEWAY_HINTS, 'listing Gateways', () => (namespace === undefined
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
      throw apiError(GATEWAY_HINTS, `deleting Gateway ${namespace}/${name}`, err);
    }
    return true;
  }

  async #get(namespace: string, name: string): Promise<unknown> {
    try {
      return (await this.#custom.getNamespacedCustomObject({ ...GATEWAYS, namespace, name })) as unknown;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw apiError(GATEWAY_HINTS, `reading Gateway ${namespace}/${name}`, err);
    }
  }
}

function notWaypoint(namespace: string, name: string, cls: string | undefined): WeftError {
  return new WeftError('WEFT_ERR_WAYPOINT', `Gateway ${namespace}/${name} is of class ${JSON.stringify(cls ?? '')}, not a waypoint`, {
    hint: `pick another --name; weft only manages Gateways of class ${WAYPOINT_CLASS}`,
  });
}
