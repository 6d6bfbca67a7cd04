// One waypoint wired from its inputs: config state, certificate, the HBONE inbound with its
// in-process HTTP/1.1 and HTTP/2 servers, the upstream pools, telemetry and the admin
// servers. Each request is planned (authorization, routes) by pure code, then carried out
// here: the only place where requests meet sockets besides inbound/ and endpoint/.
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { Readable, pipeline, type Duplex } from 'node:stream';
import { startAdmin, type ListenFactory, type RunningAdmin } from '#core/admin/server.ts';
import type { CertificateStatus } from '#core/certs/manager.ts';
import type { CertificateProvider } from '#core/certs/types.ts';
import type { ApplyResult, ConfigUpdate } from '#core/config/client.ts';
import { resourceKey, type Service, type Workload } from '#core/config/model.ts';
import { errorMessage } from '#core/errors.ts';
import type { HostPort } from '#core/hbone/authority.ts';
import type { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { serviceOfWorkload, tcpLabels } from '#core/telemetry/labels.ts';
import { endpointOf, type ChosenEndpoint } from '#waypoint/backend/endpoints.ts';
import { Destinations, type Acquired, type PoolUse } from '#waypoint/backend/destinations.ts';
import { Upstreams, type Origin } from '#waypoint/endpoint/upstreams.ts';
import { Inbound, type Downstream } from '#waypoint/inbound/server.ts';
import { Protocol, declaredProtocol } from '#waypoint/inbound/protocol.ts';
import {
  MAX_BUFFERED_BODY, attempt, bufferBody, classify, rejoin, requestHeaders, responseHeaders,
  type AttemptFailure, type AttemptResult, type Forwarded, type OnResponse,
} from '#waypoint/request/forward-http1.ts';
import { attemptHttp2, expectsTrailers } from '#waypoint/request/forward-http2.ts';
import { ReplayBody } from '#waypoint/request/replay-body.ts';
import { grpcCodeFor, http1Exchange, http2Exchange, type ClientExchange } from '#waypoint/request/exchange.ts';
import { planRequest } from '#waypoint/request/plan.ts';
import { LocalRateLimiter, limitPlan, planIsLimited } from '#waypoint/policy/rate-limit.ts';
import { GlobalRateLimiter } from '#waypoint/policy/global-rate-limit.ts';
import { RedisClient } from '#waypoint/policy/redis.ts';
import { addResponseFlag } from '#waypoint/route/fault.ts';
import { retryWanted, type AttemptOutcome as RetryOutcome } from '#waypoint/route/retry.ts';
import type { Backend, HeaderMap, Plan, RequestFacts } from '#waypoint/request/plan-types.ts';
import { WaypointState } from '#waypoint/state/waypoint-state.ts';
import { AccessLog, type AccessLogSink } from '#core/telemetry/access-log.ts';
import type { Counter } from '#core/telemetry/metrics.ts';
import { WaypointMetrics, type RequestLabels } from '#waypoint/telemetry/metrics.ts';
import { B3_CLEARED, spanName, type RequestSpan, type WaypointTracing } from '#waypoint/telemetry/traces.ts';
import type { WaypointTelemetry } from '#core/config/telemetry.ts';

export interface WaypointOptions {
  namespace: string;
  name: string;
  identity: string;
  trustDomain: string;
  certificates: CertificateProvider;
  certificateStatus?: () => CertificateStatus[];
  logger: Logger;
  listenHost: string;
  /** 15008 unless given (0 picks a free port, for tests). */
  hbonePort?: number;
  admin?: { host: string; ports?: { admin: number; metrics: number; readiness: number }; listen?: ListenFactory } | false;
  connectTimeoutMs: number;
  accessLog?: AccessLogSink;
  random?: () => number;
  onQuit?: () => void;
  version?: string;
  /** Spans per request, when a collector is configured; the waypoint closes it. */
  tracing?: WaypointTracing;
  /** The Redis holding global rate-limit counters (BackendTrafficPolicy `type: Global`). */
  rateLimitRedis?: { host: string; port: number };
  /** Refuse requests under a global limit while Redis cannot answer; by default they pass. */
  rateLimitFailClosed?: boolean;
}

/** Envoy's answer when a DestinationRule connection pool limit is reached. */
const OVERFLOW: AttemptFailure = { status: 503, flags: 'UO', retriable: false, message: 'upstream connect error or disconnect/reset before headers. reset reason: overflow' };
/** One attempt at an endpoint, over whichever HTTP version the backend speaks; `last`: no retry can follow it. */
type SendAttempt = (a: { ep: ChosenEndpoint; got: Extract<Acquired, { kind: 'endpoint' }>; service: Service | undefined; headers: HeaderMap; signal: AbortSignal; last: boolean }, onResponse: OnResponse) => Promise<AttemptResult>;

/** Largest request head accepted (Envoy's default is 60 KiB; 431 beyond). */
const MAX_HEADER_BYTES = 60 * 1024;
/** How long a connection answered with a protocol error waits for the client to close (Envoy's delayed_close_timeout). */
const DELAYED_CLOSE_MS = 1000;
/** How long a mirror may take when its route sets no timeout. */
const MIRROR_TIMEOUT_MS = 30_000;
/** Mirrors under way at once; past it a request goes unmirrored (a mirror that never answers cannot pile up). */
const MAX_MIRRORS_IN_FLIGHT = 1024;

interface RequestRecord {
  started: number;
  down: Downstream;
  facts: RequestFacts;
  protocol: 'http' | 'grpc';
  requestBytes: number;
  responseBytes: number;
  endpoint?: ChosenEndpoint;
  service?: Service;
  flags: string;
  route?: string;
  grpcStatus?: string;
  /** A fault delay held the request (flag DI, whatever else happens). */
  delayed?: boolean;
  span?: RequestSpan;
}

export class Waypoint {
  readonly state = new WaypointState();
  readonly metrics: WaypointMetrics;
  readonly #o: WaypointOptions;
  readonly #log: Logger;
  readonly #inbound: Inbound;
  readonly #upstreams: Upstreams;
  #mirrorsInFlight = 0;
  readonly #destinations: Destinations;
  readonly #h1: http.Server;
  readonly #h2: http2.Http2Server;
  readonly #accessLog: AccessLog<Record<string, unknown>>;
  readonly #random: () => number;
  readonly #rateLimiter = new LocalRateLimiter();
  readonly #redis: RedisClient | undefined;
  readonly #globalLimiter: GlobalRateLimiter;
  readonly #rateLimited: Counter<'policy'>;
  #active = 0;
  /** Whether requests are access-logged: on unless a pushed Telemetry turns it off. */
  #accessLogOn = true;
  /** Connections already answered with a protocol error. */
  readonly #refused = new WeakSet<Duplex>();
  #admin: RunningAdmin | undefined;
  #hbonePort = 0;

  private constructor(o: WaypointOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'waypoint', waypoint: `${o.namespace}/${o.name}` });
    this.#random = o.random ?? Math.random;
    this.metrics = new WaypointMetrics(o.version === undefined ? {} : { tag: o.version });
    this.#accessLog = new AccessLog<Record<string, unknown>>({ sink: o.accessLog ?? process.stdout });
    this.#upstreams = new Upstreams({ certificates: o.certificates, identity: o.identity, logger: this.#log, connectTimeoutMs: o.connectTimeoutMs });
    this.metrics.readFrom({ hbonePool: () => this.#upstreams.stats(), activeRequests: () => this.#active });
    this.#destinations = new Destinations({ registry: this.metrics.registry, random: this.#random });
    this.#redis = o.rateLimitRedis === undefined ? undefined : new RedisClient(o.rateLimitRedis);
    this.#globalLimiter = new GlobalRateLimiter({ store: this.#redis, logger: this.#log, failClosed: o.rateLimitFailClosed === true });
    this.#rateLimited = this.metrics.registry.counter('weft_waypoint_rate_limited_total', 'Requests refused by a local rate limit (429, flag RL)', ['policy']);
    this.state.onChange(() => {
      this.#destinations.configure(this.state);
      this.#applyTelemetry();
    });
    this.#h1 = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, keepAliveTimeout: 60_000 }, (req, res) => {
      void this.#onHttp1(req, res).catch((err: unknown) => this.#internalError(res, err));
    });
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket));
    this.#h1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#onUpgrade(req, socket, head).catch((err: unknown) => {
        this.#log.debug('upgrade failed', { err: errorMessage(err) });
        socket.destroy();
      });
    });
    this.#h2 = http2.createServer({ maxSessionMemory: 32, maxHeaderListPairs: 256, maxSendHeaderBlockLength: MAX_HEADER_BYTES });
    this.#h2.on('stream', (stream, headers, flags: number) => {
      void this.#onHttp2(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0).catch((err: unknown) => {
        this.#log.warn('HTTP/2 request failed', { err: errorMessage(err) });
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
    });
    this.#h2.on('sessionError', (err) => this.#log.debug('downstream HTTP/2 session error', { err: errorMessage(err) }));
    this.#inbound = new Inbound({
      identity: o.identity, trustDomain: o.trustDomain, certificates: o.certificates, logger: this.#log,
      handlers: {
        appProtocolOf: (t) => this.#appProtocolOf(t),
        http1: this.#h1, http2: this.#h2,
        tcp: (socket, down) => this.#onTcp(socket, down),
      },
    });
    this.metrics.registry.gauge('weft_waypoint_downstream_connections', 'Client connections (CONNECT streams) being served', [],
      (g) => g.set({}, this.#inbound.openConnections));
  }

  static async start(o: WaypointOptions): Promise<Waypoint> {
    const wp = new Waypoint(o);
    try {
      const addr = await wp.#inbound.listen(o.hbonePort ?? Ports.hbone, o.listenHost);
      wp.#hbonePort = addr.port;
      if (o.admin !== false && o.admin !== undefined) {
        const ports = o.admin.ports ?? { admin: Ports.admin, metrics: Ports.metrics, readiness: Ports.readiness };
        wp.#admin = await startAdmin({
          configDump: () => wp.configDump(),
          certificates: () => o.certificateStatus?.() ?? [],
          readiness: () => wp.readiness(),
          registry: wp.metrics.registry,
          logger: o.logger,
          quit: () => o.onQuit?.(),
        }, {
          admin: { host: '127.0.0.1', port: ports.admin },
          metrics: { host: o.admin.host, port: ports.metrics },
          readiness: { host: o.admin.host, port: ports.readiness },
          ...(o.admin.listen === undefined ? {} : { listen: o.admin.listen }),
        });
      }
    } catch (err) {
      await wp.close();
      throw err;
    }
    return wp;
  }

  get hbonePort(): number { return this.#hbonePort; }
  get adminPorts(): RunningAdmin['ports'] | undefined { return this.#admin?.ports; }

  /** The one mutator: the config client hands every update here. */
  apply(update: ConfigUpdate): ApplyResult {
    const result = this.state.applyUpdate(update);
    for (const r of result.rejected) {
      this.metrics.configRejections.inc({ kind: r.kind });
      this.#log.warn('config resource rejected', { kind: r.kind, key: r.key, reason: r.reason });
    }
    return result;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.state.hasConfig) reasons.push('no config from the controller yet');
    return { ready: reasons.length === 0, reasons };
  }

  configDump(): unknown {
    return {
      waypoint: { namespace: this.#o.namespace, name: this.#o.name, identity: this.#o.identity },
      version: this.state.version,
      services: this.state.services().map((s) => ({ key: resourceKey.service(s), addresses: s.addresses, ports: s.ports })),
      routes: this.state.allRoutes(),
      policies: this.state.policies(),
      telemetry: redactTelemetry(this.state.telemetry()),
      // What tracing does now: the pushed exporter or the configured one (header values, which
      // may be credentials, left out), and the rate.
      tracing: this.#tracingDump(),
      destinations: this.#destinations.dump(),
      hbonePool: this.#upstreams.stats(),
      downstream: this.#inbound.connections(),
    };
  }

  #tracingDump(): unknown {
    const t = this.#o.tracing;
    const e = t?.exporter;
    if (t === undefined || e === undefined) return null;
    return { provider: e.provider, protocol: e.protocol ?? 'http', url: e.url, headers: Object.keys(e.headers ?? {}), samplingPercentage: t.samplingPercentage };
  }

  async close(): Promise<void> {
    await this.#inbound.close(500);
    this.#h1.closeAllConnections();
    this.#h1.close();
    this.#h2.close();
    await this.#upstreams.close();
    await this.#admin?.close();
    await this.#o.tracing?.close();
    this.#redis?.close();
  }

  // --- what a destination is ---------------------------------------------------------

  #resolve(target: HostPort): { service?: Service; workload?: Workload } {
    const service = this.state.serviceByVip(target.host);
    if (service !== undefined) return { service };
    const workload = this.state.workloadByAddress(target.host);
    if (workload === undefined) return {};
    const svc = serviceOfWorkload(workload, target.port, (k) => this.state.service(k));
    return svc === undefined ? { workload } : { workload, service: svc };
  }

  #appProtocolOf(target: HostPort): string | undefined {
    const { service } = this.#resolve(target);
    return service?.ports.find((p) => p.servicePort === target.port)?.appProtocol;
  }

  #facts(down: Downstream, method: string, path: string, authority: string, header: (n: string) => string | undefined): RequestFacts {
    const { service, workload } = this.#resolve(down.target);
    return {
      method, path, authority, header, port: down.target.port, scheme: 'http',
      ...(service === undefined ? {} : { service }),
      ...(workload === undefined ? {} : { workload }),
    };
  }

  /** The route's plan, then the rate limits: local buckets first, and Redis only when they let the request pass. */
  async #plan(down: Downstream, facts: RequestFacts): Promise<Plan> {
    const plan = this.#planRoute(down, facts);
    const limits = facts.service === undefined ? undefined : this.state.routes(resourceKey.service(facts.service))?.rateLimits;
    if (limits === undefined || facts.service === undefined || !planIsLimited(plan)) return plan;
    const serviceKey = resourceKey.service(facts.service);
    const req = { ...(plan.route === undefined ? {} : { route: plan.route }), header: facts.header, sourceIp: down.source.host };
    const verdict = this.#rateLimiter.check(serviceKey, limits, req);
    if (verdict.kind === 'deny') this.#rateLimited.inc({ policy: verdict.policy });
    const local = limitPlan(plan, verdict);
    if (verdict.kind === 'deny' || !GlobalRateLimiter.wanted(limits)) return local;
    const global = await this.#globalLimiter.check(serviceKey, limits, req);
    if (global.kind === 'error') {
      if (global.allowed) return local;
      return { kind: 'respond', status: 429, body: 'rate limit service unavailable', flags: 'RLSE', ...(plan.route === undefined ? {} : { route: plan.route }) };
    }
    if (global.kind === 'deny') this.#rateLimited.inc({ policy: global.policy });
    return limitPlan(local, global);
  }

  #planRoute(down: Downstream, facts: RequestFacts): Plan {
    return planRequest({
      state: this.state,
      facts,
      source: {
        ip: down.source.host,
        principal: down.ctx.peerIdentity,
        ...(this.state.workloadByAddress(down.source.host) === undefined ? {} : { workload: this.state.workloadByAddress(down.source.host) }),
      },
      destinationIp: down.target.host,
      random: this.#random,
    });
  }

  /** An endpoint for a request the DestinationRule's limits and outlier state do not see (mirrors, upgrades). */
  #pickEndpoint(backend: Backend): ChosenEndpoint | undefined {
    const got = this.#acquire(backend, 'http1');
    if (got.kind !== 'endpoint') return undefined;
    got.lease.end();
    return got.endpoint;
  }

  /** An endpoint under the destination's policy, held until the lease ends; a pod addressed directly has no policy. */
  #acquire(backend: Backend, use: PoolUse, rec?: RequestRecord, tried?: ReadonlySet<string>, retry = false): Acquired {
    if (backend.kind === 'workload') {
      const endpoint = endpointOf(backend.workload, backend.port);
      return endpoint === undefined ? { kind: 'none' } : { kind: 'endpoint', endpoint, lease: { end: () => undefined }, connection: {} };
    }
    return this.#destinations.acquire(this.state, {
      serviceKey: backend.serviceKey, port: backend.port, use, retry,
      ...(backend.subset === undefined ? {} : { subset: backend.subset }),
      ...(tried === undefined ? {} : { tried }),
      ...(rec === undefined ? {} : { hash: { header: rec.facts.header, sourceIp: rec.down.source.host, path: rec.facts.path } }),
    });
  }

  #origin(down: Downstream, service: Service | undefined): Origin {
    return { source: down.source, ...(service === undefined ? {} : { serviceHostname: service.hostname }) };
  }

  // --- HTTP/1.1 ------------------------------------------------------------------------

  async #onHttp1(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const down = this.#inbound.downstreamOf(req.socket);
    if (down === undefined) {
      res.destroy();
      return;
    }
    this.#inbound.noteRequest(req.socket, `${req.method ?? ''} ${req.url ?? ''}`);
    const header = headerReader(req.headers);
    const facts = this.#facts(down, req.method ?? 'GET', req.url ?? '/', req.headers.host ?? '', header);
    const rec = this.#begin(down, facts, 'http');
    const headBytes = (req.method?.length ?? 0) + (req.url?.length ?? 0) + req.rawHeaders.reduce((n, h) => n + h.length + 2, 12);
    rec.requestBytes = headBytes;
    req.on('data', (c: Buffer) => { rec.requestBytes += c.length; });
    // Counting must not start the flow before the body has somewhere to go.
    req.pause();
    const client = http1Exchange(req, res);
    const plan = await this.#plan(down, facts);
    if (plan.route !== undefined) rec.route = plan.route;
    await this.#faultDelay(rec, plan, (l) => client.onGone(l));
    if (plan.kind === 'respond') {
      rec.flags = plan.flags;
      req.resume();
      this.#reply(client, rec, plan.status, plan.body, plan.grpcStatus === undefined ? plan.headers : { ...plan.headers, 'grpc-status': String(plan.grpcStatus) });
      return;
    }
    const headers = requestHeaders(req);
    this.#addProxyHeaders(headers, rec);
    plan.editRequest(headers);
    if (plan.authority !== undefined) headers['host'] = plan.authority;
    await this.#forwardToHttp1(client, rec, plan, headers);
  }

  /** A fault delay, before anything is sent or answered; `onGone` ends it early when the client leaves. */
  async #faultDelay(rec: RequestRecord, plan: Plan, onGone: (listener: () => void) => void): Promise<void> {
    if (plan.delayMs === undefined) return;
    rec.delayed = true;
    const gone = new AbortController();
    onGone(() => gone.abort());
    await delay(plan.delayMs, gone.signal);
  }

  #reply(client: ClientExchange, rec: RequestRecord, status: number, body: string, headers: Record<string, string> = {}): void {
    if (rec.protocol === 'grpc') rec.grpcStatus = String(grpcCodeFor(status));
    rec.responseBytes += client.reply(status, body, headers);
    this.#finish(rec, status);
  }

  /**
   * Carries out a plan against an HTTP/1.1 backend for a client of either HTTP version:
   * attempts with retries and their backoff, per-attempt and overall timeouts, mirrors, and
   * the response streamed back. Every way it ends is recorded once.
   */
  async #forwardToHttp1(client: ClientExchange, rec: RequestRecord, plan: Forwarded, headers: HeaderMap): Promise<void> {
    const hasBody = client.body !== null;
    let body: Buffer | Readable | null = client.body;
    const replays = (plan.retry?.attempts ?? 0) > 0 || plan.mirrors.length > 0;
    let canReplay = !hasBody;
    if (client.body !== null && replays) {
      const read = await bufferBody(client.body, MAX_BUFFERED_BODY);
      if ('body' in read) {
        body = read.body;
        canReplay = true;
      } else {
        body = rejoin(read.prefix, client.body);
      }
    }
    if (canReplay) this.#mirror(plan, rec, headers, typeof headers['host'] === 'string' ? headers['host'] : rec.facts.authority, body as Buffer | null);
    const send: SendAttempt = (a, onResponse) => attempt({
      dispatcher: this.#upstreams.http1(a.ep, this.#origin(rec.down, a.service), a.got.connection),
      method: rec.facts.method, path: plan.path, headers: a.headers, body, signal: a.signal,
    }, onResponse);
    try {
      await this.#attempts(client, rec, plan, headers, 'http1', send, () => canReplay);
    } finally {
      // A body too large to keep was handed on through `rejoin`: once the exchange is over
      // (the backend answered early, or failed) what is still coming is read and dropped.
      // Left paused it would hold the client's connection open, unable even to see it close.
      if (body instanceof Readable && body !== client.body && client.body !== null) {
        body.destroy();
        if (!client.body.readableEnded && !client.body.destroyed) client.body.resume();
      }
    }
  }

  /**
   * Carries out a plan against an HTTP/2 backend (h2c, gRPC) for an HTTP/2 client. The body
   * streams to the first attempt while a bounded copy (MAX_BUFFERED_BODY) is kept for
   * retries; past the bound the request gets no retry.
   */
  async #forwardToHttp2(client: ClientExchange, rec: RequestRecord, plan: Forwarded, headers: HeaderMap): Promise<void> {
    const replay = client.body === null ? undefined : new ReplayBody(client.body, MAX_BUFFERED_BODY);
    const authority = plan.authority ?? rec.facts.authority;
    if (plan.mirrors.length > 0) {
      // The mirrors go once the body is whole (it streams to the primary meanwhile); a body past the bound has none.
      if (replay === undefined) this.#mirror(plan, rec, headers, authority, null);
      else void replay.whole().then((b) => { if (b !== undefined) this.#mirror(plan, rec, headers, authority, b); });
    }
    const send: SendAttempt = (a, onResponse) => attemptHttp2({
      open: (h, options) => this.#upstreams.http2Request(a.ep, this.#origin(rec.down, a.service), a.got.connection, h, options),
      headers: { ...a.headers, ':method': rec.facts.method, ':path': plan.path, ':authority': authority, ':scheme': 'http' },
      body: replay?.reader() ?? null, signal: a.signal, holdGrpcHead: !a.last,
    }, onResponse);
    try {
      await this.#attempts(client, rec, plan, headers, 'http2', send, () => replay?.replayable ?? true);
    } finally {
      replay?.release();
    }
  }

  /** The attempt loop for either backend protocol; records the request however it ends. */
  async #attempts(client: ClientExchange, rec: RequestRecord, plan: Forwarded, headers: HeaderMap, use: PoolUse, send: SendAttempt, canRetry: () => boolean): Promise<void> {
    const overall = new AbortController();
    let overallTimedOut = false;
    const overallTimer = plan.timeoutMs === undefined ? undefined : setTimeout(() => {
      overallTimedOut = true;
      overall.abort();
    }, plan.timeoutMs);
    client.onGone(() => overall.abort());
    const tried = new Set<string>();
    let made = 0;
    const attempts = 1 + (plan.retry?.attempts ?? 0);
    /** Whether attempt i may still be followed by another. */
    const moreAfter = (i: number): boolean => i < attempts - 1 && canRetry();
    let failure: AttemptFailure | undefined;
    try {
      for (let i = 0; i < attempts; i++) {
        if (i > 0 && plan.retry !== undefined && plan.retry.backoffMs > 0) await delay(plan.retry.backoffMs * 2 ** (i - 1), overall.signal);
        if (overall.signal.aborted || (i > 0 && !canRetry())) break;
        const got = this.#acquire(plan.backend, use, rec, plan.retry?.avoidTried === false ? undefined : tried, i > 0);
        made = i + 1;
        if (got.kind !== 'endpoint') {
          // A retry past maxRetries is not made; the last attempt's failure stands.
          if (got.kind === 'overflow' && i > 0 && failure !== undefined) break;
          failure = got.kind === 'overflow' ? OVERFLOW : { status: 503, flags: 'UH', retriable: false, message: 'no healthy upstream' };
          break;
        }
        const ep = got.endpoint;
        tried.add(ep.workload.uid);
        rec.endpoint = ep;
        const service = plan.backend.kind === 'service' ? this.state.service(plan.backend.serviceKey) : rec.facts.service;
        if (service !== undefined) rec.service = service;
        const one = new AbortController();
        let attemptTimedOut = false;
        const attemptTimer = plan.attemptTimeoutMs === undefined ? undefined : setTimeout(() => {
          attemptTimedOut = true;
          one.abort();
        }, plan.attemptTimeoutMs);
        const onOverall = (): void => one.abort();
        overall.signal.addEventListener('abort', onOverall, { once: true });
        let outcome: { status: number } | { failed: true } | undefined;
        try {
          let relayed = false;
          const last = !moreAfter(i);
          const result = await send({ ep, got, service, headers: { ...headers, 'x-envoy-attempt-count': String(i + 1) }, signal: one.signal, last }, (status, responseHead, complete) => {
            const gsText = responseHead['grpc-status'];
            const gs = Number(gsText ?? Number.NaN);
            const retriable = plan.retry !== undefined && retryWanted(plan.retry, Number.isInteger(gs) ? { status, grpcStatus: gs } : { status });
            // Asked now: the body may have outgrown its copy while this attempt ran.
            if ((retriable && moreAfter(i)) || client.gone()) return 'discard';
            // The retries ran out on a status they retry: Envoy passes the last answer on, flagged URX.
            if (retriable && i > 0) rec.flags = 'URX';
            if (typeof gsText === 'string') rec.grpcStatus = gsText;
            const out = responseHeaders(responseHead);
            plan.editResponse(out);
            if (got.setCookie !== undefined) out['set-cookie'] = [...[out['set-cookie'] ?? []].flat(), got.setCookie];
            client.respond(status, out, complete === true ? { end: true } : { trailers: use === 'http2' && expectsTrailers(responseHead) });
            relayed = true;
            return {
              write: (chunk) => {
                if (client.gone()) return true;
                rec.responseBytes += chunk.length;
                return client.sink.write(chunk);
              },
              onDrain: (resume) => client.sink.once('drain', resume),
              end: (trailers) => {
                const tgs = trailers?.['grpc-status'];
                if (typeof tgs === 'string') rec.grpcStatus = tgs;
                client.finish(trailers);
              },
            };
          });
          outcome = result.kind === 'failed' ? (result.status === undefined ? { failed: true } : { status: result.status }) : { status: result.status };
          // A client that left made no verdict on the endpoint.
          if (result.kind === 'failed' && client.gone()) outcome = undefined;
          if (result.kind === 'relayed') {
            this.#finish(rec, result.status);
            return;
          }
          if (result.kind === 'discarded') {
            if (client.gone()) break;
            failure = { status: result.status, flags: 'URX', retriable: true, message: `retried on ${result.status}` };
            continue;
          }
          if (relayed) {
            // The head went out, so the body breaking off can only be passed on as a broken response.
            rec.flags = overallTimedOut || attemptTimedOut ? 'UT' : client.gone() ? 'DC' : 'UR';
            client.abort();
            this.#finish(rec, result.status ?? 0);
            return;
          }
          failure = classify(result.error, attemptTimedOut || overallTimedOut);
          if (!failure.retriable || overallTimedOut) break;
          if (plan.retry !== undefined && !retryWanted(plan.retry, failureOutcome(failure))) break;
        } finally {
          got.lease.end(outcome);
          clearTimeout(attemptTimer);
          overall.signal.removeEventListener('abort', onOverall);
        }
      }
    } finally {
      clearTimeout(overallTimer);
    }
    if (client.gone() && !overallTimedOut) {
      rec.flags = 'DC';
      this.#finish(rec, 0);
      return;
    }
    const f = overallTimedOut ? classify(undefined, true) : failure ?? { status: 503, flags: 'UF', retriable: false, message: 'no attempt made' };
    rec.flags = made > 1 && f.flags !== 'UT' && f.flags !== 'UH' && f.flags !== 'UO' ? 'URX' : f.flags;
    this.#reply(client, rec, f.status, f.message);
  }

  /**
   * Sends a copy of the request to each mirror, fire and forget: the answer is read and
   * dropped, the host gets Envoy's -shadow suffix, and a mirror that is slow or fails never
   * touches the client's exchange. Each speaks its backend's protocol (HTTP/1.1, or HTTP/2 for
   * h2c and gRPC ports). A mirror ends within the route's timeout (30 s without one), and
   * past MAX_MIRRORS_IN_FLIGHT under way more are skipped, so a mirror that never answers
   * cannot pile up.
   */
  #mirror(plan: Forwarded, rec: RequestRecord, headers: HeaderMap, host: string, body: Buffer | null): void {
    for (const m of plan.mirrors) {
      if (this.#mirrorsInFlight >= MAX_MIRRORS_IN_FLIGHT) {
        this.#log.debug('mirror skipped: too many under way', { limit: MAX_MIRRORS_IN_FLIGHT });
        return;
      }
      const ep = this.#pickEndpoint(m.backend);
      if (ep === undefined) continue;
      const service = m.backend.kind === 'service' ? this.state.service(m.backend.serviceKey) : undefined;
      // Envoy marks shadowed requests by suffixing the host with -shadow.
      const shadowHost = host.includes(':') ? host.replace(/(:\d+)$/, '-shadow$1') : `${host}-shadow`;
      const signal = AbortSignal.timeout(plan.timeoutMs ?? MIRROR_TIMEOUT_MS);
      const origin = this.#origin(rec.down, service);
      const sent = this.#speaksHttp2(m.backend)
        ? attemptHttp2({
          open: (h, options) => this.#upstreams.http2Request(ep, origin, {}, h, options),
          headers: { ...http2Headers(headers), ':method': rec.facts.method, ':path': plan.path, ':authority': shadowHost, ':scheme': 'http' },
          body: body === null ? null : Readable.from([body], { objectMode: false }), signal, holdGrpcHead: false,
        }, () => 'discard')
        : attempt({
          dispatcher: this.#upstreams.http1(ep, origin),
          method: rec.facts.method, path: plan.path, headers: { ...http1Headers(headers), host: shadowHost }, body, signal,
        }, () => 'discard');
      this.#mirrorsInFlight++;
      void sent.then((r) => {
        this.#mirrorsInFlight--;
        if (r.kind === 'failed') this.#log.debug('mirror failed', { err: errorMessage(r.error) });
      });
    }
  }

  #addProxyHeaders(headers: HeaderMap, rec: RequestRecord): void {
    if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID();
    headers['x-forwarded-proto'] ??= rec.facts.scheme;
    rec.span?.inject(headers);
    const xff = headers['x-forwarded-for'];
    const prior = Array.isArray(xff) ? xff.join(', ') : xff;
    headers['x-forwarded-for'] = prior === undefined || prior === '' ? rec.down.source.host : `${prior}, ${rec.down.source.host}`;
  }

  /** WebSocket and other Upgrade requests: planned like any request, then spliced as bytes. */
  async #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const down = this.#inbound.downstreamOf(socket);
    if (down === undefined) {
      socket.destroy();
      return;
    }
    this.#inbound.noteRequest(socket, `${req.method ?? ''} ${req.url ?? ''} (upgrade)`);
    const header = headerReader(req.headers);
    const facts = this.#facts(down, req.method ?? 'GET', req.url ?? '/', req.headers.host ?? '', header);
    const rec = this.#begin(down, facts, 'http');
    const plan = await this.#plan(down, facts);
    if (plan.route !== undefined) rec.route = plan.route;
    await this.#faultDelay(rec, plan, (l) => socket.once('close', l));
    const reply = (status: number, body: string): void => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      this.#finish(rec, status);
    };
    if (plan.kind === 'respond') {
      rec.flags = plan.flags;
      reply(plan.status, plan.body);
      return;
    }
    const ep = this.#pickEndpoint(plan.backend);
    if (ep === undefined) {
      rec.flags = 'UH';
      reply(503, 'no healthy upstream');
      return;
    }
    rec.endpoint = ep;
    let upstream: Duplex;
    try {
      upstream = await this.#upstreams.connect(ep, this.#origin(down, facts.service));
    } catch (err) {
      rec.flags = 'UF';
      reply(503, `upstream connect error: ${errorMessage(err)}`);
      return;
    }
    // The request head is re-sent as received (hop-by-hop headers included: they ARE the
    // upgrade), but for the trace headers, which now name the waypoint's span as the parent.
    const trace: HeaderMap = {};
    rec.span?.inject(trace);
    const replaced = new Set(Object.keys(trace));
    if (replaced.has('x-b3-traceid')) for (const k of B3_CLEARED) replaced.add(k);
    const lines = [`${req.method ?? 'GET'} ${plan.path} HTTP/1.1`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] ?? '';
      if (!replaced.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1] ?? ''}`);
    }
    for (const [k, v] of Object.entries(trace)) lines.push(`${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    let status = 101;
    upstream.once('data', (c: Buffer) => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(c.subarray(0, 16).toString('latin1'));
      if (m?.[1] !== undefined) status = Number(m[1]);
    });
    socket.pipe(upstream);
    upstream.pipe(socket);
    const done = (): void => {
      socket.destroy();
      upstream.destroy();
    };
    socket.once('close', done);
    upstream.once('close', done);
    upstream.once('error', done);
    socket.once('error', done);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#finish(rec, status);
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? 'HPE_UNKNOWN';
    // A connection that breaks (ECONNRESET and the like) sent nothing malformed: it is only let go.
    if (!code.startsWith('HPE_') && code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.destroy();
      return;
    }
    // The parser stays failed, so more bytes on the connection (or its end) raise the error
    // again: one malformed request is answered and counted once. The answer is already on its
    // way and the connection closes once the client closes its side; destroying it now could
    // turn the close into a reset and lose the answer.
    if (this.#refused.has(socket)) return;
    this.#refused.add(socket);
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.metrics.badRequests.inc({ reason: code });
    this.#log.info('malformed request refused', { code, status });
    if ((socket as Duplex & { writable: boolean }).writable && !socket.destroyed) {
      const body = status === 431 ? 'request header fields too large' : status === 408 ? 'request timeout' : 'bad request';
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      // Envoy's delayed close: the client gets a moment to read the answer and close; one
      // that keeps its side open does not keep the connection.
      const timer = setTimeout(() => socket.destroy(), DELAYED_CLOSE_MS);
      socket.once('close', () => clearTimeout(timer));
    } else {
      socket.destroy();
    }
  }

  #internalError(res: http.ServerResponse, err: unknown): void {
    this.#log.error('request handling failed', { err: errorMessage(err) });
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    } else {
      res.destroy();
    }
  }

  // --- HTTP/2 and gRPC -----------------------------------------------------------------

  async #onHttp2(stream: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, endStream: boolean): Promise<void> {
    stream.on('error', (err) => this.#log.debug('downstream stream error', { err: errorMessage(err) }));
    const down = this.#inbound.downstreamOf(stream.session as object);
    if (down === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const header = headerReader(h);
    const method = header(':method') ?? 'GET';
    const path = header(':path') ?? '/';
    const grpc = (header('content-type') ?? '').startsWith('application/grpc');
    const facts = this.#facts(down, method, path, header(':authority') ?? header('host') ?? '', header);
    const rec = this.#begin(down, facts, grpc ? 'grpc' : 'http');
    stream.on('data', (c: Buffer) => { rec.requestBytes += c.length; });
    stream.pause();
    const plan = await this.#plan(down, facts);
    if (plan.route !== undefined) rec.route = plan.route;
    const respond = (status: number, body: string, extra: Record<string, string> = {}, grpcStatus?: number): void => {
      if (!stream.destroyed && !stream.headersSent) {
        if (grpc) {
          // gRPC clients read the status from grpc-status; HTTP errors map per the gRPC spec.
          const code = grpcStatus ?? grpcCodeFor(status);
          rec.grpcStatus = String(code);
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(body), ...extra }, { endStream: true });
        } else {
          stream.respond({ ':status': status, 'content-type': 'text/plain', ...extra });
          stream.end(body);
          rec.responseBytes += Buffer.byteLength(body);
        }
      } else if (!stream.destroyed) {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
      this.#finish(rec, status);
    };
    await this.#faultDelay(rec, plan, (l) => stream.once('close', l));
    if (plan.kind === 'respond') {
      rec.flags = plan.flags;
      respond(plan.status, plan.body, plan.headers, plan.grpcStatus);
      return;
    }
    if (!grpc && !this.#speaksHttp2(plan.backend)) {
      // `te` is HTTP/2's own (trailers); HTTP/1.1 treats it as hop-by-hop.
      const headers = http2RequestHeaders(h, true);
      headers['host'] = plan.authority ?? facts.authority;
      this.#addProxyHeaders(headers, rec);
      plan.editRequest(headers);
      await this.#forwardToHttp1(http2Exchange(stream, endStream), rec, plan, headers);
      return;
    }
    const out = http2RequestHeaders(h, false);
    this.#addProxyHeaders(out, rec);
    plan.editRequest(out);
    await this.#forwardToHttp2(http2Exchange(stream, endStream, grpc), rec, plan, out);
  }

  /** Whether a backend's port is declared HTTP/2 (appProtocol http2, h2c, grpc): else it gets HTTP/1.1. */
  #speaksHttp2(backend: Backend): boolean {
    const svc = backend.kind === 'service' ? this.state.service(backend.serviceKey) : undefined;
    return declaredProtocol(svc?.ports.find((p) => p.servicePort === backend.port)?.appProtocol) === Protocol.http2;
  }

  // --- TCP -----------------------------------------------------------------------------

  #onTcp(socket: Duplex, down: Downstream): void {
    const { service, workload } = this.#resolve(down.target);
    const backend: Backend | undefined = service !== undefined
      ? { kind: 'service', serviceKey: resourceKey.service(service), port: down.target.port }
      : workload !== undefined ? { kind: 'workload', workload, port: down.target.port } : undefined;
    const got = backend === undefined ? undefined : this.#acquire(backend, 'tcp');
    const ep = got?.kind === 'endpoint' ? got.endpoint : undefined;
    const labels = tcpLabels({
      reporter: 'waypoint', source: this.state.workloadByAddress(down.source.host), sourcePrincipal: down.ctx.peerIdentity,
      destination: ep?.workload, destinationPrincipal: ep?.identity, service, mtls: true,
    });
    if (got?.kind !== 'endpoint' || ep === undefined) {
      this.#log.info(got?.kind === 'overflow' ? 'TCP connection over the connection pool limit' : 'TCP connection with no endpoint', { target: `${down.target.host}:${down.target.port}` });
      socket.destroy();
      return;
    }
    this.metrics.tcpOpened.inc(labels);
    this.#upstreams.connect(ep, this.#origin(down, service), got.connection.connectTimeoutMs).then((up) => {
      pipeline(socket, up, socket, () => {
        got.lease.end();
        this.metrics.tcpClosed.inc(labels);
      });
    }, (err: unknown) => {
      got.lease.end({ failed: true });
      this.#log.info('TCP upstream connect failed', { err: errorMessage(err) });
      this.metrics.tcpClosed.inc({ ...labels, response_flags: 'UF' });
      socket.destroy();
    });
  }

  // --- telemetry -----------------------------------------------------------------------

  /** Pushed Telemetry settings, live: a setting the push leaves out is the configured default. */
  #applyTelemetry(): void {
    const t = this.state.telemetry();
    this.#accessLogOn = t?.accessLog ?? true;
    this.#o.tracing?.configure(t?.tracing ?? {});
  }

  #begin(down: Downstream, facts: RequestFacts, protocol: 'http' | 'grpc'): RequestRecord {
    this.#active++;
    const rec: RequestRecord = { started: performance.now(), down, facts, protocol, requestBytes: 0, responseBytes: 0, flags: '-' };
    if (facts.service !== undefined) rec.service = facts.service;
    if (this.#o.tracing?.active === true) {
      rec.span = this.#o.tracing.start(facts.header, spanName(facts.service === undefined ? undefined : { ...facts.service, port: facts.port }, facts.authority));
    }
    return rec;
  }

  #finish(rec: RequestRecord, status: number): void {
    this.#active--;
    const flags = rec.delayed === true ? addResponseFlag(rec.flags, 'DI') : rec.flags;
    const durationMs = performance.now() - rec.started;
    const source = this.state.workloadByAddress(rec.down.source.host);
    const labels: RequestLabels = {
      ...tcpLabels({
        reporter: 'waypoint', source, sourcePrincipal: rec.down.ctx.peerIdentity,
        destination: rec.endpoint?.workload, destinationPrincipal: rec.endpoint?.identity,
        service: rec.service, responseFlags: flags, mtls: true, protocol: rec.protocol,
      }),
      response_code: String(status),
      grpc_response_status: rec.grpcStatus ?? '',
    };
    this.metrics.record(labels, durationMs, rec.requestBytes, rec.responseBytes);
    rec.span?.end({
      method: rec.facts.method, url: `${rec.facts.scheme}://${rec.facts.authority}${rec.facts.path}`, protocol: rec.protocol,
      status, flags, requestId: rec.facts.header('x-request-id'), userAgent: rec.facts.header('user-agent'),
      sourceAddress: rec.down.source.host, sourcePrincipal: rec.down.ctx.peerIdentity, destinationPrincipal: rec.endpoint?.identity,
      service: rec.service === undefined ? undefined : { hostname: rec.service.hostname, namespace: rec.service.namespace, port: rec.facts.port },
      upstreamHost: rec.endpoint === undefined ? undefined : `${rec.endpoint.address}:${rec.endpoint.port}`,
      requestBytes: rec.requestBytes, responseBytes: rec.responseBytes, grpcStatus: rec.grpcStatus,
    });
    if (!this.#accessLogOn) return;
    this.#accessLog.log({
      start: new Date(Date.now() - durationMs).toISOString(),
      method: rec.facts.method, path: rec.facts.path, authority: rec.facts.authority, protocol: rec.protocol,
      status, flags, durationMs: Math.round(durationMs * 1000) / 1000,
      bytesReceived: rec.requestBytes, bytesSent: rec.responseBytes,
      src: { addr: rec.down.source.host, identity: rec.down.ctx.peerIdentity },
      dst: { service: rec.service?.hostname, addr: rec.endpoint === undefined ? undefined : `${rec.endpoint.address}:${rec.endpoint.port}`, identity: rec.endpoint?.identity },
      route: rec.route, requestId: rec.facts.header('x-request-id'), grpcStatus: rec.grpcStatus,
      // The trace the request's span belongs to (sampled or not), to find its trace from the log.
      traceId: rec.span?.traceId,
    });
  }
}

