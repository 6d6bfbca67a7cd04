// The names telemetry and baggage use for a pod: canonical service, revision and the
// owning workload's name, derived as Istio does from labels and the pod name.
import type { Pod } from '#controller/source/types.ts';
import { Labels } from '#controller/model/labels.ts';

// Kubernetes generates name suffixes from this alphabet (no vowels, no 0/1/3).
const SUFFIX = '[bcdfghjklmnpqrstvwxz2456789]';
const DEPLOYMENT_POD = new RegExp(`^(.+)-${SUFFIX}{6,10}-${SUFFIX}{5}$`);
const GENERATED_POD = new RegExp(`^(.+)-${SUFFIX}{5}$`);

/** The owner's name: Deployment, StatefulSet, DaemonSet/Job or the pod itself. */
export function workloadNameOf(pod: Pod): string {
  const name = pod.metadata.name;
  const labels = pod.metadata.labels;
  const hash = labels[Labels.podTemplateHash];
  if (hash !== undefined && hash !== '') {
    const marker = `-${hash}-`;
    const at = name.lastIndexOf(marker);
    if (at > 0) return name.slice(0, at);
  }
  if (labels[Labels.statefulSetPodName] === name) {
    const m = /^(.+)-\d+$/.exec(name);
    if (m?.[1] !== undefined) return m[1];
  }
  return DEPLOYMENT_POD.exec(name)?.[1] ?? GENERATED_POD.exec(name)?.[1] ?? name;
}

export function canonicalNameOf(pod: Pod): string {
  const l = pod.metadata.labels;
  return nonEmpty(l[Labels.canonicalName]) ?? nonEmpty(l[Labels.appName]) ?? nonEmpty(l[Labels.app]) ?? workloadNameOf(pod);
}

export function canonicalRevisionOf(pod: Pod): string {
  const l = pod.metadata.labels;
  return nonEmpty(l[Labels.canonicalRevision]) ?? nonEmpty(l[Labels.appVersion]) ?? nonEmpty(l[Labels.version]) ?? 'latest';
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
