// Enrollment driven by config: pods of this node that speak HBONE get capture rules and
// their three listeners; pods that leave lose them. Pods already captured (a ztunnel
// restart) are adopted as they are. Reconciles run one at a time; a pod whose namespace
// cannot be found yet stays pending and is retried. A pod whose namespace vanishes under it
// is unenrolled, and comes back only once its config changes: another pod may hold its
// address by then, and must not be captured under the old pod's identity.
import { stat } from 'node:fs/promises';
import { errorMessage } from '#core/errors.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import type { Logger } from '#core/log.ts';
import type { EnrolledPod } from '#ztunnel/proxy/inputs.ts';
import type { PodListeners } from '#ztunnel/proxy/pod-listeners.ts';
import { enrollmentTargets, netnsVanished, planEnrollment, sameTarget, type EnrollTarget } from '#ztunnel/enroll/plan.ts';
import type { ProxyState } from '#ztunnel/state/proxy-state.ts';

export interface CaptureOps {
  installCapture(netnsPath: string): Promise<void>;
  removeCapture(netnsPath: string): Promise<void>;
  captureInstalled(netnsPath: string): Promise<boolean>;
  findNetnsByAddress(ip: string): Promise<string | undefined>;
}

export interface EnrollerOptions {
  node: string;
  state: ProxyState;
  capture: CaptureOps;
  openListeners(pod: EnrolledPod): Promise<PodListeners>;
  logger: Logger;
  /** Retry period for pending pods (1 s). */
  retryMs?: number;
  /** Pool settings for each pod's outbound HBONE sessions. */
  connectTimeoutMs?: number;
  /** Called when a pod leaves, e.g. to let its certificate go. */
  onUnenrolled?(pod: EnrolledPod): void;
  /** Identifies the namespace a path names now (inode; undefined when gone). */
  netnsId?(netnsPath: string): Promise<number | undefined>;
}

async function inodeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

interface Entry {
  target: EnrollTarget;
  pod: EnrolledPod;
  listeners: PodListeners;
  adopted: boolean;
  netnsId: number | undefined;
}

export interface EnrolledPodInfo {
  uid: string;
  ip: string;
  identity: string;
  netnsPath: string;
  adopted: boolean;
}

export class Enroller {
  readonly #o: EnrollerOptions;
  readonly #log: Logger;
  readonly #pods = new Map<string, Entry>();
  readonly #byIp = new Map<string, Entry>();
  readonly #pending = new Map<string, { target: EnrollTarget; reason: string }>();
  /** Pods whose namespace vanished, held back until their config changes. */
  readonly #vanished = new Map<string, EnrollTarget>();
  #chain: Promise<void> = Promise.resolve();
  #again = false;
  #running = false;
  #retry: NodeJS.Timeout | undefined;
  #off: (() => void) | undefined;
  #closed = false;
  #settledVersion: string | undefined;

