// Enrollment driven by config and, where the node reports its pods itself, by the node too.
// Pods of this node that speak HBONE get capture rules and their three listeners; pods that
// leave lose them. Pods already captured (a ztunnel restart) are adopted as they are. A pod
// the node reports (a CNI plugin's ADD, the embedded cluster's addPod) that the config does
// not list yet is captured at once and held: its listeners reset (or, outbound, hold) every
// connection until its config arrives, so it never takes traffic outside the mesh. Reconciles run one at a
// time; a pod whose namespace cannot be found yet stays pending and is retried. A pod whose
// namespace vanishes under it is unenrolled, and comes back only once its config (or its
// node record) changes: another pod may hold its address by then, and must not be captured
// under the old pod's identity. With a capture ledger, every namespace given capture is
// recorded; once config has arrived, recorded pods that are neither wanted nor served (they
// left while ztunnel was down) have their capture swept.
import { stat } from 'node:fs/promises';
import { errorMessage } from '#core/errors.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import type { Logger } from '#core/log.ts';
import type { EnrolledPod } from '#ztunnel/proxy/inputs.ts';
import type { PodListeners } from '#ztunnel/proxy/pod-listeners.ts';
import { enrollmentTargets, netnsVanished, planEnrollment, sameTarget, type EnrollTarget } from '#ztunnel/enroll/plan.ts';
import {
  ackFor, planNodeCapture, sameHold, type CaptureAck, type HoldTarget, type NodePod,
} from '#ztunnel/enroll/node-pods.ts';
import type { CaptureLedger } from '#ztunnel/enroll/ledger.ts';
import { planSweep } from '#ztunnel/enroll/sweep.ts';
import type { ProxyState } from '#ztunnel/state/proxy-state.ts';

export interface CaptureOps {
  installCapture(netnsPath: string): Promise<void>;
  removeCapture(netnsPath: string): Promise<void>;
  captureInstalled(netnsPath: string): Promise<boolean>;
  /** The pod's network namespace by its UID and address (capture/find-netns.ts), or undefined. */
  findPodNetns(pod: { uid: string; ip: string }): Promise<string | undefined>;
}

/** Pods the node reports itself, ahead of (or without) the controller, and where answers go. */
export interface NodePodSource {
  pods(): readonly NodePod[];
  /** Labels of a namespace the node knows; undefined for one it does not. */
  namespaceLabels(name: string): Readonly<Record<string, string>> | undefined;
  onChange(listener: () => void): () => void;
  /** The answer for every recorded pod that has one; answers of pods not listed are dropped. */
  syncAcks(acks: readonly CaptureAck[]): Promise<void>;
}

export interface EnrollerOptions {
  node: string;
  state: ProxyState;
  capture: CaptureOps;
  openListeners(pod: EnrolledPod): Promise<PodListeners>;
  logger: Logger;
  /** Node-local enrollment; without it only the config enrolls pods. */
  nodePods?: NodePodSource;
  /** Listeners that refuse a held pod's connections (without them the kernel resets them, unseen). */
  openRefusingListeners?(pod: HoldTarget): Promise<PodListeners>;
  /** Retry period for pending pods (1 s). */
  retryMs?: number;
  /** Pool settings for each pod's outbound HBONE sessions. */
  connectTimeoutMs?: number;
  /** Called once a held pod is enrolled and its refusing listeners are closed. */
  onPromoted?(pod: EnrolledPod): void;
  /** Called when a pod leaves, e.g. to let its certificate go. */
  onUnenrolled?(pod: EnrolledPod): void;
  /** Identifies the namespace a path names now (inode; undefined when gone). */
  netnsId?(netnsPath: string): Promise<number | undefined>;
  /** Where captured namespaces are recorded across restarts; without it nothing is swept. */
  ledger?: CaptureLedger;
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

interface HeldEntry {
  target: HoldTarget;
  listeners: PodListeners | undefined;
  netnsId: number | undefined;
  since: Date;
}

export interface EnrolledPodInfo {
  uid: string;
  ip: string;
  identity: string;
  netnsPath: string;
  adopted: boolean;
}

export interface FailClosedPodInfo {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  netnsPath: string;
  /** When it was captured (ISO time). */
  since: string;
}

export class Enroller {
  readonly #o: EnrollerOptions;
  readonly #log: Logger;
  readonly #pods = new Map<string, Entry>();
  readonly #byIp = new Map<string, Entry>();
  readonly #held = new Map<string, HeldEntry>();
  readonly #pending = new Map<string, { uid: string; ip: string; reason: string }>();
  /** Pods whose namespace vanished, held back until their config changes. */
  readonly #vanished = new Map<string, EnrollTarget>();
  /** Held pods whose namespace vanished, held back until their node record changes. */
  readonly #vanishedHeld = new Map<string, HoldTarget>();
  #chain: Promise<void> = Promise.resolve();
  #again = false;
  #running = false;
  #retry: NodeJS.Timeout | undefined;
  #off: (() => void) | undefined;
  #offNode: (() => void) | undefined;
  #closed = false;
  /** Handed off: no more reconciles, pods kept as they are (see freeze). */
  #frozen = false;
  #settledVersion: string | undefined;
  #swept = 0;

