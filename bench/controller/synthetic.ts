// A synthetic cluster for the controller scale benchmark: ambient namespaces, pods spread
// over nodes, and services selecting groups of pods, as ClusterObjects the model builder reads.
import type { ClusterObjects, Namespace, Node, Pod, Service } from '#controller/source/types.ts';
import { emptyClusterObjects } from '#controller/source/types.ts';

export interface SyntheticSize {
  pods: number;
  services: number;
  nodes: number;
  namespaces: number;
}

function ip(base: number, i: number): string {
  return `10.${base}.${(i >> 8) & 255}.${i & 255}`;
}

export function podObject(i: number, size: SyntheticSize, generation = 0): Pod {
  const ns = `ns-${i % size.namespaces}`;
  const svc = i % size.services;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: ns, uid: `uid-${i}`, labels: { app: `svc-${svc}`, version: `v${generation}` }, annotations: {} },
    spec: { nodeName: `node-${i % size.nodes}`, serviceAccountName: `sa-${svc}` },
    status: {
      podIP: ip(1 + (i >> 16), i), podIPs: [{ ip: ip(1 + (i >> 16), i) }], hostIP: ip(200, i % size.nodes), phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

export function syntheticCluster(size: SyntheticSize): ClusterObjects {
  const o = emptyClusterObjects();
  const namespaces = new Map<string, Namespace>();
  for (let n = 0; n < size.namespaces; n++) {
    namespaces.set(`ns-${n}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, namespace: '', labels: { 'istio.io/dataplane-mode': 'ambient' }, annotations: {} } });
  }
  const nodes = new Map<string, Node>();
  for (let n = 0; n < size.nodes; n++) {
    nodes.set(`node-${n}`, { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${n}`, namespace: '', labels: {}, annotations: {} }, status: { addresses: [{ type: 'InternalIP', address: ip(200, n) }] } });
  }
  const pods = new Map<string, Pod>();
  for (let i = 0; i < size.pods; i++) {
    const p = podObject(i, size);
    pods.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
  }
  const services = new Map<string, Service>();
  for (let s = 0; s < size.services; s++) {
    // Pods of service s live in namespace (s mod namespaces) when services divide evenly into namespaces.
    const ns = `ns-${s % size.namespaces}`;
    services.set(`${ns}/svc-${s}`, {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: `svc-${s}`, namespace: ns, uid: `svc-uid-${s}`, labels: {}, annotations: {} },
      spec: { clusterIP: ip(96, s), clusterIPs: [ip(96, s)], selector: { app: `svc-${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
  }
  return { ...o, namespaces, nodes, pods, services };
}
