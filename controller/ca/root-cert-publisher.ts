// The mesh root for workloads to trust, published as Istio does: ConfigMap istio-ca-root-cert,
// key root-cert.pem, in the controller's namespace (ztunnel mounts it) and in every enrolled
// namespace (waypoints there mount it). Written by server-side apply under the controller's
// field manager, by the leader only (ClusterWriters owns the instance). A namespace is applied
// once per trust bundle; a failed apply is retried with backoff. The ConfigMaps are watched: one
// deleted, or edited to hold anything but the bundle, is put back, with a doubling delay when
// someone keeps changing it, so two writers never fight in a tight loop. When the bundle changes
// (cacerts rotated) every namespace is applied again.
// Which namespaces: Istio writes the ConfigMap to every namespace but the system ones, since any
// sidecar may mount it. In ambient mode only ztunnel and waypoints mount it, so weft writes the
// root namespace and enrolled ones. A namespace that leaves the mesh keeps its last copy (pods
// there that mount it still start) but it is no longer repaired or updated.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '#core/errors.ts';
import { ObjectWatch } from '#controller/ca/object-watch.ts';
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
    data: { [ROOT_CERT_KEY]: rootBundle(rootsPem) },
  };
}

/** The roots as one PEM bundle, each ending in a newline. */
export function rootBundle(rootsPem: readonly string[]): string {
  return rootsPem.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

export interface RootCertPublisherOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  rootNamespace: string;
  /** The trust bundle now: it changes when the plug-in CA is rotated (then call refresh()). */
  rootsPem: () => readonly string[];
  retry?: { initialMs: number; maxMs: number };
  /** Watch the ConfigMaps and put back any deleted or edited one (default true). */
  repair?: boolean;
}

export class RootCertPublisher {
  readonly #api: CoreV1Api;
  readonly #o: RootCertPublisherOptions;
  readonly #log: Logger;
  readonly #retry: { initialMs: number; maxMs: number };
  /** Namespace → the bundle its ConfigMap was last applied with. */
  readonly #applied = new Map<string, string>();
  /** Namespaces whose ConfigMap someone else deleted or changed, until it is put back. */
  readonly #repairing = new Set<string>();
  readonly #watch: ObjectWatch | undefined;
  #wanted: string[] = [];
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Repairs in a row, each within the longest delay of the one before: their delay doubles. */
  #repairs = 0;
  #lastRepairAt = 0;
  #repairTimer: NodeJS.Timeout | undefined;
  #restored = 0;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: RootCertPublisherOptions) {
    this.#o = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = options.logger.child({ component: 'root-cert-publisher' });
    this.#retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
    this.#watch = options.repair === false ? undefined : new ObjectWatch({
      kubeConfig: options.kubeConfig, logger: options.logger, path: '/api/v1/configmaps', name: ROOT_CERT_CONFIGMAP, backoff: this.#retry,
      onEvent: (type, cm) => this.#observed(type, cm.metadata?.namespace ?? '', (cm as { data?: Record<string, string> }).data?.[ROOT_CERT_KEY]),
    });
  }

  /** Publishes to the namespaces the cluster shows now; resolves when this pass is over (never rejects). */
  sync(namespaces: ClusterObjects['namespaces']): Promise<void> {
    this.#wanted = rootCertNamespaces(namespaces, this.#o.rootNamespace);
    // A namespace deleted and created again needs the ConfigMap again.
    for (const ns of this.#applied.keys()) if (!this.#wanted.includes(ns)) this.#applied.delete(ns);
    this.#watch?.start();
    return this.#queuePass();
  }

  /** Applies the current bundle wherever an older one was applied (after a CA rotation). */
  refresh(): Promise<void> {
    return this.#queuePass();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#repairTimer);
    this.#watch?.stop();
    await this.#running;
  }

  /** Namespaces holding the current bundle (for the admin view and tests). */
  published(): string[] {
    const bundle = this.#bundle();
    return [...this.#applied].filter(([, b]) => b === bundle).map(([ns]) => ns).sort();
  }

  /** ConfigMaps put back after someone deleted or changed them. */
  get restored(): number {
    return this.#restored;
  }

  #bundle(): string {
    return rootBundle(this.#o.rootsPem());
  }

  #queuePass(): Promise<void> {
    this.#running = this.#running.then(() => this.#pass());
    return this.#running;
  }

  /** A ConfigMap seen by the watch: one of ours that no longer holds what was applied is put back. */
  #observed(type: 'ADDED' | 'MODIFIED' | 'DELETED', namespace: string, data: string | undefined): void {
    const applied = this.#applied.get(namespace);
    if (this.#stopped || applied === undefined || !this.#wanted.includes(namespace)) return;
    if (type !== 'DELETED' && data === applied) return;
    this.#applied.delete(namespace);
    this.#repairing.add(namespace);
    this.#log.warn('root certificate ConfigMap changed by someone else; restoring it', { namespace, configMap: ROOT_CERT_CONFIGMAP, event: type });
    if (this.#repairTimer !== undefined) return;
    const now = Date.now();
    if (now - this.#lastRepairAt > this.#retry.maxMs * 2) this.#repairs = 0;
    const delay = this.#repairs === 0 ? 0 : Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** Math.min(this.#repairs - 1, 20));
    this.#repairs++;
    this.#repairTimer = setTimeout(() => {
      this.#repairTimer = undefined;
      this.#lastRepairAt = Date.now();
      void this.#queuePass();
    }, delay);
    this.#repairTimer.unref();
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    const failed: string[] = [];
    const rootsPem = this.#o.rootsPem();
    const bundle = this.#bundle();
    for (const namespace of this.#wanted) {
      if (this.#applied.get(namespace) === bundle || this.#stopped) continue;
      const repair = this.#repairing.delete(namespace);
      try {
        await this.#api.patchNamespacedConfigMap(
          { namespace, name: ROOT_CERT_CONFIGMAP, body: rootCertConfigMap(namespace, rootsPem), fieldManager: FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        );
        this.#applied.set(namespace, bundle);
        if (repair) this.#restored++;
        this.#log.info(repair ? 'root certificate restored' : 'root certificate published', { namespace, configMap: ROOT_CERT_CONFIGMAP, roots: rootsPem.length });
      } catch (err) {
        failed.push(namespace);
        if (repair) this.#repairing.add(namespace);
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
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** Math.min(this.#failures - 1, 20));
    this.#timer = setTimeout(() => void this.#queuePass(), delay);
    this.#timer.unref();
  }
}
