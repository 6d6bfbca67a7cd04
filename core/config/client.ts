// The proxies' end of the push stream. It holds one TLS WebSocket to the controller,
// subscribes, hands every snapshot or delta to the proxy's one mutator, and answers ACK or
// NACK with exactly the resources that were refused. It checks only the envelope: resources
// reach the mutator as they came, so validation happens once, where a refused resource can
// keep its last good version and be counted. It asks for deflated binary frames (one shared
// compressed copy per distinct frame on the controller's side) and inflates them within the
// same size bound as text frames; text frames are still read. While disconnected the proxy
// keeps its last good config (nothing is applied); the client reconnects with capped
// exponential backoff and resumes from the last version it applied, so a reconnect costs a
// delta.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { errorMessage } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import type { Logger } from '#core/log.ts';
import { PUSH_COMPRESSION_DEFLATE, PUSH_COMPRESSION_HEADER, inflateFrame } from './compression.ts';
import type { ResourceRef } from './model.ts';
import {
  CONTROLLER_SERVER_NAME, MAX_SERVER_FRAME_BYTES, PUSH_PATH, clientId, decodeFrame, parseServerMessage,
} from './protocol.ts';
import type { ClientDescriptor, ClientMessage, RejectedResource } from './protocol.ts';

export interface ConfigUpdate {
  /** True when `updated` is the whole config: anything not in it is gone. */
  snapshot: boolean;
  version: number;
  /** Resources as the controller sent them: the mutator validates each (`validateResources`). */
  updated: readonly unknown[];
  removed: ResourceRef[];
}

export interface ApplyResult {
  rejected: RejectedResource[];
}

export interface ConfigClientOptions {
  /** `wss://host:port`; the push path is added when the URL has none. */
  url: string;
  client: ClientDescriptor;
  /** The bearer token, or how to read it: read again on every connection (projected tokens rotate). */
  token: string | (() => Promise<string>);
  /** Mesh root certificates, or how to read them on every connection: the controller's certificate must chain to one of them. */
  rootsPem: string[] | (() => string[]);
  /** The proxy's one mutator: validates and applies, and returns the resources it refused (the NACK). */
  apply: (update: ConfigUpdate) => ApplyResult;
  /** TLS name to verify; default `weft-controller` unless the URL names the host by address. */
  servername?: string;
  logger?: Logger;
  /** Reconnect delays: doubling from initialMs (200) up to maxMs (2000), each jittered down to half. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** With no frame or ping from the controller for this long, the connection is presumed dead. */
  idleTimeoutMs?: number;
  /** Ask for deflated binary frames (default true); false keeps the stream to JSON text frames. */
  compression?: boolean;
  /** Largest message accepted, after inflating (default MAX_SERVER_FRAME_BYTES). */
  maxMessageBytes?: number;
}

export interface ConfigClientState {
  connected: boolean;
  /** Last version applied (ACKed or NACKed); undefined before the first snapshot. */
  version: number | undefined;
  reconnects: number;
  /** Connections that ended, for istio_xds_connection_terminations_total. */
  terminations: number;
  lastError: string | undefined;
}

export interface UpdateEvent {
  version: number;
  snapshot: boolean;
  updated: number;
  removed: number;
  rejected: RejectedResource[];
}

export interface ConfigClientEvents {
  connected: [];
  /** A connection ended; `reason` is the server's error code, or what failed. */
  disconnected: [reason: string];
  update: [event: UpdateEvent];
}

/** Kind and key of a resource as sent, for a NACK entry when the mutator could not say. */
function refOf(v: unknown): { kind: string; key: string } {
  const o = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  return { kind: typeof o['kind'] === 'string' ? o['kind'] : '?', key: typeof o['key'] === 'string' ? o['key'] : '?' };
}

