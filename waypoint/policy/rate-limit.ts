// Local rate limiting at the waypoint, as Envoy's local rate limit filter does it for Envoy
// Gateway's BackendTrafficPolicy: one token bucket per rule, per route (or per Service when no
// route matched) and per distinct client value, holding `requests` tokens and refilled whole
// every `unit`, counted from the bucket's first request. Each replica keeps its own buckets.
// The decision is a pure function of the buckets, the clock and the request; the limiter only
// keeps the buckets.
import net from 'node:net';
import type { HeaderMap, Plan } from '#waypoint/request/plan-types.ts';
import { compileRouteRegex, RATE_LIMIT_UNIT_MS, type RateLimitPolicy, type RateLimitRule, type RateLimitSelector } from '#core/config/routes.ts';

export interface RateLimitRequest {
  /** The plan's route (`<kind>/<namespace>/<name>#<rule>`), when a route matched. */
  route?: string;
  /** Lower-case name; repeated values joined with ",". */
  header: (name: string) => string | undefined;
  sourceIp: string;
}

/** What the client is told, draft-ietf-httpapi-ratelimit-headers-03 style, as Envoy writes it. */
export interface RateLimitHeaders {
  'x-ratelimit-limit': string;
  'x-ratelimit-remaining': string;
  'x-ratelimit-reset': string;
}

export type RateLimitVerdict =
  /** No rule selects the request. */
  | { kind: 'none' }
  | { kind: 'allow'; headers: RateLimitHeaders }
  /** `policy`: `<namespace>/<name>` of the BackendTrafficPolicy whose bucket is empty. */
  | { kind: 'deny'; policy: string; headers: RateLimitHeaders };

export interface Bucket {
  tokens: number;
  /** When the bucket fills up again (ms, the limiter's clock). */
  refillAt: number;
}

/** The bucket as it stands at `now`: full again once its window has passed. */
export function currentBucket(bucket: Bucket | undefined, rule: Pick<RateLimitRule, 'requests' | 'unit'>, now: number): Bucket {
  const window = RATE_LIMIT_UNIT_MS[rule.unit];
  if (bucket === undefined) return { tokens: rule.requests, refillAt: now + window };
  if (now < bucket.refillAt) return bucket;
  // Windows keep their phase, as Envoy's fill timer does.
  const missed = Math.floor((now - bucket.refillAt) / window) + 1;
  return { tokens: rule.requests, refillAt: bucket.refillAt + missed * window };
}

function toFamily(ip: string): 'ipv4' | 'ipv6' | undefined {
  const f = net.isIP(ip);
  return f === 4 ? 'ipv4' : f === 6 ? 'ipv6' : undefined;
}

/** Strips the IPv4-mapped prefix so `::ffff:10.0.0.1` is tested against IPv4 blocks. */
function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

function inCidr(ip: string, cidr: string): boolean {
  const [addr = '', bits = ''] = cidr.split('/');
  const blockFamily = toFamily(addr);
  const family = toFamily(ip);
  if (blockFamily === undefined || family !== blockFamily) return false;
  const list = new net.BlockList();
  list.addSubnet(addr, Number(bits), blockFamily);
  return list.check(ip, family);
}

/**
 * The part of the bucket key a selector adds, or undefined when it does not select the
 * request. Distinct matches add the value they saw, so each value has its own bucket.
 */
function selectorKey(s: RateLimitSelector, req: RateLimitRequest, regex: (source: string) => RegExp): string | undefined {
  const parts: string[] = [];
  for (const h of s.headers) {
    const value = req.header(h.name);
    if (h.type === 'Distinct') {
      if (value === undefined) return undefined;
      parts.push(`h:${h.name}=${value}`);
      continue;
    }
    const hit = value !== undefined && (h.type === 'Exact' ? value === h.value : regex(h.value ?? '').test(value));
    if (hit === h.invert) return undefined;
  }
  if (s.sourceCIDR !== undefined) {
    const ip = plainIp(req.sourceIp);
    if (!inCidr(ip, s.sourceCIDR.value)) return undefined;
    if (s.sourceCIDR.type === 'Distinct') parts.push(`ip:${ip}`);
  }
  return parts.join('\0');
}

function routeId(route: string): string {
  const hash = route.indexOf('#');
  return hash === -1 ? route : route.slice(0, hash);
}

/** One bucket a request draws on. */
export interface Draw {
  key: string;
  policy: string;
  rule: RateLimitRule;
}

/** The buckets a request draws on: every rule of every policy that selects it. */
export function drawsFor(
  serviceKey: string, limits: readonly RateLimitPolicy[], req: RateLimitRequest,
  regex: (source: string) => RegExp = compileRouteRegex, type: RateLimitPolicy['type'] = 'Local',
): Draw[] {
  const out: Draw[] = [];
  for (const limit of limits) {
    if (limit.type !== type) continue;
    if (limit.routes !== undefined && (req.route === undefined || !limit.routes.includes(routeId(req.route)))) continue;
    const scope = req.route ?? serviceKey;
    limit.rules.forEach((rule, i) => {
      const parts: string[] = [];
      for (const s of rule.clientSelectors) {
        const k = selectorKey(s, req, regex);
        if (k === undefined) return;
        parts.push(k);
      }
      out.push({ key: `${limit.policy}\0${i}\0${scope}\0${parts.join('\0')}`, policy: limit.policy, rule });
    });
  }
  return out;
}