/** Lower-case header lookup; repeated headers joined with ",", as matching expects. */
function headerReader(headers: Readonly<Record<string, string | string[] | undefined>>): (name: string) => string | undefined {
  return (n) => {
    const v = headers[n];
    return Array.isArray(v) ? v.join(',') : v;
  };
}


/** Headers of either kind for an HTTP/2 request: `host` becomes :authority, `te` may only say trailers. */
function http2Headers(h: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === 'host' || k === 'connection' || k === 'keep-alive' || k === 'proxy-connection' || k === 'transfer-encoding' || k === 'upgrade') continue;
    if (k === 'te' && v !== 'trailers') continue;
    out[k] = v;
  }
  return out;
}

/** Headers of either kind for an HTTP/1.1 request: HTTP/2's `te: trailers` is hop-by-hop there. */
function http1Headers(h: HeaderMap): HeaderMap {
  const out: HeaderMap = { ...h };
  delete out['te'];
  return out;
}

/** An HTTP/2 request's headers to pass on: no pseudo-headers, none that are connection-specific. */
function http2RequestHeaders(h: http2.IncomingHttpHeaders, dropTe: boolean): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':') || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding' || k === 'upgrade' || (dropTe && k === 'te')) continue;
    out[k] = v;
  }
  return out;
}

/** How a failed attempt ended, in the retry conditions' terms. */
function failureOutcome(f: AttemptFailure): RetryOutcome {
  return { failure: f.flags === 'UF' ? 'connect' : f.flags === 'UT' ? 'timeout' : f.refused === true ? 'refused' : 'reset' };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Pushed telemetry as the config dump shows it: exporter header values, which may be credentials, hidden. */
function redactTelemetry(t: WaypointTelemetry | undefined): unknown {
  const e = t?.tracing?.exporter;
  if (t === undefined) return null;
  if (e?.headers === undefined) return t;
  const headers = Object.fromEntries(Object.keys(e.headers).map((k) => [k, '[redacted]']));
  return { ...t, tracing: { ...t.tracing, exporter: { ...e, headers } } };
}
