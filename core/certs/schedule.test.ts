import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, backoffDelayMs, renewalDelayMs } from '#core/certs/schedule.ts';

const H = 3_600_000;

test('renewal happens at half of the remaining lifetime, jittered by ±10 %', () => {
  const cases: Array<[string, Parameters<typeof renewalDelayMs>[0], number]> = [
    ['fresh 24 h certificate, no jitter', { now: 0, notBefore: 0, notAfter: 24 * H, random: 0.5 }, 12 * H],
    ['earliest jitter', { now: 0, notBefore: 0, notAfter: 24 * H, random: 0 }, 10.8 * H],
    ['latest jitter', { now: 0, notBefore: 0, notAfter: 24 * H, random: 1 }, 13.2 * H],
    ['back-dated notBefore is ignored', { now: 60_000, notBefore: 0, notAfter: 60_000 + 4000, random: 0.5 }, 2000],
    ['already expired renews at once', { now: 10 * H, notBefore: 0, notAfter: H, random: 0.5 }, 0],
    ['minimum delay applies', { now: 0, notBefore: 0, notAfter: 100, random: 0.5, minMs: 1000 }, 1000],
    ['far-future expiry is clamped to the timer limit', { now: 0, notBefore: 0, notAfter: 365 * 24 * H, random: 0.5 }, MAX_TIMER_MS],
  ];
  for (const [name, input, want] of cases) assert.equal(renewalDelayMs(input), Math.round(want), name);
});

test('backoff doubles from the initial delay and is capped', () => {
  const p = { initialMs: 1000, maxMs: 150_000, random: 0.5 };
  const cases: Array<[number, number]> = [[1, 1000], [2, 2000], [3, 4000], [8, 128_000], [9, 150_000], [100, 150_000]];
  for (const [failures, want] of cases) assert.equal(backoffDelayMs(failures, p), want, `failure ${failures}`);
  assert.equal(backoffDelayMs(9, { ...p, random: 1 }), 165_000);
  assert.equal(backoffDelayMs(1, { ...p, random: 0 }), 900);
});
