// The lease decision table: create, renew, take over a released or expired lease, or wait.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideLease, leaseTimings } from '#controller/leader/decide.ts';
import type { LeaseDecision, LeaseObservation } from '#controller/leader/decide.ts';

const held = (holder: string): LeaseObservation['record'] => ({ holder, renewTime: '2025-01-01T00:00:00.000000Z', transitions: 3 });

test('decideLease', () => {
  const cases: { name: string; o: Partial<LeaseObservation>; want: LeaseDecision }[] = [
    { name: 'no lease yet', o: { record: undefined }, want: { action: 'create' } },
    { name: 'held by me, even when expired by my clock', o: { record: held('me'), observedAtMs: 0, nowMs: 60_000 }, want: { action: 'renew' } },
    { name: 'released', o: { record: held(''), nowMs: 1 }, want: { action: 'acquire', reason: 'released', previous: '' } },
    { name: 'held by another, seen renewed just now', o: { record: held('other'), observedAtMs: 1000, nowMs: 1000 }, want: { action: 'wait', holder: 'other', expiresInMs: 10_000 } },
    { name: 'held by another, 1 ms before expiry', o: { record: held('other'), observedAtMs: 1000, nowMs: 10_999 }, want: { action: 'wait', holder: 'other', expiresInMs: 1 } },
    { name: 'held by another, expired on my clock', o: { record: held('other'), observedAtMs: 1000, nowMs: 11_000 }, want: { action: 'acquire', reason: 'expired', previous: 'other' } },
  ];
  for (const c of cases) {
    const o: LeaseObservation = { record: undefined, observedAtMs: 0, nowMs: 0, identity: 'me', leaseDurationMs: 10_000, ...c.o };
    assert.deepEqual(decideLease(o), c.want, c.name);
  }
});

test('leaseTimings: the leader gives up before a follower may take over, and failover stays under 15 s by default', () => {
  for (const ms of [1000, 1500, 5000, 10_000, 15_000, 60_000]) {
    const t = leaseTimings(ms);
    assert.ok(t.renewDeadlineMs + t.retryPeriodMs < t.leaseDurationMs, `${ms}: ${JSON.stringify(t)}`);
    assert.ok(t.retryPeriodMs < t.renewDeadlineMs, `${ms}: the leader tries more than once before its deadline`);
  }
  const d = leaseTimings(10_000);
  assert.ok(d.leaseDurationMs + d.retryPeriodMs < 15_000);
});
