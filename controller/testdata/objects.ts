// Test helpers: cluster objects from plain manifests, through the same parser as sources.
import { mergeFiles } from '#controller/source/local.ts';
import { parseObject } from '#controller/source/parse.ts';
import type { ClusterObject, ClusterObjects } from '#controller/source/types.ts';

export function objectsFrom(docs: readonly unknown[]): ClusterObjects {
  const objects: ClusterObject[] = docs.map((d) => {
    const r = parseObject(d);
    if (!r.ok) throw new Error(`bad test manifest: ${r.reason}`);
    return r.object;
  });
  return mergeFiles(new Map([['test', { objects, rejections: [] }]])).objects;
}

export function ns(name: string, labels: Record<string, string> = {}): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export const ambient = { 'istio.io/dataplane-mode': 'ambient' };

export function pod(
  namespace: string,
  name: string,
  options: { labels?: Record<string, string>; ip?: string; node?: string; sa?: string; phase?: string; ready?: boolean; uid?: string; hostIP?: string } = {},
): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: options.uid ?? `uid-${namespace}-${name}`, labels: options.labels ?? {} },
    spec: { nodeName: options.node ?? 'node-1', ...(options.sa === undefined ? {} : { serviceAccountName: options.sa }) },
    status: {
      phase: options.phase ?? 'Running',
      ...(options.ip === '' ? {} : { podIP: options.ip ?? '10.0.0.1', podIPs: [{ ip: options.ip ?? '10.0.0.1' }] }),
      hostIP: options.hostIP ?? '192.168.0.1',
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
    },
  };
}

export function service(
  namespace: string,
  name: string,
  options: { selector?: Record<string, string>; ip?: string; labels?: Record<string, string>; ports?: unknown[] } = {},
): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: options.labels ?? {} },
    spec: {
      clusterIP: options.ip ?? '10.96.0.10',
      ...(options.selector === undefined ? {} : { selector: options.selector }),
      ports: options.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }],
    },
  };
}

export function gateway(namespace: string, name: string, options: { labels?: Record<string, string>; address?: string; className?: string } = {}): unknown {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace, labels: options.labels ?? {} },
    spec: { gatewayClassName: options.className ?? 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    ...(options.address === undefined ? {} : { status: { addresses: [{ type: 'IPAddress', value: options.address }] } }),
  };
}

export function authz(namespace: string, name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): unknown {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace, annotations }, spec };
}

export function peerAuth(namespace: string, name: string, spec: Record<string, unknown>): unknown {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec };
}

export function telemetry(namespace: string, name: string, spec: Record<string, unknown>): unknown {
  return { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace }, spec };
}
