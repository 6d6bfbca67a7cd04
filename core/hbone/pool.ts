// HBONE client pool: HTTP/2 sessions over mutual TLS, keyed by (source identity, destination
// identity, destination address), each carrying up to 100 CONNECT streams. A session that
// receives GOAWAY, errors or closes leaves the pool at once; an idle one is released after
// 5 minutes; `evict` drops every session to an address whose workload changed.
import http2 from 'node:http2';
import type { CertificateProvider, WorkloadCertificate } from '#core/certs/types.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import { silentLogger, type Logger } from '#core/log.ts';
import { formatHostPort, type HostPort } from '#core/hbone/authority.ts';
import { defaultDialer, dialHboneTls, type Dialer } from '#core/hbone/dial.ts';
import { errorForStatus, HboneErrorCode } from '#core/hbone/errors.ts';
import { forwardedFor, newTraceparent, type HboneHeaders } from '#core/hbone/headers.ts';
import { DEFAULT_MAX_STREAMS, defaultTuning, type HboneTuning } from '#core/hbone/settings.ts';
import { SecureContextCache } from '#core/hbone/tls-context.ts';

/** A certificate fetched from a provider at session set-up (so renewals are picked up). */
export interface SourceCertificateRef {
  provider: CertificateProvider;
  identity: string;
}

export interface HboneConnectRequest {
  sourceCert: WorkloadCertificate | SourceCertificateRef;
  /** SPIFFE id the server must present. */
  destinationIdentity: string;
  /** The HBONE endpoint, usually podIP:15008. */
  address: HostPort;
  /** `ip:port` of the final target (the CONNECT :authority). */
  authority: string;
  headers?: HboneHeaders;
  /** Original source of the tunnelled connection, for the default `forwarded` header. */
  sourceAddress?: HostPort;
  /** Service hostname, added to the default `forwarded` as `;host=`. */
  serviceHostname?: string;
  /** Opens the TCP socket (e.g. inside a pod netns with SO_MARK); used only when a new session is needed. */
  dial?: Dialer;
}

/** The CONNECT stream, a Duplex carrying the tunnelled bytes; `status` is always 200. */
export type HboneStream = http2.ClientHttp2Stream & { readonly status: number; readonly peerIdentity: string };

export interface HbonePoolOptions {
  logger?: Logger;
  /** Streams per session before another session is opened (100). */
  maxStreamsPerSession?: number;
  /** A session with no stream is closed after this (5 min). */
  idleTimeoutMs?: number;
  /** Budget for TCP connect + TLS handshake + HTTP/2 preface (10 s). */
  connectTimeoutMs?: number;
  /** Budget for the CONNECT response (10 s). */
  responseTimeoutMs?: number;
  tuning?: Partial<HboneTuning>;
}

export interface HbonePoolStats {
  sessions: number;
  streams: number;
}

interface Entry {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly identity: string;
  ready: Promise<http2.ClientHttp2Session>;
  session: http2.ClientHttp2Session | undefined;
  /** Streams reserved or open on this session. */
  streams: number;
  maxStreams: number;
  dead: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  /** When the peer last refused a stream here; new streams go elsewhere for a moment. */
  refusedAt: number;
}

/** A stream the peer refused before processing it (RST_STREAM REFUSED_STREAM or ENHANCE_YOUR_CALM): safe to retry. */
class RefusedStream extends WeftError {}

/** How long a session that refused a stream gets no new ones. */
const REFUSED_COOLDOWN_MS = 50;
/** Attempts for one CONNECT whose stream keeps being refused unprocessed. */
const REFUSED_ATTEMPTS = 4;

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_STATUS } = http2.constants;

export class HbonePool {
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #tuning: HboneTuning;
  readonly #contexts = new SecureContextCache();
  readonly #entries = new Map<string, Entry[]>();
  /** Every live session, pooled or draining, so close() reaches them all. */
  readonly #sessions = new Set<http2.ClientHttp2Session>();
  #closed = false;

  constructor(options: HbonePoolOptions = {}) {
    this.#log = (options.logger ?? silentLogger).child({ component: 'hbone-pool' });
    this.#maxStreams = options.maxStreamsPerSession ?? DEFAULT_MAX_STREAMS;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#responseTimeoutMs = options.responseTimeoutMs ?? 10_000;
    this.#tuning = { ...defaultTuning, ...options.tuning };
  }

