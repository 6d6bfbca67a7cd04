// Where traffic enters the waypoint: HBONE on 15008 (mutual TLS, HTTP/2 CONNECT). Each
// CONNECT's bytes are handed, in process, to the HTTP/1.1 or HTTP/2 server or to the TCP
// forwarder, chosen from the Service port's appProtocol or from the first bytes. The
// connection's facts (peer identity, original destination, client address) travel with
// the in-process socket, so the request path never guesses them.
import type http from 'node:http';
import type http2 from 'node:http2';
import { duplexPair, type Duplex } from 'node:stream';
import type { CertificateProvider } from '#core/certs/types.ts';
import type { HostPort } from '#core/hbone/authority.ts';
import { forwardedSource } from '#core/hbone/forwarded.ts';
import { HboneServer, type HboneRequestContext } from '#core/hbone/server.ts';
import type { Logger } from '#core/log.ts';
import { Protocol, declaredProtocol, detectHttpVersion, detectProtocol } from '#waypoint/inbound/protocol.ts';

/** What is known about one tunnelled connection before any request is read. */
export interface Downstream {
  ctx: HboneRequestContext;
  /** The original destination the client addressed (a VIP or pod IP, and port). */
  target: HostPort;
  /** The client's address: from the source ztunnel's `forwarded`, else the tunnel peer. */
  source: HostPort;
  protocol: Protocol;
}

export interface InboundHandlers {
  /** The Service port's appProtocol for a destination, if the destination is a known Service. */
  appProtocolOf(target: HostPort): string | undefined;
  http1: http.Server;
  http2: http2.Http2Server;
  tcp(socket: Duplex, down: Downstream): void;
}

export interface InboundOptions {
  identity: string;
  trustDomain: string;
  certificates: CertificateProvider;
  logger: Logger;
  handlers: InboundHandlers;
  /** How long to wait for a client's first bytes before carrying the connection as TCP (1 s). */
  detectTimeoutMs?: number;
}

interface OpenConnection {
  down: Omit<Downstream, 'protocol'> & { protocol?: Protocol };
  since: number;
  /** The last request seen on it, as the HTTP server reported it. */
  last?: string;
}

/** Up to this many bytes are read to decide the protocol. */
const DETECT_MAX = 64;

function sourceOf(ctx: HboneRequestContext): HostPort {
  const ip = forwardedSource(ctx.headers.forwarded);
  return ip === undefined ? { host: ctx.peerAddress, port: ctx.peerPort } : { host: ip, port: 0 };
}

export class Inbound {
  readonly hbone: HboneServer;
  readonly #o: InboundOptions;
  readonly #down = new WeakMap<object, Downstream>();
  /** Set while a socket is handed to the HTTP/2 server, which creates its session synchronously. */
  #handing: Downstream | undefined;
  /** Connections being served, with when they arrived. */
  readonly #open = new Map<Duplex, OpenConnection>();

  constructor(o: InboundOptions) {
    this.#o = o;
    o.handlers.http2.on('session', (session) => {
      if (this.#handing !== undefined) this.#down.set(session, this.#handing);
    });
    this.hbone = new HboneServer({
      certificateFor: () => o.certificates.get(o.identity),
      trustDomain: o.trustDomain,
      logger: o.logger,
      connectUpstream: (target, ctx) => {
        const [outer, inner] = duplexPair();
        // The HBONE server relays its stream into `outer` once this resolves; the inner
        // end is served here after that, so no byte is read before the 200 is sent.
        setImmediate(() => this.#serve(inner, target, ctx));
        return Promise.resolve(outer);
      },
    });
  }

  /** Tunnelled client connections being served now (a count that only grows means they leak). */
  get openConnections(): number {
    return this.#open.size;
  }

  /** The connections being served, oldest first (for the config dump). */
  connections(): { target: string; source: string; peer: string; protocol: string; ageMs: number; last?: string; state: string }[] {
    const now = Date.now();
    return [...this.#open].map(([socket, { down, since, last }]) => ({
      target: `${down.target.host}:${down.target.port}`, source: down.source.host, peer: down.ctx.peerIdentity,
      protocol: down.protocol ?? 'detecting', ageMs: now - since, ...(last === undefined ? {} : { last }),
      state: `${socket.readableEnded ? 'read-ended' : 'reading'},${socket.writableEnded ? 'write-ended' : 'writing'}`,
    }));
  }

  /** Records the latest request on a connection, for the connection list. */
  noteRequest(socket: object, request: string): void {
    const entry = this.#open.get(socket as Duplex);
    if (entry !== undefined) entry.last = request;
  }

  /** The downstream facts of a socket (HTTP/1.1, TCP) or an HTTP/2 session. */
  downstreamOf(socket: object): Downstream | undefined {
    return this.#down.get(socket);
  }

  listen(port: number, host: string): ReturnType<HboneServer['listen']> {
    return this.hbone.listen(port, host);
  }

  close(graceMs?: number): Promise<void> {
    return this.hbone.close(graceMs);
  }

  #serve(socket: Duplex, target: HostPort, ctx: HboneRequestContext): void {
    socket.on('error', (err) => this.#o.logger.debug('inbound stream error', { err }));
    const declared = declaredProtocol(this.#o.handlers.appProtocolOf(target));
    const base = { ctx, target, source: sourceOf(ctx) };
    const entry: OpenConnection = { down: { ...base }, since: Date.now() };
    this.#open.set(socket, entry);
    socket.once('close', () => this.#open.delete(socket));
    if (declared === Protocol.http2 || declared === Protocol.tcp) {
      this.#dispatch(socket, { ...base, protocol: declared });
      return;
    }
    // Declared HTTP only leaves the HTTP version open; undeclared, anything that is not HTTP is TCP.
    const detect = declared === Protocol.http1 ? detectHttpVersion : detectProtocol;
    const fallback = declared === Protocol.http1 ? Protocol.http1 : Protocol.tcp;
    let head: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (protocol: Protocol): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (head.length > 0) socket.unshift(head);
      this.#dispatch(socket, { ...base, protocol });
    };
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const p = detect(head);
      if (p !== 'more') finish(p);
      else if (head.length >= DETECT_MAX) finish(fallback);
    };
    const onEnd = (): void => finish(fallback);
    // A server-first protocol never sends first: after the wait it is carried as TCP.
    const timer = setTimeout(() => finish(fallback), this.#o.detectTimeoutMs ?? 1000);
    socket.on('data', onData);
    socket.once('end', onEnd);
  }

  #dispatch(socket: Duplex, down: Downstream): void {
    this.#down.set(socket, down);
    const entry = this.#open.get(socket);
    if (entry !== undefined) entry.down.protocol = down.protocol;
    switch (down.protocol) {
      case Protocol.http1:
        this.#o.handlers.http1.emit('connection', socket);
        // Detection paused the socket; a 'data' listener does not resume an explicit pause.
        socket.resume();
        return;
      case Protocol.http2:
        this.#handing = down;
        try {
          this.#o.handlers.http2.emit('connection', socket);
        } finally {
          this.#handing = undefined;
        }
        socket.resume();
        return;
      case Protocol.tcp:
        this.#o.handlers.tcp(socket, down);
        return;
    }
  }
}