  constructor(opts: EnrollerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'enroll', node: opts.node });
  }

  /** Subscribes to config (and the node's records) and runs a first reconcile; resolves when it is done. */
  async start(): Promise<void> {
    this.#off = this.#o.state.onChange(() => this.#schedule());
    this.#offNode = this.#o.nodePods?.onChange(() => this.#schedule());
    // Also the period at which enrolled and held pods' namespaces are checked.
    this.#retry = setInterval(() => {
      if (this.#pending.size > 0 || this.#pods.size > 0 || this.#held.size > 0) this.#schedule();
    }, this.#o.retryMs ?? 1000);
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

  /** Pods captured on the node's word whose config has not arrived: every connection is refused. */
  failClosed(): FailClosedPodInfo[] {
    return [...this.#held.values()].map((h) => ({
      uid: h.target.uid, namespace: h.target.namespace, name: h.target.name, ip: h.target.ip, netnsPath: h.target.netnsPath, since: h.since.toISOString(),
    }));
  }

  pending(): { uid: string; ip: string; reason: string }[] {
    const vanished = [...this.#vanished.values(), ...this.#vanishedHeld.values()].map((t) => ({ uid: t.uid, ip: t.ip, reason: 'network namespace vanished; waiting for its config to change' }));
    return [...this.#pending.values()].map((p) => ({ ...p })).concat(vanished);
  }

  /** Namespaces whose capture was swept since start (pods that left while no ztunnel ran, or after). */
  get swept(): number { return this.#swept; }

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
    this.#offNode?.();
    clearInterval(this.#retry);
    await this.settled();
    for (const uid of [...this.#pods.keys()]) await this.#unenroll(uid, opts.removeCapture ?? false);
    for (const uid of [...this.#held.keys()]) await this.#release(uid, opts.removeCapture ?? false);
  }

  /**
   * Stops acting on config and the node's records (an upgrade hand-off: the successor acts
   * now); pods keep their listeners and capture. Resolves once no reconcile runs.
   */
  async freeze(): Promise<void> {
    this.#frozen = true;
    await this.settled();
  }

  /** Acts again (the successor went away before taking over) and catches up at once. */
  unfreeze(): void {
    this.#frozen = false;
    this.#schedule();
  }

  /**
   * The end of a hand-off: every pod's listeners stop accepting, their connections and
   * outbound HBONE streams get up to drainMs to finish; capture stays for the successor.
   * onStopped runs once no pod listener accepts any more.
   */
  async drain(drainMs: number, onStopped?: () => void): Promise<void> {
    await this.freeze();
    this.#closed = true;
    this.#off?.();
    this.#offNode?.();
    clearInterval(this.#retry);
    const pods = [...this.#pods.values()];
    this.#pods.clear();
    this.#byIp.clear();
    const held = [...this.#held.values()];
    this.#held.clear();
    // Each close stops its listeners at once, before its first await.
    const closing = [
      ...pods.map(async (e) => {
        // The pool's streams belong to the listeners' connections: once those are done, it is idle.
        await e.listeners.close(drainMs);
        await e.pod.pool.close(0);
      }),
      ...held.map((h) => h.listeners?.close() ?? Promise.resolve()),
    ];
    onStopped?.();
    await Promise.all(closing);
  }

  #schedule(): void {
    if (this.#frozen) return;
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
    const workloads = this.#o.state.workloads();
    const desired = enrollmentTargets(workloads, this.#o.node);
    for (const [uid, t] of this.#vanished) {
      const want = desired.get(uid);
      if (want === undefined || !sameTarget(want, t)) this.#vanished.delete(uid);
      else desired.delete(uid);
    }
    const records = this.#o.nodePods?.pods() ?? [];
    const listed = new Set(workloads.map((w) => w.uid));
    const node = planNodeCapture(records, (ns) => this.#o.nodePods?.namespaceLabels(ns), (uid) => listed.has(uid));
    for (const [uid, t] of this.#vanishedHeld) {
      const want = node.hold.get(uid);
      if (want === undefined || !sameHold(want, t)) this.#vanishedHeld.delete(uid);
      else node.hold.delete(uid);
    }
    for (const uid of this.#pending.keys()) if (!desired.has(uid) && !node.hold.has(uid)) this.#pending.delete(uid);

    // A held pod whose config arrived keeps its capture: enrolling it adopts the rules. It is
    // released only once enrolled, so its ports are never without a listener in between.
    const promoted: string[] = [];
    for (const [uid, h] of [...this.#held]) {
      const want = node.hold.get(uid);
      if (want !== undefined && sameHold(want, h.target)) continue;
      if (want === undefined && desired.has(uid)) promoted.push(uid);
      else await this.#release(uid, !desired.has(uid));
    }
    const current = new Map([...this.#pods].map(([uid, e]) => [uid, e.target]));
    const plan = planEnrollment(current, desired);
    // A pod the config dropped that the node still reports goes on failing closed.
    for (const uid of plan.unenroll) await this.#unenroll(uid, !node.hold.has(uid));
    for (const t of plan.enroll) {
      if (this.#closed) return;
      await this.#attempt(t.uid, t.ip, () => this.#enroll(t, records));
    }
    for (const uid of promoted) {
      const e = this.#pods.get(uid);
      // Not enrolled (it failed and is pending): it stays held, its connections still refused or held.
      if (e === undefined || this.#closed) continue;
      await this.#release(uid, false);
      this.#o.onPromoted?.(e.pod);
    }
    for (const [uid, t] of node.hold) {
      if (this.#closed) return;
      if (this.#held.has(uid)) continue;
      await this.#attempt(uid, t.ip, () => this.#hold(t));
    }

    if (this.#o.nodePods !== undefined) {
      const acks: CaptureAck[] = [];
      for (const r of records) {
        const ack = ackFor(r.uid, {
          enrolled: this.#pods.has(r.uid),
          held: this.#held.has(r.uid),
          configOut: listed.has(r.uid) && !desired.has(r.uid) && !this.#vanished.has(r.uid),
          skipped: node.skip.get(r.uid),
        });
        if (ack !== undefined) acks.push(ack);
      }
      await this.#o.nodePods.syncAcks(acks);
    }
    // Without config nothing is known to have left: sweeping then would uncapture every pod.
    if (this.#o.state.hasConfig && !this.#closed) {
      await this.#sweep(new Set([...desired.keys(), ...node.hold.keys(), ...this.#vanished.keys(), ...this.#vanishedHeld.keys(), ...this.#pending.keys()]));
    }
    this.#settledVersion = version;
  }

  async #sweep(wanted: ReadonlySet<string>): Promise<void> {
    const ledger = this.#o.ledger;
    if (ledger === undefined) return;
    const keep = new Set([...wanted, ...this.#pods.keys(), ...this.#held.keys()]);
    const records = ledger.records().filter((r) => !keep.has(r.uid));
    if (records.length === 0) return;
    const inUse = new Set<number>();
    for (const e of this.#pods.values()) if (e.netnsId !== undefined) inUse.add(e.netnsId);
    for (const h of this.#held.values()) if (h.netnsId !== undefined) inUse.add(h.netnsId);
    const now = new Map<string, number | undefined>();
    for (const r of records) now.set(r.netnsPath, await this.#netnsId(r.netnsPath));
    const plan = planSweep({ records, keep, inUse, now });
    for (const r of plan.sweep) {
      await this.#removeCapture(r.uid, r.netnsPath);
      this.#swept++;
      this.#log.info('capture swept: its pod left this ztunnel (while none ran, or unseen)', { uid: r.uid, ip: r.ip, netnsPath: r.netnsPath });
    }
    for (const r of [...plan.sweep, ...plan.forget]) await this.#forget(r.uid);
  }

  async #record(uid: string, ip: string, netnsPath: string, netnsId: number | undefined): Promise<void> {
    await this.#o.ledger?.put({ uid, ip, netnsPath, netnsId }).catch((err: unknown) => {
      this.#log.warn('capture ledger write failed; a restart will not sweep this pod', { uid, err: errorMessage(err) });
    });
  }

  async #forget(uid: string): Promise<void> {
    await this.#o.ledger?.remove(uid).catch((err: unknown) => this.#log.warn('capture ledger removal failed', { uid, err: errorMessage(err) }));
  }

  /** Runs one enroll or hold; a failure leaves the pod pending with the reason, logged once. */
  async #attempt(uid: string, ip: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
      this.#pending.delete(uid);
    } catch (err) {
      const reason = errorMessage(err);
      if (this.#pending.get(uid)?.reason !== reason) this.#log.warn('pod not captured yet; will retry', { uid, ip, reason });
      this.#pending.set(uid, { uid, ip, reason });
    }
  }

  /**
   * The namespace of a config target: the node's record of the same pod when there is one
   * (no search), never a namespace the node records for another pod at that address.
   */
  async #netnsOf(t: EnrollTarget, records: readonly NodePod[]): Promise<string> {
    const own = records.find((r) => r.uid === t.uid);
    if (own !== undefined) {
      if (own.ip !== t.ip) throw new Error(`the node records pod ${t.uid} at ${own.ip} but the config at ${t.ip}`);
      return own.netnsPath;
    }
    const other = records.find((r) => r.ip === t.ip);
    if (other !== undefined) throw new Error(`${t.ip} belongs to pod ${other.namespace}/${other.name} (${other.uid}) on this node now`);
    const found = await this.#o.capture.findPodNetns({ uid: t.uid, ip: t.ip });
    if (found === undefined) throw new Error(`no network namespace holds ${t.ip} yet`);
    return found;
  }

  async #enroll(t: EnrollTarget, records: readonly NodePod[]): Promise<void> {
    const c = this.#o.capture;
    const netnsPath = await this.#netnsOf(t, records);
    const netnsId = await this.#netnsId(netnsPath);
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
    await this.#record(t.uid, t.ip, netnsPath, netnsId);
    const entry: Entry = { target: t, pod, listeners, adopted, netnsId };
    this.#pods.set(t.uid, entry);
    this.#byIp.set(t.ip, entry);
    this.#log.info(adopted ? 'pod adopted (capture already in place)' : 'pod enrolled', { uid: t.uid, ip: t.ip, identity: t.identity, netnsPath });
  }

  /** Captures a pod the config does not know yet; its listeners refuse every connection. */
  async #hold(t: HoldTarget): Promise<void> {
    const c = this.#o.capture;
    const netnsId = await this.#netnsId(t.netnsPath);
    if (netnsId === undefined) throw new Error(`network namespace ${t.netnsPath} does not exist`);
    const listeners = await this.#o.openRefusingListeners?.(t);
    try {
      if (!(await c.captureInstalled(t.netnsPath))) await c.installCapture(t.netnsPath);
    } catch (err) {
      await listeners?.close();
      throw err;
    }
    await this.#record(t.uid, t.ip, t.netnsPath, netnsId);
    this.#held.set(t.uid, { target: t, listeners, netnsId, since: new Date() });
    this.#log.info('pod captured ahead of its config; its connections fail closed until the config arrives', {
      uid: t.uid, pod: `${t.namespace}/${t.name}`, ip: t.ip, netnsPath: t.netnsPath,
    });
  }

  /** Unenrolls pods whose namespace is gone, and releases held ones; they wait for a change. */
  async #dropVanished(): Promise<void> {
    for (const [uid, e] of [...this.#pods]) {
      if (!netnsVanished(e.netnsId, await this.#netnsId(e.pod.netnsPath))) continue;
      this.#log.warn('pod network namespace vanished; unenrolling it', { uid, ip: e.pod.ip, netnsPath: e.pod.netnsPath });
      this.#vanished.set(uid, e.target);
      await this.#unenroll(uid, false);
    }
    for (const [uid, h] of [...this.#held]) {
      if (!netnsVanished(h.netnsId, await this.#netnsId(h.target.netnsPath))) continue;
      this.#log.info('held pod network namespace vanished; releasing it', { uid, ip: h.target.ip, netnsPath: h.target.netnsPath });
      this.#vanishedHeld.set(uid, h.target);
      await this.#release(uid, false);
    }
  }

  #netnsId(netnsPath: string): Promise<number | undefined> {
    return this.#o.netnsId === undefined ? inodeOf(netnsPath) : this.#o.netnsId(netnsPath);
  }

  async #removeCapture(uid: string, netnsPath: string): Promise<void> {
    try {
      await this.#o.capture.removeCapture(netnsPath);
    } catch (err) {
      this.#log.debug('capture removal failed (namespace gone?)', { uid, err: errorMessage(err) });
      return;
    }
    await this.#forget(uid);
  }

  async #unenroll(uid: string, removeCapture: boolean): Promise<void> {
    const e = this.#pods.get(uid);
    if (e === undefined) return;
    this.#pods.delete(uid);
    if (this.#byIp.get(e.pod.ip) === e) this.#byIp.delete(e.pod.ip);
    // Rules go before listeners, so nothing is captured towards closed ports.
    if (removeCapture) await this.#removeCapture(uid, e.pod.netnsPath);
    await e.listeners.close();
    await e.pod.pool.close(0);
    this.#o.onUnenrolled?.(e.pod);
    this.#log.info('pod unenrolled', { uid, ip: e.pod.ip, captureKept: !removeCapture });
  }

  async #release(uid: string, removeCapture: boolean): Promise<void> {
    const h = this.#held.get(uid);
    if (h === undefined) return;
    this.#held.delete(uid);
    if (removeCapture) await this.#removeCapture(uid, h.target.netnsPath);
    await h.listeners?.close();
    this.#log.info('held pod released', { uid, ip: h.target.ip, captureKept: !removeCapture });
  }
}
