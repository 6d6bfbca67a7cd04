import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionPool } from '#core/config/routes.ts';
import { CircuitBreaker, admission, type BreakerCounts, type PoolUse } from './circuit-breaker.ts';

const counts = (over: Partial<BreakerCounts> = {}): BreakerCounts => ({ requests: 0, http1: 0, retries: 0, connections: 0, ...over });

describe('admission', () => {
  const rows: [string, ConnectionPool, Partial<BreakerCounts>, PoolUse, boolean, string | undefined][] = [
    // [name, pool, counts now, use, retry, the limit hit (undefined: admitted)]
    ['no limits', {}, { requests: 1000, http1: 1000 }, 'http1', false, undefined],
    ['http2MaxRequests caps requests in flight', { http: { http2MaxRequests: 2 } }, { requests: 2 }, 'http2', false, 'requests'],
    ['under http2MaxRequests', { http: { http2MaxRequests: 2 } }, { requests: 1 }, 'http2', false, undefined],
    ['HTTP/1.1: connections plus pending', { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }, { requests: 2, http1: 2 }, 'http1', false, 'pending'],
    ['HTTP/1.1: one waiting is allowed', { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }, { requests: 1, http1: 1 }, 'http1', false, undefined],
    ['HTTP/1.1: a pending limit alone leaves connections free', { http: { http1MaxPendingRequests: 1 } }, { requests: 50, http1: 50 }, 'http1', false, undefined],
    ['HTTP/2 does not queue for connections', { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }, { requests: 5 }, 'http2', false, undefined],
    ['maxRetries caps retries in flight', { http: { maxRetries: 1 } }, { retries: 1 }, 'http1', true, 'retries'],
    ['maxRetries leaves first attempts alone', { http: { maxRetries: 0 } }, { retries: 3 }, 'http1', false, undefined],
    ['TCP: maxConnections', { tcp: { maxConnections: 2 } }, { connections: 2 }, 'tcp', false, 'connections'],
    ['TCP ignores HTTP limits', { http: { http2MaxRequests: 1 } }, { requests: 9 }, 'tcp', false, undefined],
  ];
  for (const [name, pool, c, use, retry, limit] of rows) {
    test(name, () => {
      const got = admission(pool, counts(c), use, retry);
      assert.deepEqual(got, limit === undefined ? { admitted: true } : { admitted: false, limit });
    });
  }
});

test('CircuitBreaker takes and releases slots', () => {
  const b = new CircuitBreaker({ http: { http2MaxRequests: 1, maxRetries: 1 } });
  assert.equal(b.admit('http1', false).admitted, true);
  assert.equal(b.admit('http1', false).admitted, false);
  b.release('http1', false);
  assert.equal(b.admit('http1', true).admitted, true);
  assert.deepEqual(b.counts, { requests: 1, http1: 1, retries: 1, connections: 0 });
  b.release('http1', true);
  b.release('http1', true);
  assert.deepEqual(b.counts, { requests: 0, http1: 0, retries: 0, connections: 0 });
});
