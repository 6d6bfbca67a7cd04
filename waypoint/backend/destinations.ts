// Where a request to a Service goes, under the Service's DestinationRule: the traffic policy
// that fits its subset and port, the circuit breaker and outlier state of that destination
// (kept per service, subset and port, as Envoy keeps them per cluster), and the balancer's
// choice among the endpoints left. A caller gets an endpoint with a lease it ends once with
// the attempt's outcome, or a reason to answer 503 (UH: no usable endpoint, UO: overflow).
import type { DestinationPolicy, ServiceRoutes, TrafficPolicy } from '#core/config/routes.ts';
import type { Registry } from '#core/telemetry/metrics.ts';
import type { Counter } from '#core/telemetry/metrics.ts';
import { generatedCookie, pickEndpoint, type BalancerState, type HashInput } from './balancer.ts';
import { CircuitBreaker, type PoolUse } from './circuit-breaker.ts';
import { endpointOf, targetPortOf, usableEndpoints, type ChosenEndpoint, type EndpointSource } from './endpoints.ts';
import { OutlierState, type AttemptOutcome } from './outlier.ts';

export type { AttemptOutcome } from './outlier.ts';
export type { HashInput } from './balancer.ts';
export type { PoolUse } from './circuit-breaker.ts';

export interface DestinationRequest {
  serviceKey: string;
  /** The Service port. */
  port: number;
  subset?: string;
  use: PoolUse;
  /** A second or later attempt (counts against maxRetries). */
  retry?: boolean;
  /** Endpoints this request already tried: avoided while another is left. */
  tried?: ReadonlySet<string>;
  hash?: HashInput;
}

/** How the destination's connections to an endpoint behave (DestinationRule `connectionPool`); absent fields: the waypoint's defaults. */
export interface ConnectionSettings {
  /** Requests one upstream connection carries before it is retired (http.maxRequestsPerConnection). */
  maxRequestsPerConnection?: number;
  /** Bound on opening an upstream connection (tcp.connectTimeout). */
  connectTimeoutMs?: number;
  /** Upstream connections the destination may hold open at once (tcp.maxConnections), shared by every endpoint and client. */
  maxConnections?: number;
  /** Names the destination (service, subset, port) whose connections count against maxConnections. */
  cluster?: string;
}

export type Acquired =
  /** `setCookie`: a Set-Cookie header the response must carry (a generated hash cookie). */
  | { kind: 'endpoint'; endpoint: ChosenEndpoint; lease: Lease; setCookie?: string; connection: ConnectionSettings }
  | { kind: 'none' }
  | { kind: 'overflow'; limit: string };

/** One attempt's hold on an endpoint; `end` frees the slot once, counting the outcome when there is one. */
export interface Lease {
  end(outcome?: AttemptOutcome): void;
}

/** What the table of every served Service says about destinations, and which Services exist. */
export interface DestinationConfig extends EndpointSource {
  allRoutes(): readonly ServiceRoutes[];
}

interface Cluster {
  service: string;
  subset: string;
  /** The policy as JSON: a push that leaves it alone keeps the state. */
  policyKey: string;
  policy: TrafficPolicy | undefined;
  balancer: BalancerState;
  inFlight: Map<string, number>;
  breaker: CircuitBreaker | undefined;
  outlier: OutlierState | undefined;
  connection: ConnectionSettings;
}

export interface DestinationsOptions {
  registry?: Registry;
  now?: () => number;
  random?: () => number;
}

export function connectionSettings(policy: TrafficPolicy | undefined): ConnectionSettings {
  const pool = policy?.connectionPool;
  const out: ConnectionSettings = {};
  if (pool?.http?.maxRequestsPerConnection !== undefined) out.maxRequestsPerConnection = pool.http.maxRequestsPerConnection;
  if (pool?.tcp?.connectTimeout !== undefined) out.connectTimeoutMs = pool.tcp.connectTimeout;
  if (pool?.tcp?.maxConnections !== undefined) out.maxConnections = pool.tcp.maxConnections;
  return out;
}

