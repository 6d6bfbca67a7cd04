// Leader election among controller replicas on a coordination.k8s.io/v1 Lease, the way
// client-go's leaderelection does it: each replica tries every retry period to create the Lease
// or take it over once it has expired (judged on its own clock, see decide.ts), the holder
// renews it, and every write is a replace carrying the resourceVersion it read, so of two
// replicas racing for it exactly one wins (the other gets 409 Conflict). A leader that has not
// renewed within the renew deadline steps down before any follower may take over; on a clean
// stop it releases the Lease (empty holder) so a follower takes over on its next try.
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { decideLease } from '#controller/leader/decide.ts';
import type { LeaseRecord, LeaseTimings } from '#controller/leader/decide.ts';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Lease's name (the chart's controller.leaderElection.leaseName). */
  name: string;
  /** This replica, as the Lease names its holder: the pod name. */
  identity: string;
  timings: LeaseTimings;
  logger: Logger;
  now?: () => number;
}

export class LeaderElector {
  readonly #api: CoordinationV1Api;
  readonly #o: LeaderElectorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<(leading: boolean) => void>();
  #leading = false;
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #stopped = false;
  #lastError = '';

  constructor(options: LeaderElectorOptions) {
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#o = options;
    this.#log = options.logger.child({ component: 'leader-election', lease: `${options.namespace}/${options.name}`, identity: options.identity });
    this.#now = options.now ?? Date.now;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** The holder as last read ('' when released, undefined before the first read). */
  get holder(): string | undefined {
    return this.#observed?.holder;
  }

  /** Hears every change of leadership; called synchronously, in order. */
  onChange(listener: (leading: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#stopped || this.#attempt !== undefined || this.#timer !== undefined) return;
    this.#run();
  }

  /** Stops trying; a leader releases the Lease first so a follower need not wait for it to expire. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#attempt;
    if (!this.#leading) return;
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace });
      if (lease.spec?.holderIdentity === this.#o.identity) {
        const now = new V1MicroTime(this.#now());
        await this.#api.replaceNamespacedLease({
          name: this.#o.name, namespace: this.#o.namespace,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now } },
        });
        this.#log.info('lease released');
      }
    } catch (err) {
      this.#log.warn('releasing the lease failed; a follower takes over when it expires', { err: errorMessage(err) });
    } finally {
      this.#setLeading(false, 'stopping');
    }
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#attempt = this.#tryAcquireOrRenew().catch((err: unknown) => {
      const message = errorMessage(err);
      // One line per kind of failure, not one per retry period.
      if (message !== this.#lastError) this.#log.warn('lease request failed; retrying', { err: message, code: codeOf(err), retryInMs: this.#o.timings.retryPeriodMs });
      this.#lastError = message;
    }).finally(() => {
      this.#attempt = undefined;
      if (this.#stopped) return;
      // Followers spread their tries so replicas started together do not collide every time.
      const jitter = this.#leading ? 1 : 1 + Math.random() * 0.2;
      this.#timer = setTimeout(() => this.#run(), Math.round(this.#o.timings.retryPeriodMs * jitter));
    });
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const { name, namespace, identity } = this.#o;
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (codeOf(err) !== 404) throw err;
    }
    const now = this.#now();
    const record = lease === undefined ? undefined : recordOf(lease);
    if (record === undefined || this.#observed === undefined || record.holder !== this.#observed.holder || record.renewTime !== this.#observed.renewTime) {
      this.#observed = record;
      this.#observedAt = now;
    }
    const decision = decideLease({ record, observedAtMs: this.#observedAt, nowMs: now, identity, leaseDurationMs: this.#o.timings.leaseDurationMs });
    if (decision.action === 'wait') {
      // Someone else holds a live lease: whatever this replica believed, it does not lead.
      if (this.#leading) this.#setLeading(false, `lease held by ${decision.holder}`);
      return;
    }
    const stamp = new V1MicroTime(now);
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.timings.leaseDurationMs / 1000)),
      renewTime: stamp,
      acquireTime: decision.action === 'renew' && lease?.spec?.acquireTime !== undefined ? lease.spec.acquireTime : stamp,
      leaseTransitions: (record?.transitions ?? 0) + (decision.action === 'acquire' ? 1 : 0),
    };
    try {
      if (decision.action === 'create' || lease === undefined) {
        await this.#api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } });
      } else {
        await this.#api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, ...spec } } });
      }
    } catch (err) {
      // Another replica wrote first: it leads (or renewed); read again next period.
      if (codeOf(err) === 409) {
        if (this.#leading) this.#setLeading(false, 'lost the lease to another replica');
        return;
      }
      throw err;
    }
    this.#observed = { holder: identity, renewTime: stamp.toISOString(), transitions: spec.leaseTransitions };
    this.#observedAt = now;
    this.#lastError = '';
    this.#renewed(decision.action === 'acquire' ? `took over from ${decision.previous === '' ? 'a released lease' : decision.previous} (${decision.reason})` : decision.action === 'create' ? 'created the lease' : 'renewed');
  }

  #renewed(how: string): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#setLeading(false, `could not renew within ${this.#o.timings.renewDeadlineMs} ms`), this.#o.timings.renewDeadlineMs);
    this.#deadline.unref();
    if (!this.#leading) this.#setLeading(true, how);
  }

  #setLeading(leading: boolean, why: string): void {
    if (!leading) clearTimeout(this.#deadline);
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.#log.info(leading ? 'became leader' : 'stopped leading', { why });
    for (const l of this.#listeners) {
      try {
        l(leading);
      } catch (err) {
        this.#log.error('leadership listener failed', { err: errorMessage(err) });
      }
    }
  }
}

function recordOf(lease: V1Lease): LeaseRecord {
  const s = lease.spec ?? {};
  const t: unknown = s.renewTime;
  return {
    holder: s.holderIdentity ?? '',
    // The client hands MicroTime back as the string it read.
    renewTime: typeof t === 'string' ? t : t instanceof Date ? t.toISOString() : '',
    transitions: s.leaseTransitions ?? 0,
  };
}

function codeOf(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}
