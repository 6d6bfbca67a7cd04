// The first connection of a new pod: pods are created one after another in an enrolled
// namespace, and each opens one connection the moment the embedded cluster hands it over
// (its capture is in place, as after Istio's CNI plugin; its config and certificate may not
// be at the ztunnel yet). Each is timed from the start of pod creation to its first echo
// through the mesh; a pod whose one connection fails is counted, not retried.
import type { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { echoExchange } from '#bench/node/echo-exchange.ts';

export interface FreshPodResult {
  pod: string;
  /** Pod creation, capture included (addPod). */
  createMs: number;
  /** From creation done to the echo (the connection's hold in the ztunnel is in here). */
  connectMs: number;
  totalMs: number;
  error?: string;
}

export interface FreshPodsOptions {
  namespace: string;
  count: number;
  node: string;
  target: { host: string; port: number };
  /** Budget of the one exchange; a hold longer than this counts as a failure. */
  timeoutMs: number;
  /** Pod name prefix, `fresh` by default. */
  prefix?: string;
}

export async function measureFreshPods(mesh: LocalMesh, o: FreshPodsOptions, onPod?: (r: FreshPodResult) => void): Promise<FreshPodResult[]> {
  const results: FreshPodResult[] = [];
  for (let i = 0; i < o.count; i++) {
    const name = `${o.prefix ?? 'fresh'}-${i}`;
    const started = performance.now();
    const pod: LocalPod = await mesh.cluster.addPod({ namespace: o.namespace, name, node: o.node, serviceAccount: name, labels: { app: name } });
    const created = performance.now();
    let r: FreshPodResult;
    try {
      await echoExchange(pod, o.target.host, o.target.port, o.timeoutMs);
      const done = performance.now();
      r = { pod: name, createMs: created - started, connectMs: done - created, totalMs: done - started };
    } catch (err) {
      const done = performance.now();
      const code = (err as NodeJS.ErrnoException).code;
      r = { pod: name, createMs: created - started, connectMs: done - created, totalMs: done - started, error: code ?? (err as Error).message };
    }
    results.push(r);
    onPod?.(r);
  }
  return results;
}