export class ConfigClient extends EventEmitter<ConfigClientEvents> {
  readonly #opts: ConfigClientOptions;
  readonly #log: Logger;
  readonly #url: string;
  #ws: WebSocket | undefined;
  #version: number | undefined;
  #connected = false;
  #reconnects = 0;
  #terminations = 0;
  #lastError: string | undefined;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #paused = false;
  #firstUpdate: { promise: Promise<void>; resolve: () => void };

  constructor(opts: ConfigClientOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'config-client', client: clientId(opts.client) });
    const u = new URL(opts.url);
    if (u.pathname === '/' || u.pathname === '') u.pathname = PUSH_PATH;
    this.#url = u.toString();
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => { resolve = r; });
    this.#firstUpdate = { promise, resolve };
  }

  /** Connects; reconnects on its own until close(). */
  start(): this {
    this.#connect();
    return this;
  }

  /** Resolves once a first config has been applied. */
  ready(): Promise<void> {
    return this.#firstUpdate.promise;
  }

  state(): ConfigClientState {
    return { connected: this.#connected, version: this.#version, reconnects: this.#reconnects, terminations: this.#terminations, lastError: this.#lastError };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#disconnect();
  }

  /**
   * Disconnects and stays away until resume(), keeping the last config applied. An upgraded
   * ztunnel's predecessor steps aside so that its successor, subscribing as the same client, is
   * not replaced back and forth with it.
   */
  async pause(): Promise<void> {
    this.#paused = true;
    await this.#disconnect();
  }

  /** Connects again after pause(). */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.#attempt = 0;
    this.#connect();
  }

  async #disconnect(): Promise<void> {
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  #connect(): void {
    if (this.#closed || this.#paused) return;
    const host = new URL(this.#url).hostname.replace(/^\[|\]$/g, '');
    const servername = this.#opts.servername ?? (isIP(host) === 0 ? CONTROLLER_SERVER_NAME : undefined);
    const compression = this.#opts.compression ?? true;
    const ws = new WebSocket(this.#url, {
      ca: typeof this.#opts.rootsPem === 'function' ? this.#opts.rootsPem() : this.#opts.rootsPem,
      ...(servername === undefined ? {} : { servername }),
      maxPayload: this.#maxMessageBytes(),
      // Off: ws would compress once per connection; the controller shares one deflated copy instead.
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(compression ? { headers: { [PUSH_COMPRESSION_HEADER]: PUSH_COMPRESSION_DEFLATE } } : {}),
    });
    let deflated = false;
    ws.on('upgrade', (res) => {
      deflated = compression && res.headers[PUSH_COMPRESSION_HEADER] === PUSH_COMPRESSION_DEFLATE;
    });
    this.#ws = ws;
    let failure: string | undefined;
    let idle: NodeJS.Timeout | undefined;
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        failure ??= 'no frame or ping from the controller in time';
        ws.terminate();
      }, this.#opts.idleTimeoutMs ?? 90_000);
      idle.unref();
    };
    ws.on('ping', touch);
    ws.on('open', () => {
      touch();
      this.#connected = true;
      this.#log.info('connected to controller', { resumeVersion: this.#version, compressed: deflated });
      const token = this.#opts.token;
      const subscribe = (value: string): void => {
        if (ws.readyState !== WebSocket.OPEN) return;
        const msg: ClientMessage = { type: 'subscribe', client: this.#opts.client, token: value };
        if (this.#version !== undefined) msg.resumeVersion = this.#version;
        this.#send(ws, msg);
        this.emit('connected');
      };
      if (typeof token === 'string') {
        subscribe(token);
        return;
      }
      token().then(subscribe, (err: unknown) => {
        failure = `cannot read the token: ${errorMessage(err)}`;
        ws.close(4401, 'no token');
      });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      touch();
      const reason = this.#onMessage(ws, data, isBinary, compression);
      if (reason !== undefined) {
        failure = reason;
        ws.close(4400, 'bad message');
      }
    });
    ws.on('error', (err) => {
      failure ??= errorMessage(err);
    });
    ws.on('close', (code: number, why: Buffer) => {
      clearTimeout(idle);
      const wasConnected = this.#connected;
      this.#connected = false;
      if (this.#ws === ws) this.#ws = undefined;
      const reason = failure ?? (why.length > 0 ? why.toString('utf8') : `closed (${code})`);
      this.#lastError = reason;
      if (wasConnected) {
        this.#terminations++;
        this.emit('disconnected', reason);
      }
      if (this.#closed || this.#paused) return;
      this.#log.warn('controller connection lost; keeping the last config', { reason, version: this.#version });
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    const initial = this.#opts.backoff?.initialMs ?? 200;
    // Capped at 2 s: a controller that comes back is found within 2 s, so pods created while it
    // was away (failing closed on their node) are served soon after.
    const max = this.#opts.backoff?.maxMs ?? 2000;
    const base = Math.min(max, initial * 2 ** this.#attempt);
    // Jitter spreads a fleet of proxies reconnecting after a controller restart.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.#attempt++;
    this.#retryTimer = setTimeout(() => {
      this.#reconnects++;
      this.#connect();
    }, delay);
  }

  #maxMessageBytes(): number {
    return this.#opts.maxMessageBytes ?? MAX_SERVER_FRAME_BYTES;
  }

  /**
   * Handles one frame; returns a reason when the stream must be dropped. Nothing of a frame
   * that cannot be read is applied: the proxy keeps its last good config and reconnects.
   */
  #onMessage(ws: WebSocket, data: RawData, isBinary: boolean, compression: boolean): string | undefined {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data;
    let text: string;
    if (!isBinary) text = bytes.toString('utf8');
    else if (!compression) return 'binary frame from the controller, but this client did not ask for compressed frames';
    else {
      const inflated = inflateFrame(bytes, this.#maxMessageBytes());
      // The close handler logs the reason, as for a bad text frame.
      if (!inflated.ok) return `bad message from the controller: ${inflated.reason}`;
      text = inflated.message.toString('utf8');
    }
    const decoded = decodeFrame(text);
    const parsed = decoded.ok ? parseServerMessage(decoded.message) : decoded;
    if (!parsed.ok) return `bad message from the controller: ${parsed.reason}`;
    const msg = parsed.message;
    if (msg.type === 'error') {
      this.#log.warn('controller refused the stream', { code: msg.code, message: msg.message });
      this.#lastError = `${msg.code}: ${msg.message}`;
      return undefined; // the server closes; the close handler reconnects
    }
    const update: ConfigUpdate = msg.type === 'snapshot'
      ? { snapshot: true, version: msg.version, updated: msg.resources, removed: [] }
      : { snapshot: false, version: msg.version, updated: msg.updated, removed: msg.removed };
    let rejected: RejectedResource[];
    try {
      rejected = this.#opts.apply(update).rejected;
    } catch (err) {
      // A mutator that throws applied nothing we can vouch for: refuse the whole update.
      const reason = `apply failed: ${errorMessage(err)}`;
      rejected = update.updated.map((r) => ({ ...refOf(r), reason }));
      this.#log.error('applying config failed', { err: errorMessage(err), version: msg.version });
    }
    this.#version = msg.version;
    this.#attempt = 0;
    if (rejected.length === 0) this.#send(ws, { type: 'ack', version: msg.version });
    else {
      this.#log.warn('rejected resources', { version: msg.version, count: rejected.length, rejected: rejected.slice(0, 20) });
      this.#send(ws, { type: 'nack', version: msg.version, errors: rejected });
    }
    this.emit('update', { version: msg.version, snapshot: update.snapshot, updated: update.updated.length, removed: update.removed.length, rejected });
    this.#firstUpdate.resolve();
    return undefined;
  }

  #send(ws: WebSocket, msg: ClientMessage): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(msg), (err) => {
      if (err !== undefined && err !== null) this.#log.debug('send to controller failed', { err: errorMessage(err) });
    });
  }
}
