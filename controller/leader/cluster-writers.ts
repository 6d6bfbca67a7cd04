// Everything the controller writes to the Kubernetes API — status conditions (the status
// writer), each waypoint's objects (the deployer) and the root certificate's ConfigMaps (the
// publisher) — switched on and off by leadership. With leader election the Lease's holder
// alone writes: it gets a fresh deployer, status writer and publisher each time it becomes
// leader (they start from what the cluster shows, so nothing carries over from a previous
// term), and stops them before it lets the Lease go. Without election, this replica writes
// from the start. Reading the cluster, push and CA are not here: every replica serves those.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '#core/log.ts';
import { KubernetesDeployer } from '#controller/deploy/kubernetes-deployer.ts';
import type { KubernetesDeployerOptions } from '#controller/deploy/kubernetes-deployer.ts';
import { RootCertPublisher } from '#controller/ca/root-cert-publisher.ts';
import type { RootCertPublisherOptions } from '#controller/ca/root-cert-publisher.ts';
import { LeaderElector } from '#controller/leader/lease-elector.ts';
import type { LeaderElectorOptions } from '#controller/leader/lease-elector.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import { KubernetesStatusWriter } from '#controller/status/kubernetes-writer.ts';
import type { KubernetesStatusWriterOptions } from '#controller/status/kubernetes-writer.ts';
import type { StatusStore } from '#controller/status/store.ts';

type Shared = 'kubeConfig' | 'status' | 'logger';
/** What the writers act on; namespaces only matter when the root certificate is published. */
type Synced = Pick<ClusterObjects, 'gateways' | 'services'> & Partial<Pick<ClusterObjects, 'namespaces'>>;

export interface ClusterWritersOptions {
  kubeConfig: KubeConfig;
  status: StatusStore;
  logger: Logger;
  deployer: Omit<KubernetesDeployerOptions, Shared>;
  writer: Omit<KubernetesStatusWriterOptions, Shared>;
  /** Publish the mesh root as ConfigMap istio-ca-root-cert; undefined: not published. */
  rootCert?: Omit<RootCertPublisherOptions, 'kubeConfig' | 'logger'>;
  /** Elect a leader on this Lease; undefined: this replica writes unconditionally. */
  election: Omit<LeaderElectorOptions, 'kubeConfig' | 'logger'> | undefined;
}

export class ClusterWriters {
  readonly #o: ClusterWritersOptions;
  readonly #log: Logger;
  readonly #elector: LeaderElector | undefined;
  #deployer: KubernetesDeployer | undefined;
  #writer: KubernetesStatusWriter | undefined;
  #publisher: RootCertPublisher | undefined;
  #objects: Synced | undefined;
  #handover: Promise<void> = Promise.resolve();
  /** Whether this replica should be writing (the latest word from the election). */
  #want = false;
  #started = false;
  #stopped = false;

  constructor(options: ClusterWritersOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'cluster-writers' });
    this.#elector = options.election === undefined ? undefined : new LeaderElector({ ...options.election, kubeConfig: options.kubeConfig, logger: options.logger });
    // Without election the deployer works from the first model on, as a single controller always has.
    if (this.#elector === undefined) {
      this.#want = true;
      this.#deployer = this.#newDeployer();
      this.#publisher = this.#newPublisher();
    }
  }

  /** True while this replica writes to the cluster. */
  get writing(): boolean {
    return this.#deployer !== undefined;
  }

  /** The Lease holder as last read (this replica's identity when it leads; undefined without election). */
  get leader(): string | undefined {
    return this.#elector?.holder;
  }

  /** The cluster as the source sees it now; the deployer (when this replica writes) applies it. */
  sync(objects: Synced): Promise<void> {
    this.#objects = objects;
    // Not awaited: a start with many enrolled namespaces must not wait for every ConfigMap.
    if (objects.namespaces !== undefined) void this.#publisher?.sync(objects.namespaces);
    return this.#deployer?.sync(objects) ?? Promise.resolve();
  }

  /** The trust bundle changed (the plug-in CA was rotated): the publisher, if this replica writes, applies it everywhere. */
  rootsChanged(): void {
    void this.#publisher?.refresh();
  }

  /** Starts status writing (without election) or the election (with it). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    if (this.#elector === undefined) {
      this.#writer = this.#newWriter();
      this.#writer.start();
      return;
    }
    this.#elector.onChange((leading) => {
      if (leading) this.#lead();
      else this.#follow();
    });
    this.#elector.start();
  }

  /** Stops writing, then leaves the election (releasing the Lease when leading). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#follow();
    await this.#handover;
    await this.#elector?.stop();
    await this.#handover;
  }

  #lead(): void {
    this.#want = true;
    this.#handover = this.#handover.then(() => this.#settle());
  }

  #follow(): void {
    this.#want = false;
    this.#handover = this.#handover.then(() => this.#settle());
  }

  /** Brings the writers in line with the latest wish; steps run one at a time, in order. */
  async #settle(): Promise<void> {
    if (this.#want && !this.#stopped) {
      if (this.#deployer !== undefined) return;
      this.#log.info('leading: writing status and deploying waypoints');
      this.#deployer = this.#newDeployer();
      this.#writer = this.#newWriter();
      this.#writer.start();
      this.#publisher = this.#newPublisher();
      // The deployer and the publisher never reject; the writer reads the status store itself.
      if (this.#objects !== undefined) {
        void this.#deployer.sync(this.#objects);
        if (this.#objects.namespaces !== undefined) void this.#publisher?.sync(this.#objects.namespaces);
      }
      return;
    }
    const deployer = this.#deployer;
    const writer = this.#writer;
    const publisher = this.#publisher;
    this.#deployer = undefined;
    this.#writer = undefined;
    this.#publisher = undefined;
    if (deployer === undefined && writer === undefined && publisher === undefined) return;
    await Promise.all([deployer?.stop(), writer?.stop(), publisher?.stop()]);
    if (!this.#stopped) this.#log.info('following: status, waypoints and the root certificate are the leader\'s to write');
  }

  #newDeployer(): KubernetesDeployer {
    return new KubernetesDeployer({ ...this.#o.deployer, kubeConfig: this.#o.kubeConfig, status: this.#o.status, logger: this.#o.logger });
  }

  #newPublisher(): RootCertPublisher | undefined {
    const o = this.#o.rootCert;
    return o === undefined ? undefined : new RootCertPublisher({ ...o, kubeConfig: this.#o.kubeConfig, logger: this.#o.logger });
  }

  #newWriter(): KubernetesStatusWriter {
    return new KubernetesStatusWriter({ ...this.#o.writer, kubeConfig: this.#o.kubeConfig, status: this.#o.status, logger: this.#o.logger });
  }
}