/** The first policy whose subset and port both fit (an absent one fits any); the list is most specific first. */
export function policyFor(dest: DestinationPolicy | undefined, subset: string | undefined, port: number): TrafficPolicy | undefined {
  return dest?.policies.find((p) => (p.subset === undefined || p.subset === subset) && (p.port === undefined || p.port === port));
}

export class Destinations {
  readonly #clusters = new Map<string, Cluster>();
  #policies = new Map<string, DestinationPolicy>();
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #ejections: Counter<'destination_service' | 'subset'> | undefined;
  readonly #overflows: Counter<'destination_service' | 'limit'> | undefined;

  constructor(o: DestinationsOptions = {}) {
    this.#now = o.now ?? Date.now;
    this.#random = o.random ?? Math.random;
    const r = o.registry;
    this.#ejections = r?.counter('weft_waypoint_outlier_ejections_total', 'Endpoints ejected by outlier detection', ['destination_service', 'subset']);
    this.#overflows = r?.counter('weft_waypoint_upstream_overflow_total', 'Requests refused by a DestinationRule connection pool limit (503 UO)', ['destination_service', 'limit']);
    r?.gauge('weft_waypoint_outlier_ejected_endpoints', 'Endpoints ejected by outlier detection now', ['destination_service', 'subset'], (g) => {
      g.reset();
      const now = this.#now();
      const sums = new Map<string, { service: string; subset: string; n: number }>();
      for (const c of this.#clusters.values()) {
        if (c.outlier === undefined) continue;
        const k = `${c.service}\u0000${c.subset}`;
        const s = sums.get(k) ?? { service: c.service, subset: c.subset, n: 0 };
        s.n += c.outlier.ejectedCount(now);
        sums.set(k, s);
      }
      for (const s of sums.values()) g.set({ destination_service: s.service, subset: s.subset }, s.n);
    });
  }

  /** Re-reads the DestinationRule policies after a push; destinations whose policy changed or whose Service left start afresh. */
  configure(cfg: DestinationConfig): void {
    const next = new Map<string, DestinationPolicy>();
    for (const t of cfg.allRoutes()) for (const d of t.destinations ?? []) if (!next.has(d.service)) next.set(d.service, d);
    this.#policies = next;
    for (const [key, c] of this.#clusters) {
      const port = Number(key.slice(key.lastIndexOf('\u0000') + 1));
      const policy = policyFor(next.get(c.service), c.subset === '' ? undefined : c.subset, port);
      if (cfg.service(c.service) === undefined || JSON.stringify(policy ?? null) !== c.policyKey) this.#clusters.delete(key);
    }
  }

