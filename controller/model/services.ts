// Kubernetes Services as the mesh sees them: VIPs, TCP ports with resolved target ports,
// and which pods back them.
import type { Service as MeshService, ServicePort } from '#core/config/model.ts';
import type { EndpointSlice, Pod, Service, ServicePortSpec } from '#controller/source/types.ts';
import { selects } from '#controller/model/labels.ts';
import { podAddresses } from '#controller/model/enrollment.ts';

export function serviceHostname(svc: Service): string {
  return `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;
}

/** ztunnel carries TCP only; UDP and SCTP ports are left out. */
export function tcpPorts(svc: Service): ServicePortSpec[] {
  return svc.spec.ports.filter((p) => p.protocol === undefined || p.protocol === 'TCP');
}

export function serviceVips(svc: Service): string[] {
  return svc.spec.clusterIPs.filter((ip) => ip !== '' && ip !== 'None');
}

/** A Service without a selector (or with an empty one) selects no pods, as in Kubernetes. */
export function serviceSelectsPod(svc: Service, pod: Pod): boolean {
  const sel = svc.spec.selector;
  if (sel === undefined || Object.keys(sel).length === 0) return false;
  return svc.metadata.namespace === pod.metadata.namespace && selects(sel, pod.metadata.labels);
}

/** Whether some TCP port targets a container port by name (resolved through EndpointSlices). */
export function hasNamedTargetPort(svc: Service): boolean {
  return tcpPorts(svc).some((p) => typeof p.targetPort === 'string');
}

/**
 * The container port a service port reaches. Numbers are taken as they are; a name is
 * looked up in the EndpointSlices (which carry the resolved number under the service
 * port's name), preferring the slice that lists this pod's address.
 */
export function resolveTargetPort(port: ServicePortSpec, slices: readonly EndpointSlice[], pod?: Pod): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  const name = port.name ?? '';
  const podIps = pod === undefined ? [] : podAddresses(pod);
  const ordered = [...slices].sort((a, b) => Number(listsAny(b, podIps)) - Number(listsAny(a, podIps)));
  for (const slice of ordered) {
    const p = slice.ports.find((sp) => (sp.name ?? '') === name && sp.port !== undefined);
    if (p?.port !== undefined) return p.port;
  }
  return undefined;
}

function listsAny(slice: EndpointSlice, ips: readonly string[]): boolean {
  return slice.endpoints.some((e) => e.addresses.some((a) => ips.includes(a)));
}

/** `slices`: the service's EndpointSlices (needed only when a target port is named). */
export function toMeshService(svc: Service, slices: readonly EndpointSlice[]): MeshService {
  const ports: ServicePort[] = tcpPorts(svc).map((p) => {
    // 0 tells the proxy to use the per-workload port map (named ports may differ per pod).
    const sp: ServicePort = { servicePort: p.port, targetPort: resolveTargetPort(p, slices) ?? 0 };
    if (p.appProtocol !== undefined) sp.appProtocol = p.appProtocol;
    return sp;
  });
  return {
    name: svc.metadata.name,
    namespace: svc.metadata.namespace,
    hostname: serviceHostname(svc),
    addresses: serviceVips(svc),
    ports,
    subjectAltNames: [],
  };
}
