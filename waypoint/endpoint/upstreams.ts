// The waypoint's way to endpoints: every upstream connection is an HBONE CONNECT stream to
// the endpoint pod's ztunnel (podIP:15008), opened with the waypoint's own identity and a
// `forwarded` header naming the original client, which the destination ztunnel believes
// from waypoints only. HTTP/1.1 goes through an undici Pool whose `connect` returns that
// stream. HTTP/2 (gRPC) uses node:http2 over the stream: undici negotiates HTTP/2 only
// through TLS ALPN, and inside HBONE the stream is cleartext with prior knowledge.
// A destination's DestinationRule bounds the connect (tcp.connectTimeout) and how many
// requests one connection carries (http.maxRequestsPerConnection); connections are kept
// apart per setting, so a changed rule never reuses one opened under the old.
// tcp.maxConnections bounds the connections a destination holds open, over all its endpoints
// and clients (connection-budget.ts): an HTTP/1.1 pool opens no more, and requests beyond wait
// in it for a free connection (the circuit breaker bounds how many, http1MaxPendingRequests);
// HTTP/2 opens one session per pool at a time, and a new one only once the budget allows.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import type { ConnectionSettings } from '#waypoint/backend/destinations.ts';
import { RetiringClient } from '#waypoint/endpoint/retiring-client.ts';
import { ConnectionBudget, type Release } from '#waypoint/endpoint/connection-budget.ts';
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
  /** Requests sent on it (HTTP/2 sessions). */
  requests: number;
  /** Streams open on it now (HTTP/2 sessions). */
  active: number;
  /** The destination whose maxConnections it counts against. */
  budget: string | undefined;
}

/** The HBONE pool's own bound: a destination's connectTimeout may be longer than the waypoint's default. */
const HBONE_CONNECT_CAP_MS = 60_000;

