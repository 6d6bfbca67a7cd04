// HBONE server: mutual TLS 1.3 + HTTP/2 CONNECT, as Istio's ztunnel answers on 15008.
// Sockets come from any listener (`handleConnection`), so a caller can accept inside another
// network namespace. The certificate is chosen by the socket's local address before TLS
// starts; each CONNECT stream is authorized, dialed and relayed on its own, and a failing
// stream never takes its connection down. A refused client certificate is answered with a
// TLS alert that names the reason, as Istio's ztunnel does, rather than a bare reset.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { errorMessage } from '#core/errors.ts';
import { silentLogger, type Logger } from '#core/log.ts';
import { parseAuthority, type HostPort } from '#core/hbone/authority.ts';
import type { AuthorizeResult, HboneConnectionInfo, HboneRequestContext, HboneServerEvent } from '#core/hbone/context.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { pickHboneHeaders } from '#core/hbone/headers.ts';
import { spiffeIdFromSan } from '#core/hbone/peer-identity.ts';
import { relay } from '#core/hbone/relay.ts';
import { emptyServerStats, type HboneServerStats } from '#core/hbone/server-stats.ts';
import { DEFAULT_MAX_STREAMS, SERVER_STREAM_HEADROOM, defaultTuning, type HboneTuning } from '#core/hbone/settings.ts';
import { HBONE_ALPN, hboneTlsOptions } from '#core/hbone/tls-context.ts';
import { TlsAlert, alertForVerifyError, sealAlert, serverTrafficSecret } from '#core/hbone/tls-alert.ts';

export type { AuthorizeResult, HboneConnectionInfo, HboneRequestContext, HboneServerEvent } from '#core/hbone/context.ts';

export interface HboneServerLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection (200: a pool's 100 plus headroom). */
  maxConcurrentStreams?: number;
  /** A TLS handshake must finish within this (10 s). */
  handshakeTimeoutMs?: number;
  /** connectUpstream must resolve within this, else 503 (10 s). */
  connectTimeoutMs?: number;
  tuning?: Partial<HboneTuning>;
}

export interface HboneServerOptions {
  /** The certificate to present on a socket accepted at `localAddress` (the destination workload's). */
  certificateFor(localAddress: string): Promise<WorkloadCertificate>;
  /** Client certificates must carry a SPIFFE id of this trust domain. */
  trustDomain: string;
  /**
   * Whether this endpoint serves the CONNECT target at all: a reason when it does not (an
   * address that is not the destination's), answered 400 before any policy is consulted, as
   * Istio's ztunnel answers a target outside the workload. Absent means every target.
   */
  checkTarget?(ctx: HboneRequestContext): string | undefined;
  /** Policy check per CONNECT; absent means allow. A throw counts as deny. */
  authorize?(ctx: HboneRequestContext): Promise<AuthorizeResult>;
  /** Opens the connection to the target; resolves once connected. A rejection answers 503. */
  connectUpstream(target: HostPort, ctx: HboneRequestContext): Promise<net.Socket | Duplex>;
  /** Tunnel lifecycle and handshake failures, for metrics and access logs. */
  onTunnel?(event: HboneServerEvent): void;
  logger?: Logger;
  limits?: HboneServerLimits;
}

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_STATUS, NGHTTP2_CONNECT_ERROR } = http2.constants;

/** IPv4-mapped IPv6 (`::ffff:10.0.0.1`, from dual-stack listeners) shown as plain IPv4. */
function plainAddress(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
}

interface TlsEndpoint {
  server: tls.Server;
  identity: string;
}

/** How long a refused connection waits for the peer to close after the alert before it is destroyed. */
const ALERT_LINGER_MS = 1000;

/** A connection's addresses and ports: the same on the accepted socket and the TLS socket over it. */
function tupleOf(s: net.Socket): string {
  return `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}|${s.localAddress ?? ''}|${s.localPort ?? 0}`;
}

export class HboneServer {
  readonly #opts: HboneServerOptions;
  readonly #log: Logger;
  readonly #stats = emptyServerStats();
  readonly #h2: http2.Http2Server;
  readonly #tuning: HboneTuning;
  readonly #handshakeTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  /** One non-listening tls.Server per certificate: OpenSSL verifies the client chain, Node reports failures. */
  readonly #endpoints = new Map<string, TlsEndpoint>();
  readonly #sockets = new Set<net.Socket | Duplex>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #listeners = new Set<net.Server>();
  readonly #connInfo = new WeakMap<http2.ServerHttp2Session, HboneConnectionInfo>();
  /** Accepted sockets by address tuple, to write an alert under the TLS layer that owns them. */
  readonly #raw = new Map<string, net.Socket>();
  /** The server's application traffic secret per handshake in progress, dropped once checked. */
  readonly #secrets = new WeakMap<tls.TLSSocket, Buffer>();
  #nextConnectionId = 0;
  #closed = false;