  constructor(opts: EnrollerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'enroll', node: opts.node });
  }

  /** Subscribes to config and runs a first reconcile; resolves when it is done. */
  async start(): Promise<void> {
    this.#off = this.#o.state.onChange(() => this.#schedule());
    // Also the period at which enrolled pods' namespaces are checked.
    this.#retry = setInterval(() => { if (this.#pending.size > 0 || this.#pods.size > 0) this.#schedule(); }, this.#o.retryMs ?? 1000);
    this.#retry.unref();
    this.#schedule();
    await this.settled();
  }

  /** Resolves once no reconcile is running or queued. */
  async settled(): Promise<void> {
    while (this.#running || this.#again) await this.#chain;
    await this.#chain;
  }

  /** The config version the last finished reconcile acted on (pods pending a retry included). */
  get settledVersion(): string | undefined { return this.#settledVersion; }

  podByAddress(ip: string): EnrolledPod | undefined { return this.#byIp.get(ip)?.pod; }

  pods(): EnrolledPodInfo[] {
    return [...this.#pods.values()].map((e) => ({ uid: e.pod.uid, ip: e.pod.ip, identity: e.pod.identity, netnsPath: e.pod.netnsPath, adopted: e.adopted }));
  }

  pending(): { uid: string; ip: string; reason: string }[] {
    const vanished = [...this.#vanished.values()].map((t) => ({ uid: t.uid, ip: t.ip, reason: 'network namespace vanished; waiting for its config to change' }));
    return [...this.#pending.values()].map((p) => ({ uid: p.target.uid, ip: p.target.ip, reason: p.reason })).concat(vanished);
  }

  /** Outbound HBONE sessions and streams over every enrolled pod's pool. */
  hbonePool(): { sessions: number; streams: number } {
    const sum = { sessions: 0, streams: 0 };
    for (const e of this.#pods.values()) {
      const s = e.pod.pool.stats();
      sum.sessions += s.sessions;
      sum.streams += s.streams;
    }
    return sum;
  }

  /** Stops reacting to config, closes every pod's listeners and pool; optionally removes capture too. */
  async close(opts: { removeCapture?: boolean } = {}): Promise<void> {
    this.#closed = true;
    this.#off?.();
    clearInterval(this.#retry);
    await this.settled();
    for (const uid of [...this.#pods.keys()]) await this.#unenroll(uid, opts.removeCapture ?? false);
  }

  #schedule(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#chain = (async () => {
      try {
        do {
          this.#again = false;
          await this.#reconcile();
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = false;
      }
    })();
  }

  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    const version = this.#o.state.version;
    await this.#dropVanished();
    const desired = enrollmentTargets(this.#o.state.workloads(), this.#o.node);
    for (const [uid, t] of this.#vanished) {
      const want = desired.get(uid);
      if (want === undefined || !sameTarget(want, t)) this.#vanished.delete(uid);
      else desired.delete(uid);
    }
    const current = new Map([...this.#pods].map(([uid, e]) => [uid, e.target]));
    const plan = planEnrollment(current, desired);
    for (const uid of this.#pending.keys()) if (!desired.has(uid)) this.#pending.delete(uid);
    for (const uid of plan.unenroll) await this.#unenroll(uid, true);
    for (const t of plan.enroll) {
      if (this.#closed) return;
      try {
        await this.#enroll(t);
        this.#pending.delete(t.uid);
      } catch (err) {
        const reason = errorMessage(err);
        if (this.#pending.get(t.uid)?.reason !== reason) this.#log.warn('pod not enrolled yet; will retry', { uid: t.uid, ip: t.ip, reason });
        this.#pending.set(t.uid, { target: t, reason });
      }
    }
    this.#settledVersion = version;
  }

  async #enroll(t: EnrollTarget): Promise<void> {
    const c = this.#o.capture;
    const netnsPath = await c.findNetnsByAddress(t.ip);
    if (netnsPath === undefined) throw new Error(`no network namespace holds ${t.ip} yet`);
    const netnsId = await (this.#o.netnsId ?? inodeOf)(netnsPath);
    const pool = new HbonePool({ logger: this.#log.child({ pod: t.ip }), ...(this.#o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.#o.connectTimeoutMs }) });
    const pod: EnrolledPod = { uid: t.uid, ip: t.ip, netnsPath, identity: t.identity, pool };
    let listeners: PodListeners;
    try {
      // Listeners first: once capture is in place, the pod's next connection needs them.
      listeners = await this.#o.openListeners(pod);
    } catch (err) {
      await pool.close(0);
      throw err;
    }
    let adopted: boolean;
    try {
      adopted = await c.captureInstalled(netnsPath);
      if (!adopted) await c.installCapture(netnsPath);
    } catch (err) {
      await listeners.close();
      await pool.close(0);
      throw err;
    }
    const entry: Entry = { target: t, pod, listeners, adopted, netnsId };
    this.#pods.set(t.uid, entry);
    this.#byIp.set(t.ip, entry);
    this.#log.info(adopted ? 'pod adopted (capture already in place)' : 'pod enrolled', { uid: t.uid, ip: t.ip, identity: t.identity, netnsPath });
  }

  /** Unenrolls pods whose namespace is gone; they wait in #vanished for a config change. */
  async #dropVanished(): Promise<void> {
    for (const [uid, e] of [...this.#pods]) {
      const now = await (this.#o.netnsId ?? inodeOf)(e.pod.netnsPath);
      if (!netnsVanished(e.netnsId, now)) continue;
      this.#log.warn('pod network namespace vanished; unenrolling it', { uid, ip: e.pod.ip, netnsPath: e.pod.netnsPath });
      this.#vanished.set(uid, e.target);
      await this.#unenroll(uid, false);
    }
  }

  async #unenroll(uid: string, removeCapture: boolean): Promise<void> {
    const e = this.#pods.get(uid);
    if (e === undefined) return;
    this.#pods.delete(uid);
    if (this.#byIp.get(e.pod.ip) === e) this.#byIp.delete(e.pod.ip);
    if (removeCapture) {
      // Rules go before listeners, so nothing is captured towards closed ports.
      await this.#o.capture.removeCapture(e.pod.netnsPath).catch((err: unknown) => {
        this.#log.debug('capture removal failed (namespace gone?)', { uid, err: errorMessage(err) });
      });
    }
    await e.listeners.close();
    await e.pod.pool.close(0);
    this.#o.onUnenrolled?.(e.pod);
    this.#log.info('pod unenrolled', { uid, ip: e.pod.ip });
  }
}
