// Outbound connections of a pod captured ahead of its config, held instead of refused: a new
// pod's first connection usually leaves before the controller's push reaches its node, and
// failing it would make every fresh pod's first request fail. Each held connection waits, by
// pod uid, until that pod is enrolled (then it is handed to the outbound handler as if just
// accepted) or until the bound runs out (then it is reset and reported, as a refusal is).
// Bounded on every side: a deadline per connection, a cap per pod; a client that gives up
// takes its connection out of the queue.
import type net from 'node:net';
import { abort } from '#core/net/abort.ts';
import type { HoldTarget } from '#ztunnel/enroll/node-pods.ts';

export interface HeldConnection {
  pod: HoldTarget;
  socket: net.Socket;
  /** Where the connection was going (its original destination). */
  dst: string;
  src: string;
  heldAt: number;
}

export interface ConnectionHoldOptions {
  /** How long a connection may wait for its pod's config (5 s). */
  holdMs: number;
  /** Held connections per pod at most; more are refused at once (256). */
  maxPerPod?: number;
  /** A held connection gave up: the bound ran out, the queue was full, or the hold closed. */
  onExpired(c: HeldConnection, reason: string): void;
}

interface Held extends HeldConnection {
  timer: NodeJS.Timeout;
  onClose: () => void;
}

export const DEFAULT_MAX_HELD_PER_POD = 256;

/** Names a held connection that gave up, in its refusal's reason (log and access log). */
export const HELD_EXPIRED_CODE = 'WEFT_ERR_HELD_NO_CONFIG';

export class ConnectionHold {
  readonly #o: ConnectionHoldOptions;
  readonly #byPod = new Map<string, Set<Held>>();
  #closed = false;

  constructor(o: ConnectionHoldOptions) {
    this.#o = o;
  }

  /** Connections waiting now, over all pods. */
  get size(): number {
    let n = 0;
    for (const s of this.#byPod.values()) n += s.size;
    return n;
  }

  /** Holds a connection of `c.pod` until release(uid) or the deadline. */
  hold(c: Omit<HeldConnection, 'heldAt'>): void {
    const uid = c.pod.uid;
    const base: HeldConnection = { ...c, heldAt: Date.now() };
    let set = this.#byPod.get(uid);
    if (this.#closed || (set?.size ?? 0) >= (this.#o.maxPerPod ?? DEFAULT_MAX_HELD_PER_POD)) {
      abort(c.socket);
      this.#o.onExpired(base, this.#closed ? 'ztunnel shutting down' : 'too many connections held for this pod');
      return;
    }
    if (set === undefined) {
      set = new Set();
      this.#byPod.set(uid, set);
    }
    const pod = set;
    const held: Held = {
      ...base,
      timer: setTimeout(() => {
        this.#drop(uid, pod, held);
        abort(c.socket);
        this.#o.onExpired(held, `no config for this pod within ${this.#o.holdMs} ms`);
      }, this.#o.holdMs),
      // The client gave up first: nothing to hand over any more.
      onClose: () => this.#drop(uid, pod, held),
    };
    held.timer.unref();
    c.socket.once('close', held.onClose);
    pod.add(held);
  }

  /** The pod is enrolled: each of its held connections goes to `take`, oldest first. */
  release(uid: string, take: (c: HeldConnection) => void): number {
    const set = this.#byPod.get(uid);
    if (set === undefined) return 0;
    this.#byPod.delete(uid);
    let n = 0;
    for (const h of set) {
      clearTimeout(h.timer);
      h.socket.off('close', h.onClose);
      if (h.socket.destroyed) continue;
      take({ pod: h.pod, socket: h.socket, dst: h.dst, src: h.src, heldAt: h.heldAt });
      n++;
    }
    return n;
  }

  /** Resets every held connection (shutdown). */
  close(): void {
    this.#closed = true;
    for (const [uid, set] of [...this.#byPod]) {
      for (const h of [...set]) {
        this.#drop(uid, set, h);
        abort(h.socket);
        this.#o.onExpired(h, 'ztunnel shutting down');
      }
    }
  }

  #drop(uid: string, set: Set<Held>, h: Held): void {
    clearTimeout(h.timer);
    h.socket.off('close', h.onClose);
    set.delete(h);
    if (set.size === 0 && this.#byPod.get(uid) === set) this.#byPod.delete(uid);
  }
}
