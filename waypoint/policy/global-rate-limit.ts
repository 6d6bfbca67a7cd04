// The global rate limit: the same rules as the local one, counted in Redis so every replica of
// every waypoint shares one count, as Envoy's ratelimit service counts: a fixed window aligned
// to the unit (each minute starts on the minute), one counter per bucket and window, raised by
// every request and expiring with its window. When Redis cannot answer, the request passes
// (fail open, the default) or is refused (fail closed), and the outage is logged once.
import { createHash } from 'node:crypto';
import { RATE_LIMIT_UNIT_MS, type RateLimitPolicy } from '#core/config/routes.ts';
import type { Logger } from '#core/log.ts';
import { errorMessage } from '#core/errors.ts';
import { drawsFor, type Draw, type RateLimitHeaders, type RateLimitRequest, type RateLimitVerdict } from '#waypoint/policy/rate-limit.ts';
import type { RedisReply } from '#waypoint/policy/redis.ts';

export interface CounterStore {
  pipeline(commands: readonly (readonly (string | number)[])[]): Promise<RedisReply[]>;
}

export interface GlobalRateLimiterOptions {
  /** Absent: no Redis configured, every global limit fails open or closed at once. */
  store: CounterStore | undefined;
  logger: Logger;
  /** Refuse requests (429) when the counters cannot be read; the default lets them through. */
  failClosed?: boolean;
  now?: () => number;
}

/** A global verdict also says when Redis could not answer (flag RLSE in the access log). */
export type GlobalVerdict = RateLimitVerdict | { kind: 'error'; allowed: boolean; message: string };

/** The Redis key of a bucket's counter in one window; hashed, since header values may be long. */
export function counterKey(draw: Draw, windowStart: number): string {
  return `weft:rl:${createHash('sha256').update(draw.key).digest('base64url').slice(0, 22)}:${windowStart}`;
}

/** The window a moment falls in, aligned to the unit from the epoch. */
export function windowOf(now: number, windowMs: number): { start: number; end: number } {
  const start = Math.floor(now / windowMs) * windowMs;
  return { start, end: start + windowMs };
}

/** The verdict from each bucket's count after this request; the headers describe the bucket closest to its limit. */
export function verdictFromCounts(draws: readonly Draw[], counts: readonly number[], now: number): RateLimitVerdict {
  let tightest: { draw: Draw; left: number; end: number } | undefined;
  draws.forEach((d, i) => {
    const left = d.rule.requests - (counts[i] ?? 0);
    const end = windowOf(now, RATE_LIMIT_UNIT_MS[d.rule.unit]).end;
    if (tightest === undefined || left < tightest.left) tightest = { draw: d, left, end };
  });
  if (tightest === undefined) return { kind: 'none' };
  const { draw, left, end } = tightest;
  const headers: RateLimitHeaders = {
    'x-ratelimit-limit': `${draw.rule.requests}, ${draw.rule.requests};w=${RATE_LIMIT_UNIT_MS[draw.rule.unit] / 1000}`,
    'x-ratelimit-remaining': String(Math.max(0, left)),
    'x-ratelimit-reset': String(Math.max(0, Math.ceil((end - now) / 1000))),
  };
  return left < 0 ? { kind: 'deny', policy: draw.policy, headers } : { kind: 'allow', headers };
}

export class GlobalRateLimiter {
  readonly #o: GlobalRateLimiterOptions;
  readonly #now: () => number;
  #down = false;

  constructor(o: GlobalRateLimiterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Whether any limit of the table is global (the caller then waits for Redis). */
  static wanted(limits: readonly RateLimitPolicy[] | undefined): boolean {
    return limits !== undefined && limits.some((l) => l.type === 'Global');
  }

  async check(serviceKey: string, limits: readonly RateLimitPolicy[], req: RateLimitRequest): Promise<GlobalVerdict> {
    const draws = drawsFor(serviceKey, limits, req, undefined, 'Global');
    if (draws.length === 0) return { kind: 'none' };
    const now = this.#now();
    try {
      if (this.#o.store === undefined) throw new Error('no Redis is configured for global rate limits (--rate-limit-redis)');
      const commands: (string | number)[][] = [];
      for (const d of draws) {
        const windowMs = RATE_LIMIT_UNIT_MS[d.rule.unit];
        const key = counterKey(d, windowOf(now, windowMs).start);
        // Created with its expiry, then raised: a counter never outlives its window.
        commands.push(['SET', key, 0, 'PX', windowMs, 'NX'], ['INCR', key]);
      }
      const replies = await this.#o.store.pipeline(commands);
      const counts = draws.map((_, i) => {
        const n = replies[i * 2 + 1];
        if (typeof n !== 'number') throw new Error(`unexpected reply to INCR: ${n instanceof Error ? n.message : JSON.stringify(n)}`);
        return n;
      });
      if (this.#down) {
        this.#down = false;
        this.#o.logger.info('global rate limit counters reachable again', {});
      }
      return verdictFromCounts(draws, counts, now);
    } catch (err) {
      const message = errorMessage(err);
      if (!this.#down) {
        this.#down = true;
        this.#o.logger.warn(`global rate limit counters unreachable; requests ${this.#o.failClosed === true ? 'are refused' : 'pass unlimited'} until they return`, { error: message });
      }
      return { kind: 'error', allowed: this.#o.failClosed !== true, message };
    }
  }
}
