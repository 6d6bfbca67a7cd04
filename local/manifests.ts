// What a Kubernetes API would report about the embedded cluster's objects, rendered as plain
// objects (pure) for the manifest folder the controller's local source watches.
import type { LocalNode } from './node.ts';
import type { LocalPod } from './pod.ts';

/** Marks manifests written by an embedded cluster, so a sweep can find its leftovers. */
export const CLUSTER_ANNOTATION = 'weft.io/local-cluster';
/** On Pods: the path of the pod's network namespace, as a CNI plugin would hand it over. */
export const NETNS_ANNOTATION = 'weft.io/netns';

export interface ServicePortSpec {
  readonly port: number;
  readonly targetPort: number;
  readonly name?: string;
  readonly appProtocol?: string;
}

export interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly vip: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortSpec[];
  readonly createdAt: Date;
}

type Obj = Record<string, unknown>;

/** `<kind>-<namespace>-<name>.yaml`, kind in lower case; cluster-scoped kinds skip the namespace. */
export function manifestFileName(kind: string, namespace: string | undefined, name: string): string {
  const k = kind.toLowerCase();
  return namespace === undefined ? `${k}-${name}.yaml` : `${k}-${namespace}-${name}.yaml`;
}

function meta(cluster: string, fields: Obj, createdAt: Date, annotations: Record<string, string> = {}): Obj {
  return {
    ...fields,
    creationTimestamp: createdAt.toISOString(),
    annotations: { [CLUSTER_ANNOTATION]: cluster, ...annotations },
  };
}

export function nodeManifest(cluster: string, node: LocalNode, createdAt: Date): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: meta(cluster, { name: node.name, labels: { ...node.labels } }, createdAt),
    spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
    status: {
      addresses: [{ type: 'InternalIP', address: node.ip }, { type: 'Hostname', address: node.name }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

export function podManifest(cluster: string, pod: LocalPod): Obj {
  const ready = pod.ready ? 'True' : 'False';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(cluster, { name: pod.name, namespace: pod.namespace, uid: pod.uid, labels: { ...pod.labels } }, pod.createdAt,
      { [NETNS_ANNOTATION]: pod.netnsPath }),
    spec: {
      nodeName: pod.node,
      serviceAccountName: pod.serviceAccount,
      containers: [{ name: 'app', image: 'weft.local/app' }],
    },
    status: {
      phase: 'Running',
      hostIP: pod.nodeIp,
      hostIPs: [{ ip: pod.nodeIp }],
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      startTime: pod.createdAt.toISOString(),
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', status: ready },
        { type: 'Ready', status: ready },
      ],
    },
  };
}

function portEntry(p: ServicePortSpec): Obj {
  return {
    ...(p.name === undefined ? {} : { name: p.name }),
    protocol: 'TCP',
    port: p.port,
    targetPort: p.targetPort,
    ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
  };
}

export function serviceManifest(cluster: string, svc: ServiceSpec): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, { name: svc.name, namespace: svc.namespace, uid: svc.uid, labels: { ...svc.labels } }, svc.createdAt),
    spec: {
      type: 'ClusterIP',
      clusterIP: svc.vip,
      clusterIPs: [svc.vip],
      selector: { ...svc.selector },
      ports: svc.ports.map(portEntry),
    },
  };
}

/** One EndpointSlice per Service, named after it; endpoints are every selected pod, ready or not. */
export function endpointSliceManifest(cluster: string, svc: ServiceSpec, pods: readonly LocalPod[]): Obj {
  const sorted = [...pods].sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(cluster, {
      name: svc.name,
      namespace: svc.namespace,
      labels: { 'kubernetes.io/service-name': svc.name, 'endpointslice.kubernetes.io/managed-by': 'weft-local' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.name, uid: svc.uid }],
    }, svc.createdAt),
    addressType: 'IPv4',
    endpoints: sorted.map((pod) => ({
      addresses: [pod.ip],
      conditions: { ready: pod.ready, serving: pod.ready, terminating: false },
      nodeName: pod.node,
      targetRef: { kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid },
    })),
    ports: svc.ports.map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      protocol: 'TCP',
      port: p.targetPort,
      ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
    })),
  };
}

export function namespaceManifest(cluster: string, name: string, labels: Readonly<Record<string, string>>, createdAt: Date): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: meta(cluster, { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } }, createdAt),
  };
}
