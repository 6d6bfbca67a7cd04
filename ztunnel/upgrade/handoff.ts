// The upgrade hand-off between two ztunnel processes of one node, over a Unix socket in the
// state folder (<stateDir>/handoff.sock, a hostPath both pods of a DaemonSet surge mount).
// Each message is one JSON line:
//   successor    → {"type":"takeover","pid":N}
//   predecessor  stops enrolling, frees its admin ports, stops listening on the socket
//                → {"type":"released","pid":M}
//   successor    binds its admin ports, opens every pod's listeners beside the predecessor's
//                (SO_REUSEPORT), waits until it is ready, then
//                → {"type":"ready","pid":N}
//   predecessor  → {"type":"draining","pid":M}, closes its pod listeners (queued connections
//                migrate to the successor's: tcp_migrate_req) and lets open connections finish.
// A connection that ends before "ready" (the successor died) makes the predecessor resume.
// Malformed input ends the connection; it never changes what the predecessor serves.
import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';

export const HANDOFF_SOCKET = 'handoff.sock';

const MAX_LINE = 4096;
const MESSAGE_TYPES = ['takeover', 'released', 'ready', 'draining'] as const;
export type HandoffMessageType = (typeof MESSAGE_TYPES)[number];

export interface HandoffMessage {
  type: HandoffMessageType;
  pid: number;
}

/** One line of the protocol, or undefined when it is not one. Pure. */
export function parseHandoffMessage(line: string): HandoffMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const type: unknown = Reflect.get(v, 'type');
  const pid: unknown = Reflect.get(v, 'pid');
  if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type)) return undefined;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
  return { type: type as HandoffMessageType, pid };
}

/** Calls onMessage per line; ends the socket on a line too long or not of the protocol. */
function readMessages(socket: net.Socket, onMessage: (m: HandoffMessage) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = parseHandoffMessage(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m === undefined) {
        socket.destroy();
        return;
      }
      onMessage(m);
    }
    if (buf.length > MAX_LINE) socket.destroy();
  });
}

function send(socket: net.Socket, type: HandoffMessageType): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify({ type, pid: process.pid })}\n`);
}

/** What the running ztunnel does at each step of a hand-off it gives. */
export interface Predecessor {
  release(): Promise<void>;
  resume(): Promise<void>;
  /** Starts draining; not awaited by the protocol. */
  drain(): void;
}

async function listenAt(path: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  // Only called once no live process listens there (see requestHandoff): a file left is stale.
  await unlink(path).catch(() => undefined);
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Whoever may connect can make this ztunnel stop serving: root only.
  await chmod(path, 0o600);
  return server;
}

/** The running ztunnel's side: waits for a successor and hands over to it. */
export class HandoffListener {
  readonly #path: string;
  readonly #party: Predecessor;
  readonly #log: Logger;
  #server: net.Server | undefined;
  /** A hand-off in progress (or done): one successor at a time, and only one ever takes over. */
  #busy = false;
  #closed = false;

  private constructor(path: string, party: Predecessor, logger: Logger) {
    this.#path = path;
    this.#party = party;
    this.#log = logger.child({ component: 'handoff' });
  }

  static async listen(path: string, party: Predecessor, logger: Logger): Promise<HandoffListener> {
    const l = new HandoffListener(path, party, logger);
    await l.#listen();
    return l;
  }

  async #listen(): Promise<void> {
    const server = await listenAt(this.#path, (s) => this.#onConnection(s));
    // Closed while the socket was being opened: it must not outlive the listener.
    if (this.#closed) server.close();
    else this.#server = server;
  }

  #onConnection(socket: net.Socket): void {
    socket.on('error', () => undefined);
    if (this.#busy || this.#closed) {
      socket.destroy();
      return;
    }
    this.#busy = true;
    let released = false;
    let ready = false;
    socket.once('close', () => {
      if (ready || !released || this.#closed) {
        if (!released && !ready) this.#busy = false;
        return;
      }
      this.#log.warn('successor went away before taking over; serving again');
      this.#party.resume()
        .then(() => {
          // Free before listening again: a successor connecting the moment the socket is back
          // must find the listener idle.
          this.#busy = false;
          return this.#closed ? undefined : this.#listen();
        })
        .catch((err: unknown) => this.#log.error('resume after an aborted hand-off failed', { err: errorMessage(err) }));
    });
    readMessages(socket, (m) => {
      if (m.type === 'takeover' && !released) {
        released = true;
        this.#log.info('successor taking over; releasing the admin ports', { successor: m.pid });
        const server = this.#server;
        this.#server = undefined;
        this.#party.release()
          // Stops listening at once (the path is the successor's next); close's callback would
          // wait for this very connection.
          .then(() => { server?.close(); })
          .then(() => send(socket, 'released'), (err: unknown) => {
            this.#log.error('release for the successor failed', { err: errorMessage(err) });
            socket.destroy();
          });
      } else if (m.type === 'ready' && released && !ready) {
        ready = true;
        this.#log.info('successor ready; draining', { successor: m.pid });
        send(socket, 'draining');
        socket.end();
        this.#party.drain();
      } else {
        socket.destroy();
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const server = this.#server;
    this.#server = undefined;
    server?.close();
  }
}

/** A predecessor that released its ports; ready() tells it to drain. */
export interface TakenOver {
  pid: number;
  ready(): Promise<void>;
  close(): void;
}

function waitFor(socket: net.Socket, messages: HandoffMessage[], type: HandoffMessageType, timeoutMs: number): Promise<HandoffMessage> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = messages.find((x) => x.type === type);
      if (m !== undefined) finish(() => resolve(m));
    };
    const onClose = (): void => finish(() => reject(new WeftError('WEFT_ERR_HANDOFF', `the running ztunnel closed the hand-off before "${type}"`)));
    const timer = setTimeout(() => finish(() => reject(new WeftError('WEFT_ERR_HANDOFF', `no "${type}" from the running ztunnel within ${timeoutMs} ms`))), timeoutMs);
    function finish(then: () => void): void {
      clearTimeout(timer);
      socket.off('data', check);
      socket.off('close', onClose);
      then();
    }
    // Registered after readMessages' own listener, so the message is parsed when this runs.
    socket.on('data', check);
    socket.once('close', onClose);
    check();
  });
}

/**
 * The starting ztunnel's side: asks a running one at path to hand over. Undefined when none
 * runs (no socket, or a stale one from a process that died). Throws WEFT_ERR_HANDOFF when
 * one runs but does not release within timeoutMs.
 */
export async function requestHandoff(path: string, logger: Logger, timeoutMs = 30_000): Promise<TakenOver | undefined> {
  const socket = net.connect(path);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  } catch (err) {
    socket.destroy();
    const code: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'code') : undefined;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return undefined;
    throw new WeftError('WEFT_ERR_HANDOFF', `cannot reach the running ztunnel at ${path}: ${errorMessage(err)}`, { cause: err });
  }
  socket.on('error', () => undefined);
  const messages: HandoffMessage[] = [];
  readMessages(socket, (m) => messages.push(m));
  send(socket, 'takeover');
  let released: HandoffMessage;
  try {
    released = await waitFor(socket, messages, 'released', timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  logger.info('the running ztunnel released the node; taking over', { predecessor: released.pid });
  return {
    pid: released.pid,
    ready: async () => {
      send(socket, 'ready');
      await waitFor(socket, messages, 'draining', timeoutMs);
      socket.destroy();
    },
    close: () => socket.destroy(),
  };
}
