// ztunnel's side of the node folder (node-dir.ts): takes the node (the marker), keeps the
// current pod and namespace records, tells the enroller when they change, and writes the
// acks it decides. Changes arrive through inotify; a periodic rescan covers missed events.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import type { NodePodSource } from '#ztunnel/enroll/enroller.ts';
import {
  NodeDirLayout, readNodeDir, removeAck, removeMarker, writeAck, writeMarker,
} from '#ztunnel/enroll/node-dir.ts';
import type { CaptureAck, NodeNamespace, NodePod } from '#ztunnel/enroll/node-pods.ts';

export interface NodeDirWatchOptions {
  dir: string;
  node: string;
  logger: Logger;
  /** Full rescan period (2 s). */
  rescanMs?: number;
  /** Events closer than this are read as one (15 ms). */
  debounceMs?: number;
}

export class NodeDirWatch implements NodePodSource {
  readonly #o: NodeDirWatchOptions;
  readonly #log: Logger;
  readonly #listeners = new Set<() => void>();
  readonly #watchers: FSWatcher[] = [];
  readonly #problems = new Map<string, string>();
  #pods: NodePod[] = [];
  #namespaces = new Map<string, NodeNamespace>();
  /** What each ack file holds now, as written. */
  #acks = new Map<string, string>();
  #signature = '';
  #timer: NodeJS.Timeout | undefined;
  #rescan: NodeJS.Timeout | undefined;
  #scan: Promise<void> = Promise.resolve();
  #again = false;
  #busy = false;
  #closed = false;

  private constructor(o: NodeDirWatchOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'node-dir', dir: o.dir });
  }

  /** Takes the node, reads the folder once, then follows it. */
  static async open(o: NodeDirWatchOptions): Promise<NodeDirWatch> {
    const w = new NodeDirWatch(o);
    try {
      for (const sub of [NodeDirLayout.pods, NodeDirLayout.namespaces, NodeDirLayout.acks]) await mkdir(join(o.dir, sub), { recursive: true });
      await writeMarker(o.dir, { node: o.node, pid: process.pid, since: new Date().toISOString() });
    } catch (err) {
      throw new WeftError('WEFT_ERR_ZTUNNEL_CONFIG', `cannot use the node folder ${o.dir}: ${errorMessage(err)}`, {
        cause: err, hint: 'the folder (--node-dir) must be writable by ztunnel and shared with whatever reports the node\'s pods (a hostPath on Kubernetes)',
      });
    }
    const first = await readNodeDir(o.dir);
    for (const [uid, a] of first.acks) w.#acks.set(uid, JSON.stringify(a));
    w.#take(first.pods, first.namespaces, first.problems);
    for (const sub of [NodeDirLayout.pods, NodeDirLayout.namespaces]) {
      const fsw = watch(join(o.dir, sub), () => w.#kick());
      fsw.on('error', (err) => w.#log.warn('watching the node folder failed; relying on the periodic rescan', { err: errorMessage(err) }));
      w.#watchers.push(fsw);
    }
    w.#rescan = setInterval(() => w.#kick(), o.rescanMs ?? 2000);
    w.#rescan.unref();
    w.#log.info('following the node folder', { pods: w.#pods.length, namespaces: w.#namespaces.size });
    return w;
  }

  pods(): readonly NodePod[] { return this.#pods; }

  namespaceLabels(name: string): Readonly<Record<string, string>> | undefined {
    return this.#namespaces.get(name)?.labels;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes acks that changed and removes those of pods no longer listed. */
  async syncAcks(acks: readonly CaptureAck[]): Promise<void> {
    if (this.#closed) return;
    const want = new Map(acks.map((a) => [a.uid, a]));
    for (const [uid, a] of want) {
      const body = JSON.stringify(a);
      if (this.#acks.get(uid) === body) continue;
      try {
        await writeAck(this.#o.dir, a);
        this.#acks.set(uid, body);
      } catch (err) {
        this.#log.warn('cannot write a pod ack', { uid, err: errorMessage(err) });
      }
    }
    for (const uid of [...this.#acks.keys()]) {
      if (want.has(uid)) continue;
      await removeAck(this.#o.dir, uid).catch((err: unknown) => this.#log.debug('cannot remove a pod ack', { uid, err: errorMessage(err) }));
      this.#acks.delete(uid);
    }
  }

  /** Stops following; `leaving` (capture removed too) also gives the node up and withdraws the acks. */
  async close(opts: { leaving?: boolean } = {}): Promise<void> {
    if (opts.leaving === true) await this.syncAcks([]);
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#rescan);
    for (const w of this.#watchers) w.close();
    await this.#scan;
    if (opts.leaving === true) await removeMarker(this.#o.dir).catch(() => undefined);
  }

  #kick(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#read(), this.#o.debounceMs ?? 15);
  }

  #read(): void {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#scan = (async () => {
      try {
        do {
          this.#again = false;
          const c = await readNodeDir(this.#o.dir);
          if (this.#closed) return;
          this.#take(c.pods, c.namespaces, c.problems);
        } while (this.#again);
      } catch (err) {
        this.#log.warn('reading the node folder failed', { err: errorMessage(err) });
      } finally {
        this.#busy = false;
      }
    })();
  }

  #take(pods: NodePod[], namespaces: Map<string, NodeNamespace>, problems: readonly { file: string; reason: string }[]): void {
    const seen = new Set<string>();
    for (const p of problems) {
      seen.add(p.file);
      if (this.#problems.get(p.file) === p.reason) continue;
      this.#problems.set(p.file, p.reason);
      this.#log.warn('node folder record ignored', { file: p.file, reason: p.reason });
    }
    for (const f of [...this.#problems.keys()]) if (!seen.has(f)) this.#problems.delete(f);
    const signature = JSON.stringify([pods, [...namespaces.values()].sort((a, b) => a.name.localeCompare(b.name))]);
    if (signature === this.#signature) return;
    this.#signature = signature;
    this.#pods = pods;
    this.#namespaces = namespaces;
    for (const l of [...this.#listeners]) l();
  }
}