  constructor(options: HboneServerOptions) {
    this.#opts = options;
    this.#log = (options.logger ?? silentLogger).child({ component: 'hbone-server' });
    this.#tuning = { ...defaultTuning, ...options.limits?.tuning };
    this.#handshakeTimeoutMs = options.limits?.handshakeTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.limits?.connectTimeoutMs ?? 10_000;
    this.#h2 = http2.createServer({
      settings: {
        maxConcurrentStreams: options.limits?.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS + SERVER_STREAM_HEADROOM,
        initialWindowSize: this.#tuning.streamWindow,
        maxFrameSize: this.#tuning.maxFrameSize,
        enableConnectProtocol: false,
      },
      maxSessionMemory: this.#tuning.maxSessionMemoryMb,
    });
    this.#h2.on('session', (session) => this.#onSession(session));
    this.#h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  /** Counters so far (a copy). */
  stats(): HboneServerStats {
    return { ...this.#stats };
  }

  /** Takes an accepted TCP socket from any listener and serves HBONE on it. */
  handleConnection(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#stats.connectionsAccepted++;
    this.#stats.connectionsActive++;
    this.#sockets.add(socket);
    const tuple = tupleOf(socket);
    this.#raw.set(tuple, socket);
    socket.once('close', () => {
      this.#stats.connectionsActive--;
      this.#sockets.delete(socket);
      if (this.#raw.get(tuple) === socket) this.#raw.delete(tuple);
    });
    // Until TLS owns the socket, a reset must not become an unhandled error.
    const early = (err: Error): void => this.#log.debug('connection error before TLS', { err });
    socket.on('error', early);
    socket.setNoDelay(true);
    // A FIN from the client ends the connection (HTTP/2 carries half-close per stream).
    socket.allowHalfOpen = false;
    const localAddress = plainAddress(socket.localAddress);
    this.#opts.certificateFor(localAddress).then(
      (cert) => {
        socket.off('error', early);
        if (socket.destroyed) return;
        this.#endpointFor(cert).server.emit('connection', socket);
      },
      (err: unknown) => {
        this.#log.warn('no certificate for local address; closing connection', { localAddress, err: errorMessage(err) });
        this.#handshakeFailed(socket, 'WEFT_ERR_HBONE_NO_CERT', `no certificate for ${localAddress}: ${errorMessage(err)}`);
        socket.destroy();
      },
    );
  }

  /** Convenience: listen on `port` at `host` and feed every accepted socket to handleConnection. */
  listen(port: number, host: string): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (s) => this.handleConnection(s));
    this.#listeners.add(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Stops listening, sends GOAWAY on every session, and destroys what is left after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    this.#closed = true;
    const stopped = Promise.all([...this.#listeners].map((l) => new Promise<void>((r) => l.close(() => r()))));
    this.#listeners.clear();
    for (const s of this.#sessions) s.close();
    const deadline = Date.now() + graceMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.#sockets) s.destroy();
    // A listener's close callback waits for its connections; bound the wait rather than trust its count.
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 200).unref())]);
  }

  #endpointFor(cert: WorkloadCertificate): TlsEndpoint {
    let ep = this.#endpoints.get(cert.certPem);
    if (ep !== undefined) return ep;
    const server = tls.createServer({
      ...hboneTlsOptions(cert),
      ALPNProtocols: HBONE_ALPN,
      requestCert: true,
      // Verified in #onSecure so a rejection is logged and counted rather than silently dropped.
      rejectUnauthorized: false,
      handshakeTimeout: this.#handshakeTimeoutMs,
    });
    server.on('secureConnection', (s) => this.#onSecure(s, cert.identity));
    server.on('keylog', (line, s) => {
      const secret = serverTrafficSecret(line);
      if (secret !== undefined) this.#secrets.set(s, secret);
    });
    server.on('tlsClientError', (err, s) => {
      this.#handshakeFailed(s, 'WEFT_ERR_HBONE_TLS', errorMessage(err));
      s.destroy();
    });
    // A renewed certificate replaces its predecessor for new connections; live ones keep theirs.
    for (const [pem, old] of this.#endpoints) if (old.identity === cert.identity) this.#endpoints.delete(pem);
    if (this.#endpoints.size >= 512) {
      const oldest = this.#endpoints.keys().next();
      if (oldest.done !== true) this.#endpoints.delete(oldest.value);
    }
    ep = { server, identity: cert.identity };
    this.#endpoints.set(cert.certPem, ep);
    return ep;
  }

  #handshakeFailed(s: net.Socket, code: string, reason: string): void {
    this.#stats.tlsFailures++;
    const event = {
      type: 'handshake_failed' as const, peerAddress: plainAddress(s.remoteAddress), peerPort: s.remotePort ?? 0,
      localAddress: plainAddress(s.localAddress), localPort: s.localPort ?? 0, responseFlags: 'TLS_FAILURE' as const, code, reason,
    };
    this.#log.warn('HBONE handshake failed', { peer: `${event.peerAddress}:${event.peerPort}`, local: `${event.localAddress}:${event.localPort}`, code, reason });
    this.#emit(event);
  }

  #onSecure(s: tls.TLSSocket, localIdentity: string): void {
    if (this.#closed) {
      s.destroy();
      return;
    }
    s.on('error', (err) => this.#log.debug('connection error', { err }));
    const secret = this.#secrets.get(s);
    this.#secrets.delete(s);
    const peerCert = s.getPeerX509Certificate();
    if (!s.authorized) {
      const alert = peerCert === undefined ? TlsAlert.certificateRequired : alertForVerifyError(String(s.authorizationError));
      this.#handshakeFailed(s, 'WEFT_ERR_HBONE_TLS', peerCert === undefined ? 'no client certificate' : `client certificate rejected: ${String(s.authorizationError)}`);
      this.#refuse(s, secret, alert);
      return;
    }
    const peer = spiffeIdFromSan(peerCert?.subjectAltName, this.#opts.trustDomain);
    if (!peer.ok) {
      this.#stats.peerIdentityRejected++;
      this.#handshakeFailed(s, 'WEFT_ERR_HBONE_PEER_IDENTITY', `client certificate rejected: ${peer.reason}`);
      // rustls reports a SAN outside the trust domain as an "other" certificate error.
      this.#refuse(s, secret, TlsAlert.certificateUnknown);
      return;
    }
    const info: HboneConnectionInfo = {
      connectionId: ++this.#nextConnectionId,
      peerIdentity: peer.identity,
      peerAddress: plainAddress(s.remoteAddress),
      peerPort: s.remotePort ?? 0,
      localAddress: plainAddress(s.localAddress),
      localPort: s.localPort ?? 0,
      localIdentity,
    };
    this.#pendingInfo = info;
    this.#h2.emit('connection', s);
    this.#pendingInfo = undefined;
  }

  /**
   * Ends a connection whose client certificate was refused with a fatal TLS alert, written
   * under the TLS layer (Node offers no call for it). The peer is given a moment to read it
   * and close; what it still sends is discarded, so the close is a FIN, not a reset.
   */
  #refuse(s: tls.TLSSocket, secret: Buffer | undefined, alert: TlsAlert): void {
    const raw = this.#raw.get(tupleOf(s));
    const record = secret === undefined ? undefined : sealAlert(secret, s.getCipher().standardName, alert);
    if (raw === undefined || raw.destroyed || record === undefined) {
      s.destroy();
      return;
    }
    const linger = setTimeout(() => s.destroy(), ALERT_LINGER_MS);
    linger.unref();
    s.once('close', () => clearTimeout(linger));
    s.resume();
    raw.end(record);
  }

  /** Handed from #onSecure to the synchronous 'session' event of the same emit. */
  #pendingInfo: HboneConnectionInfo | undefined;

  #onSession(session: http2.ServerHttp2Session): void {
    const info = this.#pendingInfo;
    if (info === undefined) {
      session.destroy();
      return;
    }
    this.#connInfo.set(session, info);
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err) => this.#log.debug('session error', { connectionId: info.connectionId, err }));
    try {
      session.setLocalWindowSize(this.#tuning.connectionWindow);
    } catch (err) {
      this.#log.debug('could not raise connection window', { err });
    }
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err) => this.#log.debug('stream error', { err }));
    const info = this.#connInfo.get(stream.session as http2.ServerHttp2Session);
    if (info === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.#stats.streamsActive++;
    stream.once('close', () => this.#stats.streamsActive--);
    const method = headers[HTTP2_HEADER_METHOD];
    const authority = headers[HTTP2_HEADER_AUTHORITY];
    if (method !== 'CONNECT') {
      this.#reject(stream, info, undefined, 400, 'BAD_REQUEST', HboneErrorCode.badRequest, `method ${String(method)} is not CONNECT`);
      return;
    }
    const target = typeof authority === 'string' ? parseAuthority(authority) : undefined;
    if (target === undefined) {
      this.#reject(stream, info, undefined, 400, 'BAD_REQUEST', HboneErrorCode.badRequest, `bad authority ${JSON.stringify(authority)}`);
      return;
    }
    const ctx: HboneRequestContext = { ...info, streamId: stream.id ?? 0, target, headers: pickHboneHeaders(headers) };
    void this.#serve(stream, ctx);
  }

  async #serve(stream: http2.ServerHttp2Stream, ctx: HboneRequestContext): Promise<void> {
    let wrongTarget: string | undefined;
    try {
      wrongTarget = this.#opts.checkTarget?.(ctx);
    } catch (err) {
      wrongTarget = `target check failed: ${errorMessage(err)}`;
    }
    if (wrongTarget !== undefined) {
      this.#reject(stream, ctx, ctx, 400, 'BAD_REQUEST', HboneErrorCode.badRequest, wrongTarget);
      return;
    }
    if (this.#opts.authorize !== undefined) {
      let decision: AuthorizeResult;
      try {
        decision = await this.#opts.authorize(ctx);
      } catch (err) {
        decision = { allow: false, reason: `authorization failed: ${errorMessage(err)}` };
      }
      if (!decision.allow) {
        this.#reject(stream, ctx, ctx, 401, 'DENY', HboneErrorCode.denied, decision.reason);
        return;
      }
    }
    if (stream.destroyed) return;
    let upstream: net.Socket | Duplex;
    try {
      upstream = await this.#dial(ctx);
    } catch (err) {
      this.#reject(stream, ctx, ctx, 503, 'CONNECT', HboneErrorCode.upstream, `upstream ${ctx.target.host}:${ctx.target.port}: ${errorMessage(err)}`);
      return;
    }
    if (stream.destroyed) {
      upstream.destroy();
      return;
    }
    // Half-close must be carried, not turned into a full close by the upstream socket.
    upstream.allowHalfOpen = true;
    if (upstream instanceof net.Socket) upstream.setNoDelay(true);
    stream.respond({ [HTTP2_HEADER_STATUS]: 200 }, { endStream: false });
    this.#stats.tunnelsOpened++;
    this.#emit({ type: 'tunnel_open', ctx });
    const started = performance.now();
    const result = await relay(stream, upstream, () => {
      if (!stream.destroyed) stream.close(NGHTTP2_CONNECT_ERROR);
    }, this.#tuning.relay);
    this.#stats.tunnelsClosed++;
    this.#stats.bytesToUpstream += result.toUpstream;
    this.#stats.bytesToTunnel += result.toTunnel;
    this.#emit({
      type: 'tunnel_close', ctx, status: 200, responseFlags: '-', bytesToUpstream: result.toUpstream, bytesToTunnel: result.toTunnel,
      durationMs: performance.now() - started, ...(result.error === undefined ? {} : { error: result.error.message }),
      ...(result.broken === undefined ? {} : { broken: result.broken }),
    });
  }

  #dial(ctx: HboneRequestContext): Promise<net.Socket | Duplex> {
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`connect timed out after ${this.#connectTimeoutMs} ms`));
      }, this.#connectTimeoutMs);
      this.#opts.connectUpstream(ctx.target, ctx).then(
        (s) => {
          clearTimeout(timer);
          // A connection that arrives after the 503 went out has no stream to serve.
          if (timedOut) s.destroy();
          else resolve(s);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  #reject(stream: http2.ServerHttp2Stream, info: HboneConnectionInfo, ctx: HboneRequestContext | undefined,
    status: 400 | 401 | 503, flag: 'BAD_REQUEST' | 'DENY' | 'CONNECT', code: string, reason: string): void {
    if (status === 400) this.#stats.badRequests++;
    else if (status === 401) this.#stats.denied++;
    else this.#stats.upstreamFailures++;
    this.#log.info('HBONE request rejected', { connectionId: info.connectionId, peer: info.peerIdentity, status, code, reason });
    this.#emit({ type: 'tunnel_rejected', connection: info, ...(ctx === undefined ? {} : { ctx }), status, responseFlags: flag, code, reason });
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ [HTTP2_HEADER_STATUS]: status }, { endStream: true });
  }

  #emit(event: HboneServerEvent): void {
    if (this.#opts.onTunnel === undefined) return;
    try {
      this.#opts.onTunnel(event);
    } catch (err) {
      this.#log.error('onTunnel callback threw', { err });
    }
  }
}
