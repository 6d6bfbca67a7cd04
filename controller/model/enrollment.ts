// Which pods are in the mesh: ambient namespaces, minus pods that opt out, once running.
import type { Namespace, Pod } from '#controller/source/types.ts';
import { Labels } from '#controller/model/labels.ts';

export function namespaceIsAmbient(ns: Namespace | undefined): boolean {
  return ns?.metadata.labels[Labels.dataplaneMode] === 'ambient';
}

/** Labelled for the mesh, whatever its phase: the CA may issue for it, ztunnel will capture it. */
export function podWantsMesh(pod: Pod, ns: Namespace | undefined): boolean {
  return namespaceIsAmbient(ns) && pod.metadata.labels[Labels.dataplaneMode] !== 'none';
}

export function podAddresses(pod: Pod): string[] {
  const ips = pod.status.podIPs.map((p) => p.ip).filter((ip) => ip !== '');
  if (ips.length > 0) return ips;
  return pod.status.podIP !== undefined && pod.status.podIP !== '' ? [pod.status.podIP] : [];
}

/** A pod becomes a workload once it runs and has an address. */
export function podIsRunning(pod: Pod): boolean {
  return pod.status.phase === 'Running' && podAddresses(pod).length > 0;
}

/** A pod that can still run on its node (for certificate authorization ahead of start). */
export function podIsLive(pod: Pod): boolean {
  return pod.spec.nodeName !== undefined && pod.status.phase !== 'Succeeded' && pod.status.phase !== 'Failed';
}

export function podIsReady(pod: Pod): boolean {
  return pod.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function serviceAccountOf(pod: Pod): string {
  const sa = pod.spec.serviceAccountName;
  return sa === undefined || sa === '' ? 'default' : sa;
}
