// What a kubelet would run for one container of a rendered pod spec, worked out from the
// manifest alone: the program and arguments (command + args), the environment (value, and
// valueFrom.fieldRef from the pod's own metadata and spec), and where each volume is mounted.
// Tests hand the result to the component's own config parser, or start the program with it, so
// a manifest the code would reject fails in CI rather than on a cluster.
import { isMap } from './go-template.ts';
import type { KubeObject } from './chart.ts';

export interface ContainerMount {
  mountPath: string;
  readOnly: boolean;
  /** The pod volume it mounts, as written in spec.volumes. */
  volume: Record<string, unknown>;
}

export interface ContainerInvocation {
  container: string;
  /** command[0] (the program, `node`) and command[1..] followed by args. */
  command: string[];
  args: string[];
  env: Record<string, string>;
  mounts: ContainerMount[];
  /** The container spec itself, for ports, probes and securityContext. */
  spec: Record<string, unknown>;
  /** The pod template's spec. */
  podSpec: Record<string, unknown>;
  podLabels: Record<string, string>;
}

export interface PodFacts {
  /** metadata.name of the pod the kubelet runs (a Deployment's pods get generated names). */
  name: string;
  namespace: string;
  nodeName: string;
  podIP?: string;
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) throw new Error(`${what} must be a list of strings`);
  return v;
}

/** The pod template of a Deployment or DaemonSet (or the spec of a Pod). */
export function podTemplateOf(obj: KubeObject): { labels: Record<string, string>; spec: Record<string, unknown> } {
  const spec = isMap(obj['spec']) ? obj['spec'] : {};
  if (obj.kind === 'Pod') return { labels: (isMap(obj.metadata['labels']) ? obj.metadata['labels'] : {}) as Record<string, string>, spec };
  const template = isMap(spec['template']) ? spec['template'] : undefined;
  if (template === undefined) throw new Error(`${obj.kind} ${obj.metadata.name} has no pod template`);
  const meta = isMap(template['metadata']) ? template['metadata'] : {};
  return { labels: (isMap(meta['labels']) ? meta['labels'] : {}) as Record<string, string>, spec: isMap(template['spec']) ? template['spec'] : {} };
}

function fieldRef(path: string, pod: PodFacts, labels: Record<string, string>): string {
  switch (path) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'spec.nodeName': return pod.nodeName;
    case 'status.podIP': return pod.podIP ?? '';
    default: {
      const m = /^metadata\.labels\['(.+)'\]$/.exec(path);
      if (m !== null) return labels[m[1] ?? ''] ?? '';
      throw new Error(`fieldRef ${path} is not one this check knows; add it`);
    }
  }
}

/** The invocation of the named container (or the only one) of a workload object. */
export function containerInvocation(obj: KubeObject, pod: PodFacts, containerName?: string): ContainerInvocation {
  const { labels, spec } = podTemplateOf(obj);
  const containers = Array.isArray(spec['containers']) ? spec['containers'].filter(isMap) : [];
  const c = containerName === undefined ? (containers.length === 1 ? containers[0] : undefined) : containers.find((x) => x['name'] === containerName);
  if (c === undefined) throw new Error(`${obj.kind} ${obj.metadata.name}: no container ${containerName ?? '(exactly one expected)'}`);
  const where = `${obj.kind} ${obj.metadata.name} container ${String(c['name'])}`;
  const env: Record<string, string> = {};
  for (const e of Array.isArray(c['env']) ? c['env'].filter(isMap) : []) {
    const name = e['name'];
    if (typeof name !== 'string') throw new Error(`${where}: an env entry without a name`);
    if (typeof e['value'] === 'string') env[name] = e['value'];
    else if (e['value'] !== undefined) throw new Error(`${where}: env ${name} must be a string (quote it), got ${JSON.stringify(e['value'])}`);
    else if (isMap(e['valueFrom']) && isMap(e['valueFrom']['fieldRef']) && typeof e['valueFrom']['fieldRef']['fieldPath'] === 'string') {
      env[name] = fieldRef(e['valueFrom']['fieldRef']['fieldPath'], pod, labels);
    } else if (e['valueFrom'] !== undefined) {
      throw new Error(`${where}: env ${name} comes from a source this check does not resolve`);
    } else {
      env[name] = '';
    }
  }
  const volumes = new Map<string, Record<string, unknown>>();
  for (const v of Array.isArray(spec['volumes']) ? spec['volumes'].filter(isMap) : []) if (typeof v['name'] === 'string') volumes.set(v['name'], v);
  const mounts: ContainerMount[] = [];
  for (const m of Array.isArray(c['volumeMounts']) ? c['volumeMounts'].filter(isMap) : []) {
    const volume = typeof m['name'] === 'string' ? volumes.get(m['name']) : undefined;
    if (volume === undefined) throw new Error(`${where}: volumeMount ${String(m['name'])} names no volume of the pod`);
    if (typeof m['mountPath'] !== 'string') throw new Error(`${where}: volumeMount ${String(m['name'])} without mountPath`);
    mounts.push({ mountPath: m['mountPath'], readOnly: m['readOnly'] === true, volume });
  }
  return {
    container: String(c['name']), command: strings(c['command'], `${where} command`), args: strings(c['args'], `${where} args`),
    env, mounts, spec: c, podSpec: spec, podLabels: labels,
  };
}

/** The mount a path lies under (the longest mountPath that is a prefix), or undefined. */
export function mountFor(inv: ContainerInvocation, path: string): ContainerMount | undefined {
  return inv.mounts
    .filter((m) => path === m.mountPath || path.startsWith(m.mountPath.endsWith('/') ? m.mountPath : `${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

/**
 * The same invocation as it runs outside a container: every argument and variable that names a
 * path under a mount has the mount's path replaced by the host folder standing in for the
 * volume (as the kubelet's bind mount would make them one).
 */
export function remapMounts(inv: ContainerInvocation, hostDirs: ReadonlyMap<string, string>): { args: string[]; env: Record<string, string> } {
  const remap = (s: string): string => {
    const eq = s.indexOf('=');
    const [prefix, value] = s.startsWith('--') && eq > 0 ? [s.slice(0, eq + 1), s.slice(eq + 1)] : ['', s];
    const m = mountFor(inv, value);
    const host = m === undefined ? undefined : hostDirs.get(m.mountPath);
    return host === undefined || m === undefined ? s : `${prefix}${host}${value.slice(m.mountPath.length)}`;
  };
  return { args: inv.args.map(remap), env: Object.fromEntries(Object.entries(inv.env).map(([k, v]) => [k, remap(v)])) };
}
