// Circuit breaking for one destination from DestinationRule `connectionPool`, as Envoy's
// cluster thresholds: requests in flight (http2MaxRequests), HTTP/1.1 requests beyond the
// connections they may use (tcp.maxConnections busy, up to http1MaxPendingRequests waiting),
// retries in flight (maxRetries) and TCP connections (tcp.maxConnections). Past a limit the
// caller answers 503 with response flag UO. Counters only; the caller releases what it took.
import type { ConnectionPool } from '#core/config/routes.ts';

/** How the request reaches the endpoint, which decides the limits that apply. */
export type PoolUse = 'http1' | 'http2' | 'tcp';

export type Admission = { admitted: true } | { admitted: false; limit: 'requests' | 'pending' | 'retries' | 'connections' };

export interface BreakerCounts {
  requests: number;
  http1: number;
  retries: number;
  connections: number;
}

export class CircuitBreaker {
  readonly #pool: ConnectionPool;
  readonly counts: BreakerCounts = { requests: 0, http1: 0, retries: 0, connections: 0 };

  constructor(pool: ConnectionPool) {
    this.#pool = pool;
  }

  /** Takes a slot when there is one; `retry` marks a second or later attempt. */
  admit(use: PoolUse, retry: boolean): Admission {
    const decision = admission(this.#pool, this.counts, use, retry);
    if (decision.admitted) take(this.counts, use, retry, 1);
    return decision;
  }

  release(use: PoolUse, retry: boolean): void {
    take(this.counts, use, retry, -1);
  }
}

/** The pure rule: whether one more request of this kind fits under the pool's limits. */
export function admission(pool: ConnectionPool, c: BreakerCounts, use: PoolUse, retry: boolean): Admission {
  const maxConnections = pool.tcp?.maxConnections;
  if (use === 'tcp') {
    return maxConnections !== undefined && c.connections >= maxConnections ? { admitted: false, limit: 'connections' } : { admitted: true };
  }
  const http = pool.http;
  if (retry && http?.maxRetries !== undefined && c.retries >= http.maxRetries) return { admitted: false, limit: 'retries' };
  if (http?.http2MaxRequests !== undefined && c.requests >= http.http2MaxRequests) return { admitted: false, limit: 'requests' };
  // An HTTP/1.1 connection carries one request at a time: past maxConnections busy ones a
  // request waits for one, and only http1MaxPendingRequests may wait.
  if (use === 'http1' && (maxConnections !== undefined || http?.http1MaxPendingRequests !== undefined)) {
    const cap = (maxConnections ?? Infinity) + (http?.http1MaxPendingRequests ?? Infinity);
    if (c.http1 >= cap) return { admitted: false, limit: 'pending' };
  }
  return { admitted: true };
}

function take(c: BreakerCounts, use: PoolUse, retry: boolean, by: 1 | -1): void {
  if (use === 'tcp') {
    c.connections = Math.max(0, c.connections + by);
    return;
  }
  c.requests = Math.max(0, c.requests + by);
  if (use === 'http1') c.http1 = Math.max(0, c.http1 + by);
  if (retry) c.retries = Math.max(0, c.retries + by);
}
