// The mesh root for workloads to trust, published as Istio does: ConfigMap istio-ca-root-cert,
// key root-cert.pem, in the controller's namespace (ztunnel mounts it) and in every enrolled
// namespace (waypoints there mount it). Written by server-side apply under the controller's
// field manager, by the leader only (ClusterWriters owns the instance). A namespace is applied
// once per root; a failed apply is retried with backoff, and leaving a namespace alone when it
// is unenrolled keeps pods that mount the ConfigMap startable.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { Labels } from '#controller/model/labels.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import { FIELD_MANAGER } from '#controller/status/kubernetes-writer.ts';

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';

/** Where the root goes: the controller's namespace and every namespace enrolled in ambient mode. */
export function rootCertNamespaces(namespaces: ClusterObjects['namespaces'], rootNamespace: string): string[] {
  const out = new Set([rootNamespace]);
  for (const ns of namespaces.values()) {
    if (ns.metadata.labels[Labels.dataplaneMode] === 'ambient') out.add(ns.metadata.name);
  }
  return [...out].sort();
}

/** The applied configuration for one namespace. */
export function rootCertConfigMap(namespace: string, rootsPem: readonly string[]): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/part-of': 'weft', 'istio.io/config': 'true' } },
    data: { [ROOT_CERT_KEY]: rootsPem.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('') },
  };
}

export interface RootCertPublisherOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  rootNamespace: string;
  rootsPem: readonly string[];
  retry?: { initialMs: number; maxMs: number };
}

export class RootCertPublisher {
  readonly #api: CoreV1Api;
  readonly #o: RootCertPublisherOptions;
  readonly #log: Logger;
  /** Namespaces whose ConfigMap holds the current root. */
  readonly #done = new Set<string>();
  #wanted: string[] = [];
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: RootCertPublisherOptions) {
    this.#o = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = options.logger.child({ component: 'root-cert-publisher' });
  }

  /** Publishes to the namespaces the cluster shows now; resolves when this pass is over (never rejects). */
  sync(namespaces: ClusterObjects['namespaces']): Promise<void> {
    this.#wanted = rootCertNamespaces(namespaces, this.#o.rootNamespace);
    // A namespace deleted and created again needs the ConfigMap again.
    for (const ns of this.#done) if (!this.#wanted.includes(ns)) this.#done.delete(ns);
    this.#running = this.#running.then(() => this.#pass());
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Namespaces published so far (for the admin view and tests). */
  published(): string[] {
    return [...this.#done].sort();
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    const failed: string[] = [];
    for (const namespace of this.#wanted) {
      if (this.#done.has(namespace) || this.#stopped) continue;
      try {
        await this.#api.patchNamespacedConfigMap(
          { namespace, name: ROOT_CERT_CONFIGMAP, body: rootCertConfigMap(namespace, this.#o.rootsPem), fieldManager: FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        );
        this.#done.add(namespace);
        this.#log.info('root certificate published', { namespace, configMap: ROOT_CERT_CONFIGMAP });
      } catch (err) {
        failed.push(namespace);
        this.#log.warn('publishing the root certificate failed; will retry', {
          namespace, err: errorMessage(err), hint: 'the controller needs create and patch on configmaps (the chart\'s ClusterRole weft-controller)',
        });
      }
    }
    clearTimeout(this.#timer);
    if (failed.length === 0) {
      this.#failures = 0;
      return;
    }
    this.#failures++;
    const retry = this.#o.retry ?? { initialMs: 1000, maxMs: 60_000 };
    const delay = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(this.#failures - 1, 20));
    this.#timer = setTimeout(() => {
      this.#running = this.#running.then(() => this.#pass());
    }, delay);
    this.#timer.unref();
  }
}
