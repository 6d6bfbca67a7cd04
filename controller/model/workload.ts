// One running pod as the Workload proxies receive, from the pod and what the builder found
// for it (the services selecting it, its policies, its waypoint).
import type { GatewayAddress, Workload } from '#core/config/model.ts';
import type { EndpointSlice, Node, Pod, Service } from '#controller/source/types.ts';
import { canonicalNameOf, canonicalRevisionOf, workloadNameOf } from '#controller/model/canonical.ts';
import { podAddresses, podIsReady, serviceAccountOf } from '#controller/model/enrollment.ts';
import { resolveTargetPort, serviceHostname, tcpPorts } from '#controller/model/services.ts';

/** Everything a Workload is made from besides the pod itself. */
export interface WorkloadInputs {
  inMesh: boolean;
  trustDomain: string;
  clusterId: string;
  /** The pod's Node, looked up only when the pod has no hostIP. */
  node: Node | undefined;
  /** Services selecting the pod, in `objects.services` order. */
  services: readonly Service[];
  /** Per service above: its EndpointSlices when a target port is named, else undefined. */
  slices: readonly (readonly EndpointSlice[] | undefined)[];
  /** Sorted, without duplicates. */
  authorizationPolicies: readonly string[];
  waypoint: GatewayAddress | undefined;
  /** What Telemetry resources decide for the pod's access log (undefined: ztunnel's default). */
  accessLog?: boolean | undefined;
}

export function workloadUid(pod: Pod, clusterId: string): string {
  return pod.metadata.uid ?? `${clusterId}//Pod/${pod.metadata.namespace}/${pod.metadata.name}`;
}

/**
 * Per build: the key a workload lists each service under and, when no target port is named,
 * the port map every pod of the service shares, computed once per service instead of per pod.
 */
export class ServicePortShapes {
  readonly #shapes = new Map<Service, { key: string; ports: Readonly<Record<string, number>> | undefined }>();

  shapeOf(svc: Service): { key: string; ports: Readonly<Record<string, number>> | undefined } {
    let shape = this.#shapes.get(svc);
    if (shape === undefined) {
      const tcp = tcpPorts(svc);
      let ports: Record<string, number> | undefined;
      if (tcp.every((p) => typeof p.targetPort !== 'string')) {
        ports = {};
        for (const p of tcp) ports[String(p.port)] = typeof p.targetPort === 'number' ? p.targetPort : p.port;
      }
      // Selectors never cross namespaces: the service's namespace is the pod's.
      shape = { key: `${svc.metadata.namespace}/${serviceHostname(svc)}`, ports };
      this.#shapes.set(svc, shape);
    }
    return shape;
  }
}

export function toWorkload(pod: Pod, inputs: WorkloadInputs, shapes: ServicePortShapes = new ServicePortShapes()): Workload {
  const { namespace, name } = pod.metadata;
  const services: Record<string, Record<string, number>> = {};
  inputs.services.forEach((svc, i) => {
    const shape = shapes.shapeOf(svc);
    if (shape.ports !== undefined) {
      services[shape.key] = { ...shape.ports };
      return;
    }
    const slices = inputs.slices[i] ?? [];
    const ports: Record<string, number> = {};
    for (const p of tcpPorts(svc)) {
      const target = resolveTargetPort(p, slices, pod);
      if (target !== undefined) ports[String(p.port)] = target;
    }
    services[shape.key] = ports;
  });
  const w: Workload = {
    uid: workloadUid(pod, inputs.clusterId),
    name,
    namespace,
    addresses: podAddresses(pod),
    node: pod.spec.nodeName ?? '',
    tunnelProtocol: inputs.inMesh ? 'HBONE' : 'NONE',
    trustDomain: inputs.trustDomain,
    serviceAccount: serviceAccountOf(pod),
    canonicalName: canonicalNameOf(pod),
    canonicalRevision: canonicalRevisionOf(pod),
    workloadType: 'pod',
    workloadName: workloadNameOf(pod),
    services,
    authorizationPolicies: [...inputs.authorizationPolicies],
    status: podIsReady(pod) ? 'HEALTHY' : 'UNHEALTHY',
    clusterId: inputs.clusterId,
  };
  const nodeAddress = pod.status.hostIP ?? inputs.node?.status.addresses.find((a) => a.type === 'InternalIP')?.address;
  if (nodeAddress !== undefined && nodeAddress !== '') w.nodeAddress = nodeAddress;
  if (inputs.waypoint !== undefined) w.waypoint = inputs.waypoint;
  if (inputs.accessLog !== undefined) w.accessLog = inputs.accessLog;
  return w;
}

/** Whether two input sets make the same Workload for the same pod (objects compared by identity). */
export function sameWorkloadInputs(a: WorkloadInputs, b: WorkloadInputs): boolean {
  return a.inMesh === b.inMesh && a.trustDomain === b.trustDomain && a.clusterId === b.clusterId && a.node === b.node &&
    sameItems(a.services, b.services) && a.slices.length === b.slices.length && a.slices.every((s, i) => sameItems(s, b.slices[i])) &&
    sameItems(a.authorizationPolicies, b.authorizationPolicies) && sameAddress(a.waypoint, b.waypoint) &&
    a.accessLog === b.accessLog;
}

/** Same length and the same items by identity (or both absent). */
export function sameItems<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameAddress(a: GatewayAddress | undefined, b: GatewayAddress | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.address === b.address && a.hbonePort === b.hbonePort && a.identity === b.identity);
}