function headersOf(draw: Draw, bucket: Bucket, remaining: number, now: number): RateLimitHeaders {
  const windowSeconds = RATE_LIMIT_UNIT_MS[draw.rule.unit] / 1000;
  return {
    'x-ratelimit-limit': `${draw.rule.requests}, ${draw.rule.requests};w=${windowSeconds}`,
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset': String(Math.max(0, Math.ceil((bucket.refillAt - now) / 1000))),
  };
}

/**
 * Takes one token from every bucket, or from none when one of them is empty (a refused request
 * costs nothing). The headers describe the bucket closest to empty.
 */
export function decide(draws: readonly Draw[], buckets: (key: string) => Bucket | undefined, now: number): { verdict: RateLimitVerdict; next: Map<string, Bucket> } {
  const next = new Map<string, Bucket>();
  if (draws.length === 0) return { verdict: { kind: 'none' }, next };
  let tightest: { draw: Draw; bucket: Bucket } | undefined;
  for (const d of draws) {
    const b = currentBucket(next.get(d.key) ?? buckets(d.key), d.rule, now);
    next.set(d.key, b);
    if (tightest === undefined || b.tokens < tightest.bucket.tokens) tightest = { draw: d, bucket: b };
  }
  if (tightest === undefined) return { verdict: { kind: 'none' }, next };
  if (tightest.bucket.tokens <= 0) {
    return { verdict: { kind: 'deny', policy: tightest.draw.policy, headers: headersOf(tightest.draw, tightest.bucket, 0, now) }, next };
  }
  for (const [k, b] of next) next.set(k, { tokens: b.tokens - 1, refillAt: b.refillAt });
  return { verdict: { kind: 'allow', headers: headersOf(tightest.draw, tightest.bucket, tightest.bucket.tokens - 1, now) }, next };
}

export interface LocalRateLimiterOptions {
  now?: () => number;
  /** Buckets kept before the ones whose window has passed are dropped (a full bucket is the same as none). */
  maxBuckets?: number;
}

/** The buckets of one waypoint replica. */
export class LocalRateLimiter {
  readonly #now: () => number;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #regexes = new Map<string, RegExp>();

  constructor(opts: LocalRateLimiterOptions = {}) {
    this.#now = opts.now ?? (() => performance.now());
    this.#max = opts.maxBuckets ?? 100_000;
  }

  get size(): number {
    return this.#buckets.size;
  }

  check(serviceKey: string, limits: readonly RateLimitPolicy[] | undefined, req: RateLimitRequest): RateLimitVerdict {
    if (limits === undefined || limits.length === 0) return { kind: 'none' };
    const draws = drawsFor(serviceKey, limits, req, (source) => this.#regex(source), 'Local');
    const now = this.#now();
    const { verdict, next } = decide(draws, (k) => this.#buckets.get(k), now);
    for (const [k, b] of next) this.#buckets.set(k, b);
    if (this.#buckets.size > this.#max) this.#sweep(now);
    return verdict;
  }

  #regex(source: string): RegExp {
    let re = this.#regexes.get(source);
    if (re === undefined) {
      re = compileRouteRegex(source);
      this.#regexes.set(source, re);
    }
    return re;
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) if (now >= b.refillAt) this.#buckets.delete(k);
    // Still too many live buckets (many distinct clients): the oldest go, each granting its client
    // a fresh window; a tenth more than needed, so the sweep does not run on every request.
    const keep = Math.floor(this.#max * 0.9);
    for (const k of this.#buckets.keys()) {
      if (this.#buckets.size <= keep) break;
      this.#buckets.delete(k);
    }
  }
}

/** Envoy's body for a request its local rate limit refused. */
export const RATE_LIMITED_BODY = 'local_rate_limited';

/** Whether a plan passes the rate limit at all: RBAC denials and fault aborts are answered before it, as in Envoy's filter order. */
export function planIsLimited(plan: Plan): boolean {
  return plan.kind === 'forward' || (plan.flags !== 'RBAC' && plan.flags !== 'FI');
}

/** The plan once the limiter has spoken: refused → 429 `RL`, allowed → the same plan telling the client its budget. */
export function limitPlan(plan: Plan, verdict: RateLimitVerdict): Plan {
  if (verdict.kind === 'none') return plan;
  const { headers } = verdict;
  if (verdict.kind === 'deny') {
    return {
      kind: 'respond', status: 429, body: RATE_LIMITED_BODY, flags: 'RL', headers: { ...headers },
      ...(plan.route === undefined ? {} : { route: plan.route }),
      ...(plan.delayMs === undefined ? {} : { delayMs: plan.delayMs }),
    };
  }
  if (plan.kind === 'respond') return { ...plan, headers: { ...plan.headers, ...headers } };
  const forward = plan;
  return {
    ...plan,
    editResponse: (h: HeaderMap): void => {
      forward.editResponse(h);
      Object.assign(h, headers);
    },
  };
}