  /**
   * Opens a CONNECT stream to `authority` through the HBONE endpoint; rejects on any non-200.
   * A stream the server refused unprocessed (its JS side frees streams later than the client
   * sees them close, so a busy server briefly counts more than the pool has open) is retried,
   * on another session when there is one: nothing reached the destination yet.
   */
  async connect(req: HboneConnectRequest): Promise<HboneStream> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#connectOnce(req);
      } catch (err) {
        if (!(err instanceof RefusedStream) || attempt >= REFUSED_ATTEMPTS || this.#closed) throw err;
        this.#log.debug('HBONE stream refused unprocessed; retrying', { authority: req.authority, attempt });
        await new Promise((r) => setTimeout(r, 2 * attempt));
      }
    }
  }

  async #connectOnce(req: HboneConnectRequest): Promise<HboneStream> {
    if (this.#closed) throw new WeftError(HboneErrorCode.closed, 'HBONE pool is closed');
    const entry = this.#reserve(req);
    let session: http2.ClientHttp2Session;
    try {
      session = await entry.ready;
    } catch (err) {
      this.#release(entry);
      throw err;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(this.#requestHeaders(req, session), { endStream: false });
    } catch (err) {
      this.#kill(entry);
      this.#release(entry);
      throw new WeftError(HboneErrorCode.session, `HBONE session to ${formatHostPort(entry.host, entry.port)} cannot open a stream: ${errorMessage(err)}`, { cause: err });
    }
    stream.once('close', () => this.#release(entry));
    const status = await this.#awaitResponse(stream, req, entry);
    return Object.assign(stream, { status, peerIdentity: req.destinationIdentity });
  }

  /** Drops every session to `host` (any port, or only `port`); returns how many. */
  evict(host: string, port?: number): number {
    let n = 0;
    for (const list of this.#entries.values()) {
      for (const e of [...list]) {
        if (e.host === host && (port === undefined || e.port === port)) {
          this.#kill(e);
          n++;
        }
      }
    }
    return n;
  }

  stats(): HbonePoolStats {
    let sessions = 0;
    let streams = 0;
    for (const list of this.#entries.values()) {
      for (const e of list) {
        sessions++;
        streams += e.streams;
      }
    }
    return { sessions, streams };
  }

  /** Refuses new streams, closes every session gracefully, and destroys what is left after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    this.#closed = true;
    for (const list of [...this.#entries.values()]) {
      for (const e of [...list]) {
        if (e.session === undefined) e.ready.then((s) => s.destroy(), () => undefined);
        this.#kill(e);
      }
    }
    // A closing session (`closed` turns true as close() is called) ends once its open streams
    // have: wait for that, up to the grace, then destroy what is left.
    const open = [...this.#sessions].filter((s) => !s.destroyed);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((s) => new Promise((r) => { if (s.destroyed) r(undefined); else s.once('close', r); }))),
      new Promise((r) => { timer = setTimeout(r, graceMs); }),
    ]);
    clearTimeout(timer);
    for (const s of open) if (!s.destroyed) s.destroy();
  }

  #reserve(req: HboneConnectRequest): Entry {
    const identity = req.sourceCert.identity;
    const key = `${identity}\n${req.destinationIdentity}\n${req.address.host}\n${req.address.port}`;
    let list = this.#entries.get(key);
    if (list === undefined) {
      list = [];
      this.#entries.set(key, list);
    }
    const now = Date.now();
    let entry = list.find((e) => !e.dead && e.streams < e.maxStreams && now - e.refusedAt > REFUSED_COOLDOWN_MS);
    if (entry === undefined) {
      entry = this.#open(key, identity, req);
      list.push(entry);
    }
    entry.streams++;
    if (entry.idleTimer !== undefined) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = undefined;
    }
    return entry;
  }

  #open(key: string, identity: string, req: HboneConnectRequest): Entry {
    const entry: Entry = {
      key, identity, host: req.address.host, port: req.address.port, session: undefined,
      ready: Promise.resolve(undefined as never), streams: 0, maxStreams: this.#maxStreams, dead: false, idleTimer: undefined, refusedAt: 0,
    };
    entry.ready = this.#establish(entry, req);
    // Failures surface to every waiting connect(); this only keeps the rejection handled.
    entry.ready.catch(() => this.#kill(entry));
    return entry;
  }

  async #establish(entry: Entry, req: HboneConnectRequest): Promise<http2.ClientHttp2Session> {
    const cert = 'provider' in req.sourceCert ? await req.sourceCert.provider.get(req.sourceCert.identity) : req.sourceCert;
    const socket = await dialHboneTls({
      cert, destinationIdentity: req.destinationIdentity, address: req.address, dial: req.dial ?? defaultDialer,
      contexts: this.#contexts, timeoutMs: this.#connectTimeoutMs,
    });
    const endpoint = formatHostPort(entry.host, entry.port);
    const session = http2.connect(`https://${endpoint}`, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: this.#tuning.streamWindow, maxFrameSize: this.#tuning.maxFrameSize },
      maxSessionMemory: this.#tuning.maxSessionMemoryMb,
      peerMaxConcurrentStreams: this.#maxStreams,
    });
    entry.session = session;
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    const log = this.#log.child({ endpoint, source: entry.identity });
    session.on('error', (err) => {
      log.debug('session error', { err });
      this.#kill(entry);
    });
    session.once('goaway', () => this.#kill(entry));
    session.once('close', () => this.#kill(entry));
    session.on('remoteSettings', (s: http2.Settings) => {
      entry.maxStreams = Math.min(this.#maxStreams, s.maxConcurrentStreams ?? this.#maxStreams);
    });
    if (entry.dead) {
      session.destroy();
      throw new WeftError(HboneErrorCode.session, `HBONE session to ${endpoint} was dropped while connecting`);
    }
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => reject(new WeftError(HboneErrorCode.session, `HBONE session to ${endpoint} failed: ${errorMessage(err)}`, { cause: err }));
      session.once('connect', () => {
        session.off('error', fail);
        session.off('close', fail);
        resolve();
      });
      session.once('error', fail);
      session.once('close', () => fail(new Error('closed')));
    });
    try {
      session.setLocalWindowSize(this.#tuning.connectionWindow);
    } catch (err) {
      log.debug('could not raise connection window', { err });
    }
    log.debug('HBONE session established');
    return session;
  }

  #requestHeaders(req: HboneConnectRequest, session: http2.ClientHttp2Session): http2.OutgoingHttpHeaders {
    const h = req.headers ?? {};
    const src = req.sourceAddress ?? { host: session.socket.localAddress ?? '', port: session.socket.localPort ?? 0 };
    const headers: http2.OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: 'CONNECT',
      [HTTP2_HEADER_AUTHORITY]: req.authority,
      forwarded: h.forwarded ?? forwardedFor(src.host, src.port, req.serviceHostname),
      traceparent: h.traceparent ?? newTraceparent(),
    };
    if (h.baggage !== undefined) headers['baggage'] = h.baggage;
    return headers;
  }

  #awaitResponse(stream: http2.ClientHttp2Stream, req: HboneConnectRequest, entry: Entry): Promise<number> {
    const endpoint = formatHostPort(entry.host, entry.port);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new WeftError(HboneErrorCode.session, `HBONE CONNECT ${req.authority} via ${endpoint}: no response within ${this.#responseTimeoutMs} ms`));
      }, this.#responseTimeoutMs);
      const onResponse = (headers: http2.IncomingHttpHeaders): void => {
        cleanup();
        const status = Number(headers[HTTP2_HEADER_STATUS]);
        if (status === 200) {
          resolve(status);
          return;
        }
        stream.close();
        reject(errorForStatus(status, req.authority, endpoint));
      };
      const onFail = (err?: unknown): void => {
        cleanup();
        const code = stream.rstCode;
        if (code === http2.constants.NGHTTP2_REFUSED_STREAM || code === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) {
          entry.refusedAt = Date.now();
          reject(new RefusedStream(HboneErrorCode.session, `HBONE CONNECT ${req.authority} via ${endpoint}: stream refused by the peer (code ${code})`));
          return;
        }
        reject(new WeftError(HboneErrorCode.session, `HBONE CONNECT ${req.authority} via ${endpoint} failed before a response: ${err === undefined ? `stream closed (code ${stream.rstCode ?? '?'})` : errorMessage(err)}`, { cause: err }));
      };
      const onClose = (): void => onFail();
      const cleanup = (): void => {
        clearTimeout(timer);
        stream.off('response', onResponse);
        stream.off('error', onFail);
        stream.off('close', onClose);
      };
      stream.once('response', onResponse);
      stream.once('error', onFail);
      stream.once('close', onClose);
    });
  }

  #release(entry: Entry): void {
    entry.streams--;
    if (entry.streams > 0 || entry.dead) return;
    entry.idleTimer = setTimeout(() => {
      this.#log.debug('closing idle HBONE session', { endpoint: formatHostPort(entry.host, entry.port) });
      this.#kill(entry);
    }, this.#idleTimeoutMs);
    entry.idleTimer.unref();
  }

  /** Takes a session out of the pool; its open streams finish, no new ones are placed on it. */
  #kill(entry: Entry): void {
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (!entry.dead) {
      entry.dead = true;
      const list = this.#entries.get(entry.key);
      if (list !== undefined) {
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.#entries.delete(entry.key);
      }
    }
    const s = entry.session;
    if (s !== undefined && !s.closed && !s.destroyed) s.close();
  }
}
