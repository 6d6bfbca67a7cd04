// The push server: proxies subscribe over a WebSocket, get a snapshot of their view of the
// mesh, then a delta for every model change, one push in flight per client. Changes arriving
// while a push is unacknowledged are folded into the next one, so a slow client gets fewer,
// larger deltas and never holds up anyone else; a client that stops answering is dropped
// and resumes from its last version when it reconnects. Clients that ask for it on the upgrade
// get each frame deflated, as a binary frame: deflated once per distinct frame and generation,
// the same bytes for every such client.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import { PUSH_COMPRESSION_DEFLATE, PUSH_COMPRESSION_HEADER, acceptsDeflate, deflateFrame } from '#core/config/compression.ts';
import type { Resource, ResourceRef } from '#core/config/model.ts';
import {
  MAX_CLIENT_FRAME_BYTES, PUSH_PATH, PushErrorCode, clientId, decodeFrame, parseClientMessage,
} from '#core/config/protocol.ts';
import type { ClientDescriptor, ClientMessage, RejectedResource, SubscribeMessage } from '#core/config/protocol.ts';
import { errorMessage } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import type { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { diffGenerations } from '#controller/model/generation.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { ViewIndex } from '#controller/model/view-index.ts';
import { ChangeLog } from './change-log.ts';
import { DEFAULT_CHUNKED_SEND, sendChunked } from './chunked-send.ts';
import type { ChunkedSendOptions } from './chunked-send.ts';
import { ClientView, diffClientViews } from './client-view.ts';
import type { View } from './diff.ts';

export interface PushServerOptions {
  /**
   * The client a bearer token names, or undefined when the token is not valid; a promise when
   * the answer comes from elsewhere (TokenReview on a cluster).
   */
  authenticate: (token: string) => ClientDescriptor | undefined | Promise<ClientDescriptor | undefined>;
  logger?: Logger;
  metrics?: Registry;
  /**
   * What one client receives out of the model; defaults to the model's viewFor, computed
   * incrementally (a shared part plus a per-node overlay). A custom function is called for
   * every client on every change.
   */
  viewFor?: (model: MeshModel, client: ClientDescriptor) => View;
  /** Messages larger than one chunk are sent as fragments, a window of them at a time. */
  chunkedSend?: ChunkedSendOptions;
  /** Called for every NACK, to turn rejected resources into status conditions. */
  onNack?: (clientId: string, errors: RejectedResource[]) => void;
  /** A client whose socket holds more unsent bytes than this is dropped (it resumes later). */
  maxBufferedBytes?: number;
  /** A push not acknowledged within this time drops the client (it resumes later). */
  ackTimeoutMs?: number;
  /** A connection that has not subscribed within this time is closed. */
  subscribeTimeoutMs?: number;
  /** How long a disconnected client's last view is kept so it can resume with a delta. */
  resumeWindowMs?: number;
  /** Ping interval; a connection that missed a whole interval's pong is cut. */
  heartbeatMs?: number;
}

export interface PushClientInfo {
  id: string;
  client: ClientDescriptor;
  connected: boolean;
  remote: string | undefined;
  /** Last version the client acknowledged or NACKed. */
  version: number | undefined;
  inFlightVersion: number | undefined;
  resources: number;
}

interface Sent {
  version: number;
  view: ClientView;
}

interface Connection {
  ws: WebSocket;
  remote: string;
  /** The client asked for deflated binary frames. */
  deflate: boolean;
  log: Logger;
  record: ClientRecord | undefined;
  subscribeTimer: NodeJS.Timeout | undefined;
  alive: boolean;
  /** A fragmented message is being written: no other data frame may go out meanwhile. */
  streaming: boolean;
  /** A subscribe is waiting for its token to be checked. */
  authenticating: boolean;
}

interface ClientRecord {
  id: string;
  client: ClientDescriptor;
  conn: Connection | undefined;
  /** The last push the client answered (ACK or NACK): what it holds. */
  confirmed: Sent | undefined;
  /** Sent but unanswered when the connection dropped; the client may have applied it. */
  unanswered: Sent | undefined;
  inFlight: (Sent & { sentAt: number; timer: NodeJS.Timeout }) | undefined;
  /** The model changed while a push was in flight. */
  dirty: boolean;
  forgetTimer: NodeJS.Timeout | undefined;
}

/** One encoded push frame of a generation, shared by every client it goes to. */
interface EncodedFrame {
  text: Buffer;
  /** Deflated once, on first use by a client that takes compressed frames; null: send the text. */
  deflated: Buffer | null | undefined;
  type: 'snapshot' | 'delta';
}

const CloseCode = { badMessage: 4400, unauthenticated: 4401, timeout: 4408, replaced: 4409, tooSlow: 4429, goingAway: 1001 } as const;

// JSON of each resource, computed once per object; interning keeps objects across rebuilds.
const jsonCache = new WeakMap<Resource, string>();
function resourceJson(r: Resource): string {
  let s = jsonCache.get(r);
  if (s === undefined) {
    s = JSON.stringify(r);
    jsonCache.set(r, s);
  }
  return s;
}

function snapshotFrame(version: number, view: ClientView): string {
  const parts: string[] = [];
  for (const r of view.resources()) parts.push(resourceJson(r));
  return `{"type":"snapshot","version":${version},"resources":[${parts.join(',')}]}`;
}

function deltaFrame(version: number, updated: Resource[], removed: ResourceRef[]): string {
  return `{"type":"delta","version":${version},"updated":[${updated.map(resourceJson).join(',')}],"removed":${JSON.stringify(removed)}}`;
}

function refKey(r: { kind: string; key: string }): string {
  return `${r.kind}/${r.key}`;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function sameClient(a: ClientDescriptor, b: ClientDescriptor): boolean {
  return a.kind === 'ztunnel' ? b.kind === 'ztunnel' && a.node === b.node : b.kind === 'waypoint' && a.identity === b.identity;
}

export class PushServer {
  readonly #opts: Required<Omit<PushServerOptions, 'onNack' | 'metrics' | 'logger' | 'viewFor'>> & {
    onNack: PushServerOptions['onNack'] | undefined;
    viewFor: PushServerOptions['viewFor'] | undefined;
  };
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #records = new Map<string, ClientRecord>();
  readonly #conns = new Set<Connection>();
  #model: MeshModel | undefined;
  /** Model generation: every push carries the generation its view was computed from. */
  #version = 0;
  /**
   * Encoded frames of the current generation by content key. Within one generation a key
   * names one object, so clients whose pushes list the same keys from the same base get
   * the same bytes: each distinct frame is serialized and encoded once, not once per client.
   */
  #frames = new Map<string, EncodedFrame>();
  /** Delta frames of the current generation by (base generation, base view, new view); null: nothing to send. */
  #deltas = new Map<string, EncodedFrame | null>();
  /** The current generation's views, indexed on first use (default views only). */
  #index: ViewIndex | undefined;
  readonly #changes = new ChangeLog();
  #closing = false;
  readonly #heartbeat: NodeJS.Timeout;

  readonly #m: {
    clients: ReturnType<Registry['gauge']>;
    pushes: ReturnType<Registry['counter']>;
    acks: ReturnType<Registry['counter']>;
    nacks: ReturnType<Registry['counter']>;
    rejected: ReturnType<Registry['counter']>;
    latency: ReturnType<Registry['histogram']>;
    deflated: ReturnType<Registry['counter']>;
    bytes: ReturnType<Registry['counter']>;
  };

  constructor(opts: PushServerOptions) {
    this.#opts = {
      authenticate: opts.authenticate,
      viewFor: opts.viewFor,
      onNack: opts.onNack,
      chunkedSend: opts.chunkedSend ?? DEFAULT_CHUNKED_SEND,
      maxBufferedBytes: opts.maxBufferedBytes ?? 64 * 1024 * 1024,
      ackTimeoutMs: opts.ackTimeoutMs ?? 60_000,
      subscribeTimeoutMs: opts.subscribeTimeoutMs ?? 10_000,
      resumeWindowMs: opts.resumeWindowMs ?? 5 * 60_000,
      heartbeatMs: opts.heartbeatMs ?? 30_000,
    };
    this.#log = (opts.logger ?? silentLogger).child({ component: 'push' });
    const reg = opts.metrics ?? new Registry();
    this.#m = {
      clients: reg.gauge('weft_xds_clients', 'Proxies subscribed to the push stream.', ['kind']),
      pushes: reg.counter('weft_xds_pushes_total', 'Snapshots and deltas sent.', ['kind', 'type']),
      acks: reg.counter('weft_xds_acks_total', 'Pushes acknowledged.', ['kind']),
      nacks: reg.counter('weft_xds_nacks_total', 'Pushes answered with a NACK (some resources rejected).', ['kind']),
      rejected: reg.counter('weft_xds_rejected_connections_total', 'Push connections closed by the server, by reason.', ['reason']),
      latency: reg.histogram('weft_xds_push_ack_seconds', 'Time from sending a push to its ACK or NACK.', ['kind'],
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
      deflated: reg.counter('weft_xds_frames_deflated_total', 'Distinct push frames deflated (once each, shared by every client taking compressed frames).', ['type']),
      bytes: reg.counter('weft_xds_push_bytes_total', 'Bytes of snapshots and deltas sent, by encoding (deflate or identity).', ['kind', 'encoding']),
    };
    // ws's per-message deflate stays off: it compresses once per connection.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES, perMessageDeflate: false });
    // The answer tells the client it will get compressed frames.
    this.#wss.on('headers', (headers: string[], req: IncomingMessage) => {
      if (acceptsDeflate(req.headers[PUSH_COMPRESSION_HEADER])) headers.push(`${PUSH_COMPRESSION_HEADER}: ${PUSH_COMPRESSION_DEFLATE}`);
    });
    this.#heartbeat = setInterval(() => {
      for (const c of this.#conns) {
        if (!c.alive) {
          c.log.warn('push connection missed its heartbeat', { client: c.record?.id });
          this.#m.rejected.inc({ reason: 'heartbeat' });
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    }, this.#opts.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Drops one client's connection (it reconnects and resumes); false when not connected. */
  disconnect(id: string): boolean {
    const conn = this.#records.get(id)?.conn;
    if (conn === undefined) return false;
    conn.ws.terminate();
    return true;
  }

  /** Serves the push stream on `server`'s upgrade requests to PUSH_PATH. */
  attach(server: HttpsServer | HttpServer): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== PUSH_PATH || this.#closing) {
      socket.end(`HTTP/1.1 ${this.#closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
  }

  /** Installs a new model and pushes every connected client what changed in its view. */
  setModel(model: MeshModel): void {
    const change = diffGenerations(this.#model?.resources, model.resources);
    this.#model = { ...model, resources: change.resources };
    this.#version++;
    this.#changes.record(this.#version, change);
    this.#index = undefined;
    this.#frames = new Map();
    this.#deltas = new Map();
    for (const rec of this.#records.values()) {
      rec.dirty = true;
      this.#push(rec);
    }
  }

  /** The current model (as interned), for the admin endpoint. */
  model(): MeshModel | undefined {
    return this.#model;
  }

  clients(): PushClientInfo[] {
    return [...this.#records.values()].map((r) => ({
      id: r.id,
      client: r.client,
      connected: r.conn !== undefined,
      remote: r.conn?.remote,
      version: r.confirmed?.version,
      inFlightVersion: r.inFlight?.version,
      resources: (r.inFlight ?? r.confirmed)?.view.size ?? 0,
    }));
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const closed = [...this.#conns].map((c) => new Promise<void>((resolve) => {
      if (c.ws.readyState === WebSocket.CLOSED) return resolve();
      c.ws.once('close', () => resolve());
      this.#sendError(c, PushErrorCode.shuttingDown, 'the controller is shutting down', CloseCode.goingAway);
      setTimeout(() => c.ws.terminate(), 1000).unref();
    }));
    await Promise.all(closed);
    for (const r of this.#records.values()) {
      clearTimeout(r.forgetTimer);
      clearTimeout(r.inFlight?.timer);
    }
    this.#records.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const deflate = acceptsDeflate(req.headers[PUSH_COMPRESSION_HEADER]);
    const conn: Connection = { ws, remote, deflate, log: this.#log.child({ remote }), record: undefined, subscribeTimer: undefined, alive: true, streaming: false, authenticating: false };
    this.#conns.add(conn);
    conn.subscribeTimer = setTimeout(() => {
      this.#reject(conn, 'subscribe_timeout', PushErrorCode.notSubscribed, 'no subscribe message in time', CloseCode.timeout);
    }, this.#opts.subscribeTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(conn, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too_large' : 'protocol_error';
      this.#m.rejected.inc({ reason });
      conn.log.warn('push connection error', { err: errorMessage(err), client: conn.record?.id });
    });
    ws.on('pong', () => { conn.alive = true; });
    ws.on('close', () => this.#onClose(conn));
  }

  #onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.#reject(conn, 'bad_message', PushErrorCode.badMessage, 'binary frames are not part of the protocol', CloseCode.badMessage);
      return;
    }
    const text = rawText(data);
    const decoded = decodeFrame(text);
    const parsed = decoded.ok ? parseClientMessage(decoded.message) : decoded;
    if (!parsed.ok) {
      this.#reject(conn, 'bad_message', PushErrorCode.badMessage, parsed.reason, CloseCode.badMessage);
      return;
    }
    const msg: ClientMessage = parsed.message;
    if (msg.type === 'subscribe') {
      this.#onSubscribe(conn, msg);
      return;
    }
    const rec = conn.record;
    if (rec === undefined) {
      this.#reject(conn, 'not_subscribed', PushErrorCode.notSubscribed, `${msg.type} before subscribe`, CloseCode.badMessage);
      return;
    }
    const sent = rec.inFlight;
    if (sent === undefined || sent.version !== msg.version) {
      conn.log.debug('answer for a version not in flight', { client: rec.id, version: msg.version, inFlight: sent?.version });
      return;
    }
    clearTimeout(sent.timer);
    rec.inFlight = undefined;
    rec.confirmed = { version: sent.version, view: sent.view };
    this.#m.latency.observe({ kind: rec.client.kind }, (performance.now() - sent.sentAt) / 1000);
    if (msg.type === 'ack') {
      this.#m.acks.inc({ kind: rec.client.kind });
    } else {
      this.#m.nacks.inc({ kind: rec.client.kind });
      conn.log.warn('client rejected resources', { client: rec.id, version: msg.version, errors: msg.errors.slice(0, 20), count: msg.errors.length });
      try {
        this.#opts.onNack?.(rec.id, msg.errors);
      } catch (err) {
        conn.log.error('NACK handler failed', { err: errorMessage(err) });
      }
    }
    if (rec.dirty) this.#push(rec);
  }

  #onSubscribe(conn: Connection, msg: SubscribeMessage): void {
    if (conn.record !== undefined || conn.authenticating) {
      this.#reject(conn, 'bad_message', PushErrorCode.badMessage, 'subscribe sent twice', CloseCode.badMessage);
      return;
    }
    let answer: ReturnType<PushServerOptions['authenticate']>;
    try {
      answer = this.#opts.authenticate(msg.token);
    } catch (err) {
      conn.log.error('authenticating a client failed', { err: errorMessage(err) });
      answer = undefined;
    }
    // A local token is checked in place; a review elsewhere is awaited, and whatever the
    // connection did meanwhile (closed, timed out) decides whether the answer still matters.
    if (!(answer instanceof Promise)) {
      this.#subscribe(conn, msg, answer);
      return;
    }
    conn.authenticating = true;
    void answer.catch((err: unknown) => {
      conn.log.error('authenticating a client failed', { err: errorMessage(err) });
      return undefined;
    }).then((who) => {
      conn.authenticating = false;
      if (this.#closing || conn.ws.readyState !== WebSocket.OPEN || !this.#conns.has(conn)) return;
      this.#subscribe(conn, msg, who);
    }).catch((err: unknown) => {
      conn.log.error('subscribing a client failed', { err: errorMessage(err) });
    });
  }

  #subscribe(conn: Connection, msg: SubscribeMessage, who: ClientDescriptor | undefined): void {
    if (who === undefined || !sameClient(who, msg.client)) {
      this.#reject(conn, 'unauthenticated', PushErrorCode.unauthenticated,
        who === undefined ? 'invalid token' : 'the token does not belong to this client', CloseCode.unauthenticated);
      return;
    }
    clearTimeout(conn.subscribeTimer);
    const id = clientId(who);
    let rec = this.#records.get(id);
    if (rec === undefined) {
      rec = { id, client: who, conn: undefined, confirmed: undefined, unanswered: undefined, inFlight: undefined, dirty: false, forgetTimer: undefined };
      this.#records.set(id, rec);
    }
    const previous = rec.conn;
    if (previous !== undefined) {
      this.#detach(rec);
      this.#sendError(previous, PushErrorCode.replaced, 'another connection subscribed as this client', CloseCode.replaced);
      this.#m.rejected.inc({ reason: 'replaced' });
    }
    clearTimeout(rec.forgetTimer);
    rec.forgetTimer = undefined;
    // Resume: the client holds what it last answered, or what was in flight when it dropped.
    const resume = msg.resumeVersion;
    const base = resume === undefined ? undefined
      : rec.confirmed?.version === resume ? rec.confirmed
        : rec.unanswered?.version === resume ? rec.unanswered : undefined;
    rec.confirmed = base;
    rec.unanswered = undefined;
    rec.conn = conn;
    conn.record = rec;
    conn.log = conn.log.child({ client: id });
    this.#m.clients.inc({ kind: who.kind });
    conn.log.info('client subscribed', { resumeVersion: resume, resumed: base !== undefined });
    rec.dirty = true;
    this.#push(rec);
  }

  #viewOf(model: MeshModel, client: ClientDescriptor): ClientView {
    const custom = this.#opts.viewFor;
    if (custom !== undefined) return ClientView.computed(this.#version, custom(model, client));
    this.#index ??= new ViewIndex(model.resources);
    const overlay = this.#index.overlay(client);
    return new ClientView(this.#version, this.#index.resources, this.#index.sharedSize, overlay.resources, overlay.signature);
  }

  /** The encoded delta taking `from` to `to`, or null when there is nothing to send. */
  #deltaFrame(from: ClientView, to: ClientView): EncodedFrame | null {
    const layered = to.shared !== undefined;
    // Default views: clients holding the same view get the same delta, computed once.
    const key = layered ? `${from.generation}|${from.signature}|${to.signature}` : undefined;
    if (key !== undefined) {
      const cached = this.#deltas.get(key);
      if (cached !== undefined) return cached;
    }
    const d = diffClientViews(from, to, (g) => this.#changes.since(g));
    let frame: EncodedFrame | null = null;
    if (d.updated.length > 0 || d.removed.length > 0) {
      const content = `d|${from.generation}|${d.updated.map(refKey).join('\n')}|${d.removed.map(refKey).join('\n')}`;
      frame = this.#frame(content, 'delta', () => deltaFrame(to.generation, d.updated, d.removed));
    }
    if (key !== undefined) this.#deltas.set(key, frame);
    return frame;
  }

  #push(rec: ClientRecord): void {
    const conn = rec.conn;
    const model = this.#model;
    if (conn === undefined || conn.ws.readyState !== WebSocket.OPEN || rec.inFlight !== undefined || model === undefined) return;
    rec.dirty = false;
    const view = this.#viewOf(model, rec.client);
    const version = this.#version;
    let frame: EncodedFrame;
    if (rec.confirmed === undefined) {
      frame = this.#frame(`s|${view.signature}`, 'snapshot', () => snapshotFrame(version, view));
    } else {
      const delta = this.#deltaFrame(rec.confirmed.view, view);
      if (delta === null) return;
      frame = delta;
    }
    if (conn.ws.bufferedAmount > this.#opts.maxBufferedBytes) {
      this.#reject(conn, 'too_slow', PushErrorCode.tooSlow, 'the client is not reading its stream', CloseCode.tooSlow);
      return;
    }
    const timer = setTimeout(() => {
      this.#reject(conn, 'ack_timeout', PushErrorCode.tooSlow, `version ${version} not acknowledged in time`, CloseCode.tooSlow);
    }, this.#opts.ackTimeoutMs);
    rec.inFlight = { version, view, sentAt: performance.now(), timer };
    this.#m.pushes.inc({ kind: rec.client.kind, type: frame.type });
    const deflated = conn.deflate ? this.#deflated(frame) : null;
    const bytes = deflated ?? frame.text;
    const binary = deflated !== null;
    this.#m.bytes.inc({ kind: rec.client.kind, encoding: binary ? 'deflate' : 'identity' }, bytes.length);
    const sent = (err?: Error | null): void => {
      if (err !== undefined && err !== null) conn.log.debug('push send failed', { err: errorMessage(err) });
    };
    if (bytes.length <= this.#opts.chunkedSend.chunkBytes) {
      conn.ws.send(bytes, { binary }, sent);
      return;
    }
    conn.streaming = true;
    sendChunked(conn.ws, bytes, this.#opts.chunkedSend, (err) => {
      conn.streaming = false;
      sent(err);
    }, binary);
  }

  #frame(key: string, type: EncodedFrame['type'], build: () => string): EncodedFrame {
    let f = this.#frames.get(key);
    if (f === undefined) {
      f = { text: Buffer.from(build(), 'utf8'), deflated: undefined, type };
      this.#frames.set(key, f);
    }
    return f;
  }

  /** The frame's deflated bytes, computed on first use (≈ 10 ms for a 5 MB snapshot); null: send the text. */
  #deflated(f: EncodedFrame): Buffer | null {
    if (f.deflated === undefined) {
      f.deflated = deflateFrame(f.text) ?? null;
      if (f.deflated !== null) this.#m.deflated.inc({ type: f.type });
    }
    return f.deflated;
  }

  /** Unhooks a record from its connection; what was in flight may have been applied. */
  #detach(rec: ClientRecord): void {
    const conn = rec.conn;
    if (conn === undefined) return;
    if (rec.inFlight !== undefined) {
      clearTimeout(rec.inFlight.timer);
      rec.unanswered = { version: rec.inFlight.version, view: rec.inFlight.view };
      rec.inFlight = undefined;
    }
    rec.conn = undefined;
    conn.record = undefined;
    this.#m.clients.dec({ kind: rec.client.kind });
    if (!this.#closing) {
      rec.forgetTimer = setTimeout(() => {
        if (rec.conn === undefined) this.#records.delete(rec.id);
      }, this.#opts.resumeWindowMs);
      rec.forgetTimer.unref();
    }
  }

  #onClose(conn: Connection): void {
    clearTimeout(conn.subscribeTimer);
    this.#conns.delete(conn);
    const rec = conn.record;
    if (rec !== undefined && rec.conn === conn) {
      this.#detach(rec);
      conn.log.info('client disconnected');
    }
  }

  #sendError(conn: Connection, code: string, message: string, closeCode: number): void {
    if (conn.ws.readyState !== WebSocket.OPEN) {
      conn.ws.terminate();
      return;
    }
    // In the middle of a fragmented push a text frame would corrupt the stream: close only.
    if (!conn.streaming) conn.ws.send(JSON.stringify({ type: 'error', code, message }));
    conn.ws.close(closeCode, code);
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 2000).unref();
  }

  #reject(conn: Connection, reason: string, code: string, message: string, closeCode: number): void {
    this.#m.rejected.inc({ reason });
    conn.log.warn('push connection refused', { reason, message, client: conn.record?.id });
    const rec = conn.record;
    if (rec !== undefined && rec.conn === conn) this.#detach(rec);
    this.#sendError(conn, code, message, closeCode);
  }
}
