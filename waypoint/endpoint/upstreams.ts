// The waypoint's way to endpoints: every upstream connection is an HBONE CONNECT stream to
// the endpoint pod's ztunnel (podIP:15008), opened with the waypoint's own identity and a
// `forwarded` header naming the original client, which the destination ztunnel believes
// from waypoints only. HTTP/1.1 goes through an undici Pool whose `connect` returns that
// stream. HTTP/2 (gRPC) uses node:http2 over the stream: undici negotiates HTTP/2 only
// through TLS ALPN, and inside HBONE the stream is cleartext with prior knowledge.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import type { CertificateProvider } from '#core/certs/types.ts';
import type { HostPort } from '#core/hbone/authority.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';

/** Opening the tunnel to an endpoint failed (Envoy's UF): nothing reached the app. */
export class ConnectFailure extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'ConnectFailure';
  }
}

export interface Endpoint {
  /** Pod IP and target port. */
  address: string;
  port: number;
  /** SPIFFE id the endpoint's ztunnel presents for it. */
  identity: string;
}

export interface UpstreamsOptions {
  certificates: CertificateProvider;
  identity: string;
  logger: Logger;
  connectTimeoutMs: number;
  /** Pools unused this long are closed (60 s). */
  idleMs?: number;
}

interface Entry<T> {
  value: T;
  lastUsed: number;
}

/** Original client + service host: what one upstream connection's `forwarded` header says. */
export interface Origin {
  source: HostPort;
  serviceHostname?: string;
}

export class Upstreams {
  readonly hbone: HbonePool;
  readonly #o: UpstreamsOptions;
  readonly #h1 = new Map<string, Entry<Pool>>();
  readonly #h2 = new Map<string, Entry<http2.ClientHttp2Session>>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(o: UpstreamsOptions) {
    this.#o = o;
    this.hbone = new HbonePool({ logger: o.logger, connectTimeoutMs: o.connectTimeoutMs, responseTimeoutMs: o.connectTimeoutMs });
    const idleMs = o.idleMs ?? 60_000;
    this.#sweep = setInterval(() => this.#closeIdle(idleMs), Math.min(idleMs, 10_000));
    this.#sweep.unref();
  }

  /** Opens one CONNECT stream to the endpoint (used by pools and by plain TCP forwarding). */
  connect(ep: Endpoint, origin: Origin): Promise<Duplex> {
    return this.hbone.connect({
      sourceCert: { provider: this.#o.certificates, identity: this.#o.identity },
      destinationIdentity: ep.identity,
      address: { host: ep.address, port: Ports.hbone },
      authority: `${ep.address.includes(':') ? `[${ep.address}]` : ep.address}:${ep.port}`,
      sourceAddress: origin.source,
      ...(origin.serviceHostname === undefined ? {} : { serviceHostname: origin.serviceHostname }),
    });
  }

  /**
   * The HTTP/1.1 pool for an endpoint as seen from one client: connections are keyed by the
   * client address too, because each carries that client in its CONNECT's `forwarded`.
   */
  http1(ep: Endpoint, origin: Origin): Pool {
    const key = `${ep.address}|${ep.port}|${origin.source.host}|${origin.serviceHostname ?? ''}`;
    const hit = this.#h1.get(key);
    if (hit !== undefined) {
      hit.lastUsed = Date.now();
      return hit.value;
    }
    const pool = new Pool(`http://${ep.address.includes(':') ? `[${ep.address}]` : ep.address}:${ep.port}`, {
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Timeouts are the route's business (interceptors), not a fixed pool default.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: (_opts, cb) => {
        this.connect(ep, origin).then((s) => cb(null, s as never), (err: unknown) => cb(new ConnectFailure(errorMessage(err), { cause: err }), null));
      },
    });
    pool.on('connectionError', () => undefined);
    this.#h1.set(key, { value: pool, lastUsed: Date.now() });
    return pool;
  }

  /** An HTTP/2 session over one CONNECT stream (prior knowledge), shared by that client's requests. */
  async http2(ep: Endpoint, origin: Origin): Promise<http2.ClientHttp2Session> {
    const key = `${ep.address}|${ep.port}|${origin.source.host}|${origin.serviceHostname ?? ''}`;
    const hit = this.#h2.get(key);
    if (hit !== undefined && !hit.value.closed && !hit.value.destroyed) {
      hit.lastUsed = Date.now();
      return hit.value;
    }
    const stream = await this.connect(ep, origin);
    const session = http2.connect(`http://${ep.address.includes(':') ? `[${ep.address}]` : ep.address}:${ep.port}`, { createConnection: () => stream });
    session.on('error', (err) => this.#o.logger.debug('upstream HTTP/2 session error', { endpoint: key, err }));
    session.once('close', () => {
      if (this.#h2.get(key)?.value === session) this.#h2.delete(key);
    });
    this.#h2.set(key, { value: session, lastUsed: Date.now() });
    return session;
  }

  stats(): { sessions: number; streams: number } {
    return this.hbone.stats();
  }

  #closeIdle(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const [k, e] of this.#h1) {
      if (e.lastUsed < cutoff) {
        this.#h1.delete(k);
        e.value.close().catch(() => undefined);
      }
    }
    for (const [k, e] of this.#h2) {
      if (e.lastUsed < cutoff) {
        this.#h2.delete(k);
        e.value.close();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    const pools = [...this.#h1.values()].map((e) => e.value.destroy().catch(() => undefined));
    for (const e of this.#h2.values()) e.value.destroy();
    this.#h1.clear();
    this.#h2.clear();
    await Promise.all(pools);
    await this.hbone.close(500);
  }
}