  acquire(src: EndpointSource, req: DestinationRequest): Acquired {
    const c = this.#cluster(src, req);
    const dest = this.#policies.get(req.serviceKey);
    let all = usableEndpoints(src, req.serviceKey);
    if (req.subset !== undefined) {
      const members = new Set(dest?.subsets.find((s) => s.name === req.subset)?.workloads ?? []);
      all = all.filter((w) => members.has(w.uid));
    }
    const now = this.#now();
    if (c.outlier !== undefined) c.outlier.retain(new Set(all.map((w) => w.uid)));
    for (const uid of c.inFlight.keys()) if ((c.inFlight.get(uid) ?? 0) <= 0) c.inFlight.delete(uid);
    if (all.length === 0) return { kind: 'none' };
    const retry = req.retry === true;
    const admitted = c.breaker?.admit(req.use, retry) ?? { admitted: true };
    if (!admitted.admitted) {
      this.#overflows?.inc({ destination_service: req.serviceKey, limit: admitted.limit });
      return { kind: 'overflow', limit: admitted.limit };
    }
    let pool = all;
    const od = c.outlier;
    if (od !== undefined) {
      const inUse = all.filter((w) => !od.isEjected(w.uid, now));
      // Below minHealthPercent Envoy's panic mode spreads over every endpoint, ejected or not.
      if (inUse.length > 0 && (inUse.length * 100) / all.length >= od.config.minHealthPercent) pool = inUse;
    }
    const fresh = req.tried === undefined ? pool : pool.filter((w) => !req.tried?.has(w.uid));
    if (fresh.length > 0) pool = fresh;
    const lb = c.policy?.loadBalancer;
    const cookie = lb !== undefined && 'consistentHash' in lb && req.hash !== undefined ? generatedCookie(lb.consistentHash.key, req.hash) : undefined;
    const uid = pickEndpoint(c.balancer, {
      candidates: pool.map((w) => w.uid),
      lb,
      inFlight: (u) => c.inFlight.get(u) ?? 0,
      random: this.#random,
      ...(req.hash === undefined ? {} : { hash: req.hash }),
      ...(cookie === undefined ? {} : { hashValue: cookie.value }),
    });
    const w = pool.find((x) => x.uid === uid);
    const endpoint = w === undefined ? undefined : endpointOf(w, targetPortOf(src, w, req.serviceKey, req.port));
    if (w === undefined || endpoint === undefined) {
      c.breaker?.release(req.use, retry);
      return { kind: 'none' };
    }
    c.inFlight.set(w.uid, (c.inFlight.get(w.uid) ?? 0) + 1);
    let ended = false;
    return {
      kind: 'endpoint', endpoint, connection: c.connection,
      ...(cookie === undefined ? {} : { setCookie: cookie.setCookie }),
      lease: {
        end: (outcome) => {
          if (ended) return;
          ended = true;
          c.breaker?.release(req.use, retry);
          c.inFlight.set(w.uid, Math.max(0, (c.inFlight.get(w.uid) ?? 0) - 1));
          if (outcome !== undefined && c.outlier?.record(w.uid, outcome, this.#now(), all.length) === true) {
            this.#ejections?.inc({ destination_service: req.serviceKey, subset: c.subset });
          }
        },
      },
    };
  }

  /** Destinations with state, for tests. */
  get size(): number { return this.#clusters.size; }

  /** What each destination holds now, for the config dump. */
  dump(): { service: string; subset: string; port: number; inFlight: Record<string, number>; pool?: Record<string, number>; ejected?: string[] }[] {
    const now = this.#now();
    return [...this.#clusters].map(([key, c]) => ({
      service: c.service, subset: c.subset, port: Number(key.slice(key.lastIndexOf('\u0000') + 1)),
      inFlight: Object.fromEntries(c.inFlight),
      ...(c.breaker === undefined ? {} : { pool: { ...c.breaker.counts } }),
      ...(c.outlier === undefined ? {} : { ejected: c.outlier.ejected(now) }),
    }));
  }

  #cluster(src: EndpointSource, req: DestinationRequest): Cluster {
    const subset = req.subset ?? '';
    const key = `${req.serviceKey}\u0000${subset}\u0000${req.port}`;
    let c = this.#clusters.get(key);
    if (c === undefined) {
      const policy = policyFor(this.#policies.get(req.serviceKey), req.subset, req.port);
      const pool = policy?.connectionPool;
      c = {
        service: req.serviceKey, subset, policyKey: JSON.stringify(policy ?? null), policy,
        balancer: { cursor: 0 }, inFlight: new Map(),
        breaker: pool === undefined ? undefined : new CircuitBreaker(pool),
        outlier: policy?.outlierDetection === undefined ? undefined : new OutlierState(policy.outlierDetection),
        connection: connectionSettings(policy),
      };
      if (c.connection.maxConnections !== undefined) c.connection.cluster = key;
      // Only ports the Service declares keep state, so a client probing ports cannot grow it.
      if (src.service(req.serviceKey)?.ports.some((p) => p.servicePort === req.port) === true) this.#clusters.set(key, c);
    }
    return c;
  }
}
