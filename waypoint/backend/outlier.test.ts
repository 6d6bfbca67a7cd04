import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetection } from '#core/config/routes.ts';
import { OutlierState, type AttemptOutcome } from './outlier.ts';

const cfg = (over: Partial<OutlierDetection> = {}): OutlierDetection => ({
  consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 100, minHealthPercent: 0, ...over,
});

const s = (status: number): AttemptOutcome => ({ status });
const failed: AttemptOutcome = { failed: true };

describe('OutlierState: which outcomes eject', () => {
  const rows: [string, Partial<OutlierDetection>, AttemptOutcome[], boolean][] = [
    ['five 5xx in a row', {}, [s(500), s(503), s(502), s(500), s(504)], true],
    ['four are not enough', {}, [s(500), s(500), s(500), s(500)], false],
    ['a success resets the count', {}, [s(500), s(500), s(500), s(500), s(200), s(500)], false],
    ['a 4xx is a success', {}, [s(500), s(500), s(500), s(500), s(404), s(500)], false],
    ['connection failures count as 5xx', {}, [failed, failed, failed, failed, failed], true],
    ['0 turns the 5xx check off', { consecutive5xxErrors: 0 }, Array.from({ length: 20 }, () => s(500)), false],
    ['gateway errors: 502, 503, 504 and failures', { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 }, [s(502), failed, s(504)], true],
    ['a 500 breaks a gateway-error run', { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 }, [s(503), s(503), s(500), s(503)], false],
    ['maxEjectionPercent 0 never ejects', { maxEjectionPercent: 0, consecutive5xxErrors: 1 }, [s(500)], false],
  ];
  for (const [name, over, outcomes, ejected] of rows) {
    test(name, () => {
      const o = new OutlierState(cfg(over));
      let now = 1000;
      for (const x of outcomes) o.record('a', x, now++, 2);
      assert.equal(o.isEjected('a', now), ejected);
      assert.equal(o.isEjected('b', now), false);
    });
  }
});

describe('OutlierState: ejection time', () => {
  test('an endpoint returns after baseEjectionTime, and a second ejection lasts twice as long', () => {
    const o = new OutlierState(cfg({ consecutive5xxErrors: 1 }));
    assert.equal(o.record('a', s(503), 0, 2), true);
    assert.equal(o.isEjected('a', 29_999), true);
    assert.equal(o.isEjected('a', 30_000), false);
    assert.equal(o.record('a', s(503), 30_001, 2), true);
    assert.equal(o.isEjected('a', 30_001 + 59_999), true);
    assert.equal(o.isEjected('a', 30_001 + 60_000), false);
  });

  test('each interval spent in lowers the multiplier again', () => {
    const o = new OutlierState(cfg({ consecutive5xxErrors: 1, interval: 1000 }));
    o.record('a', s(503), 0, 2);
    // Back at 30 s; two intervals later the multiplier is down from 1 to 0, so the next is a first ejection.
    o.record('a', s(503), 32_000, 2);
    assert.equal(o.isEjected('a', 32_000 + 29_999), true);
    assert.equal(o.isEjected('a', 32_000 + 30_000), false);
  });

  test('outcomes while ejected do not extend the ejection', () => {
    const o = new OutlierState(cfg({ consecutive5xxErrors: 1 }));
    o.record('a', s(503), 0, 2);
    assert.equal(o.record('a', s(503), 10, 2), false);
    assert.equal(o.isEjected('a', 30_000), false);
  });
});

describe('OutlierState: how many at once', () => {
  const rows: [string, number, number, number][] = [
    // [name, maxEjectionPercent, endpoints, how many of them end up ejected]
    ['100% of 3', 100, 3, 3],
    ['50% of 4', 50, 4, 2],
    ['10% of 3 still ejects one', 10, 3, 1],
    ['34% of 3', 34, 3, 1],
  ];
  for (const [name, pct, n, want] of rows) {
    test(name, () => {
      const o = new OutlierState(cfg({ consecutive5xxErrors: 1, maxEjectionPercent: pct }));
      const uids = Array.from({ length: n }, (_, i) => `e${i}`);
      for (const u of uids) o.record(u, s(500), 5, n);
      assert.equal(o.ejectedCount(5), want);
    });
  }

  test('retain forgets endpoints that left', () => {
    const o = new OutlierState(cfg({ consecutive5xxErrors: 1 }));
    o.record('a', s(500), 0, 2);
    o.record('b', s(500), 0, 2);
    o.retain(new Set(['b']));
    assert.equal(o.ejectedCount(1), 1);
    assert.equal(o.isEjected('a', 1), false);
  });
});