/** Sessions a request may wait for before it gives up (each one used up by requests ahead of it). */
const MAX_OPEN_TRIES = 64;

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
  /** HTTP/2 sessions being opened: concurrent first requests share one. */
  readonly #h2Opening = new Map<string, Promise<Entry<http2.ClientHttp2Session>>>();
  readonly #budgets = new Map<string, ConnectionBudget>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(o: UpstreamsOptions) {
    this.#o = o;
    const cap = Math.max(o.connectTimeoutMs, HBONE_CONNECT_CAP_MS);
    this.hbone = new HbonePool({ logger: o.logger, connectTimeoutMs: cap, responseTimeoutMs: cap });
    const idleMs = o.idleMs ?? 60_000;
    this.#sweep = setInterval(() => this.#closeIdle(idleMs), Math.min(idleMs, 10_000));
    this.#sweep.unref();
  }

  /**
   * Opens one CONNECT stream to the endpoint (used by pools and by plain TCP forwarding),
   * within `timeoutMs` (the waypoint's default when absent); past it a ConnectFailure, and a
   * stream that still opens later is closed at once.
   */
  connect(ep: Endpoint, origin: Origin, timeoutMs = this.#o.connectTimeoutMs): Promise<Duplex> {
    const opening = this.hbone.connect({
      sourceCert: { provider: this.#o.certificates, identity: this.#o.identity },
      destinationIdentity: ep.identity,
      address: { host: ep.address, port: Ports.hbone },
      authority: `${hostOf(ep.address)}:${ep.port}`,
      sourceAddress: origin.source,
      ...(origin.serviceHostname === undefined ? {} : { serviceHostname: origin.serviceHostname }),
    });
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new ConnectFailure(`no connection to ${ep.address}:${ep.port} within the ${timeoutMs} ms connect timeout`));
      }, timeoutMs);
      opening.then((stream) => {
        clearTimeout(timer);
        if (late) stream.destroy();
        else resolve(stream);
      }, (err: unknown) => {
        clearTimeout(timer);
        if (!late) reject(err instanceof ConnectFailure ? err : new ConnectFailure(errorMessage(err), { cause: err }));
      });
    });
  }

  /**
   * The HTTP/1.1 pool for an endpoint as seen from one client: connections are keyed by the
   * client address too, because each carries that client in its CONNECT's `forwarded`.
   */
  http1(ep: Endpoint, origin: Origin, settings: ConnectionSettings = {}): Pool {
    const key = poolKey(ep, origin, settings);
    const hit = this.#h1.get(key);
    if (hit !== undefined) {
      hit.lastUsed = Date.now();
      return hit.value;
    }
    const max = settings.maxRequestsPerConnection;
    const budget = this.#budget(settings);
    const pool = new Pool(`http://${hostOf(ep.address)}:${ep.port}`, {
      connections: Math.min(256, settings.maxConnections ?? 256),
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Timeouts are the route's business (interceptors), not a fixed pool default.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: (_opts, cb) => {
        this.#budgeted(budget, () => this.connect(ep, origin, settings.connectTimeoutMs)).then((s) => cb(null, s as never), (err: unknown) => cb(err as Error, null));
      },
      ...(max === undefined ? {} : { factory: (o: string | URL, opts: object) => new RetiringClient(o, opts, max) }),
    });
    pool.on('connectionError', () => undefined);
    this.#h1.set(key, { value: pool, lastUsed: Date.now(), requests: 0, active: 0, budget: budgetKey(settings) });
    return pool;
  }

  /**
   * One request on the HTTP/2 session (prior knowledge, over one CONNECT stream) that this
   * client's requests to the endpoint share. A session that carried maxRequestsPerConnection
   * requests takes no more and closes once they are done. Connect failures reject with
   * ConnectFailure.
   */
  async http2Request(ep: Endpoint, origin: Origin, settings: ConnectionSettings, headers: http2.OutgoingHttpHeaders, options: http2.ClientSessionRequestOptions): Promise<http2.ClientHttp2Stream> {
    const key = poolKey(ep, origin, settings);
    let entry = this.#h2.get(key);
    // Requests that waited for one opening session may have used it up (maxRequestsPerConnection): the rest wait for the next.
    for (let tries = 0; entry === undefined || entry.value.closed || entry.value.destroyed; tries++) {
      if (tries === MAX_OPEN_TRIES) throw new ConnectFailure(`no usable HTTP/2 session to ${ep.address}:${ep.port} after ${tries} tries`);
      await this.#openHttp2(key, ep, origin, settings);
      entry = this.#h2.get(key);
    }
    entry.lastUsed = Date.now();
    entry.requests++;
    entry.active++;
    const req = entry.value.request(headers, options);
    const counted = entry;
    req.once('close', () => { counted.active--; });
    const max = settings.maxRequestsPerConnection;
    if (max !== undefined && entry.requests >= max) {
      this.#h2.delete(key);
      // Closed once this last request is over (a close now would take its stream, not yet
      // sent, with it); the others still open on the session finish first.
      const session = entry.value;
      req.once('close', () => session.close());
    }
    return req;
  }

  /** One session per pool key at a time: requests that find it opening wait for it. */
  #openHttp2(key: string, ep: Endpoint, origin: Origin, settings: ConnectionSettings): Promise<Entry<http2.ClientHttp2Session>> {
    const opening = this.#h2Opening.get(key);
    if (opening !== undefined) return opening;
    const budget = this.#budget(settings);
    const open = (async (): Promise<Entry<http2.ClientHttp2Session>> => {
      const release = budget === undefined ? undefined : await budget.acquire();
      let stream: Duplex;
      try {
        stream = await this.connect(ep, origin, settings.connectTimeoutMs);
      } catch (err) {
        release?.();
        throw err;
      }
      const session = http2.connect(`http://${hostOf(ep.address)}:${ep.port}`, { createConnection: () => stream });
      session.on('error', (err) => this.#o.logger.debug('upstream HTTP/2 session error', { endpoint: key, err }));
      session.once('close', () => {
        release?.();
        if (this.#h2.get(key)?.value === session) this.#h2.delete(key);
      });
      const entry = { value: session, lastUsed: Date.now(), requests: 0, active: 0, budget: budgetKey(settings) };
      this.#h2.set(key, entry);
      return entry;
    })();
    this.#h2Opening.set(key, open);
    const forget = (): void => {
      if (this.#h2Opening.get(key) === open) this.#h2Opening.delete(key);
    };
    open.then(forget, forget);
    return open;
  }

  /** The connection count of the settings' destination, when it has a maxConnections. */
  #budget(settings: ConnectionSettings): ConnectionBudget | undefined {
    const k = budgetKey(settings);
    if (k === undefined || settings.maxConnections === undefined) return undefined;
    let b = this.#budgets.get(k);
    if (b === undefined) {
      b = new ConnectionBudget(settings.maxConnections, () => this.#closeIdleOf(k));
      this.#budgets.set(k, b);
    }
    return b;
  }

  /** Opens a connection under the budget; the slot is freed when it closes or fails to open. */
  async #budgeted(budget: ConnectionBudget | undefined, open: () => Promise<Duplex>): Promise<Duplex> {
    if (budget === undefined) return open();
    const release: Release = await budget.acquire();
    if (this.#closed) {
      release();
      throw new ConnectFailure('the waypoint is shutting down');
    }
    try {
      const stream = await open();
      if (stream.destroyed) release();
      else stream.once('close', release);
      return stream;
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * A connection waits for the destination's budget: pools of that destination with nothing
   * in flight let go of theirs (a pool of another client or endpoint may hold every slot idle).
   */
  #closeIdleOf(budget: string): void {
    for (const [k, e] of this.#h1) {
      const s = e.value.stats;
      if (e.budget === budget && s.connected > 0 && s.running === 0 && s.pending === 0) {
        this.#h1.delete(k);
        e.value.close().catch(() => undefined);
      }
    }
    for (const [k, e] of this.#h2) {
      if (e.budget === budget && e.active === 0) {
        this.#h2.delete(k);
        e.value.close();
      }
    }
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
    for (const [k, b] of this.#budgets) if (b.open === 0 && b.waiting === 0) this.#budgets.delete(k);
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

function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Connections are kept per endpoint, client (named in each CONNECT's `forwarded`), service host and connection settings. */
function poolKey(ep: Endpoint, origin: Origin, settings: ConnectionSettings): string {
  return `${ep.address}|${ep.port}|${origin.source.host}|${origin.serviceHostname ?? ''}|${settings.maxRequestsPerConnection ?? ''}|${settings.connectTimeoutMs ?? ''}|${budgetKey(settings) ?? ''}`;
}

/** A destination and its maxConnections: a changed limit starts a fresh count. */
function budgetKey(settings: ConnectionSettings): string | undefined {
  return settings.maxConnections === undefined || settings.cluster === undefined ? undefined : `${settings.cluster}|${settings.maxConnections}`;
}
