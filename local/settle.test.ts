import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { pushClientsOf, restingPushState, waitForQuietPush, type PushClientStatus } from './settle.ts';

const c = (id: string, version: number | undefined, inFlight = false, connected = true): PushClientStatus => ({ id, connected, version, inFlight });

test('restingPushState', () => {
  const cases: [string, PushClientStatus[], number, string | undefined][] = [
    ['all at one version', [c('ztunnel/n1', 4), c('ztunnel/n2', 4)], 2, 'ztunnel/n1=4,ztunnel/n2=4'],
    ['a change that reached one node only', [c('ztunnel/n2', 3), c('ztunnel/n1', 5)], 2, 'ztunnel/n1=5,ztunnel/n2=3'],
    ['a push in flight', [c('ztunnel/n1', 4), c('ztunnel/n2', 4, true)], 2, undefined],
    ['a proxy that never answered', [c('ztunnel/n1', 4), c('ztunnel/n2', undefined)], 2, undefined],
    ['too few connected', [c('ztunnel/n1', 4), c('ztunnel/n2', 4, false, false)], 2, undefined],
    ['a disconnected proxy does not hold it back', [c('ztunnel/n1', 4), c('ztunnel/n2', 4), c('waypoint/x', undefined, true, false)], 2, 'ztunnel/n1=4,ztunnel/n2=4'],
    ['waypoints count too', [c('ztunnel/n1', 4), c('ztunnel/n2', 4), c('waypoint/x', 2, true)], 2, undefined],
  ];
  for (const [name, clients, min, want] of cases) assert.equal(restingPushState(clients, min), want, name);
});

test('pushClientsOf reads /status and refuses what is not one', () => {
  assert.deepEqual(pushClientsOf({ clients: [{ id: 'ztunnel/n1', connected: true, version: 3, inFlightVersion: null }, { id: 'ztunnel/n2', connected: false }] }),
    [c('ztunnel/n1', 3), c('ztunnel/n2', undefined, false, false)]);
  assert.deepEqual(pushClientsOf({ clients: [{ id: 'ztunnel/n1', connected: true, version: 3, inFlightVersion: 4 }] }), [c('ztunnel/n1', 3, true)]);
  for (const bad of [undefined, null, [], {}, { clients: {} }, { clients: [{ connected: true }] }]) assert.equal(pushClientsOf(bad), undefined, JSON.stringify(bad));
});

test('waitForQuietPush polls past failed fetches and accepts proxies at different versions', async () => {
  const answers: (() => unknown)[] = [
    () => { throw new Error('connect ECONNREFUSED'); },
    () => ({ clients: [{ id: 'ztunnel/n1', connected: true, version: 5, inFlightVersion: 6 }, { id: 'ztunnel/n2', connected: true, version: 5 }] }),
    () => { throw new Error('socket hang up'); },
    () => ({ clients: [{ id: 'ztunnel/n1', connected: true, version: 6 }, { id: 'ztunnel/n2', connected: true, version: 5 }] }),
    () => ({ clients: [{ id: 'ztunnel/n1', connected: true, version: 6 }, { id: 'ztunnel/n2', connected: true, version: 5 }] }),
  ];
  let polls = 0;
  await waitForQuietPush({
    status: async () => {
      const next = answers[Math.min(polls++, answers.length - 1)];
      assert.ok(next);
      return next();
    },
    minClients: 2, timeoutMs: 5000, intervalMs: 5, quietMs: 0,
  });
  assert.equal(polls, 5);
});

test('waitForQuietPush waits for the resting state to hold for the quiet time', async () => {
  const rest = { clients: [{ id: 'ztunnel/n1', connected: true, version: 3 }, { id: 'ztunnel/n2', connected: true, version: 3 }] };
  const moved = { clients: [{ id: 'ztunnel/n1', connected: true, version: 4 }, { id: 'ztunnel/n2', connected: true, version: 3 }] };
  const started = Date.now();
  let polls = 0;
  await waitForQuietPush({ status: async () => (++polls === 4 ? moved : polls < 4 ? rest : moved), minClients: 2, timeoutMs: 5000, intervalMs: 10, quietMs: 150 });
  // The change at the fourth poll restarted the quiet time.
  assert.ok(Date.now() - started >= 150 + 30, `${Date.now() - started} ms`);
});

test('waitForQuietPush times out with what it was waiting for', async () => {
  const inFlight = { clients: [{ id: 'ztunnel/n1', connected: true, version: 1, inFlightVersion: 2 }, { id: 'ztunnel/n2', connected: true, version: 2 }] };
  await assert.rejects(waitForQuietPush({ status: async () => inFlight, minClients: 2, timeoutMs: 50, intervalMs: 5 }),
    (err) => isWeftError(err, 'WEFT_ERR_LOCAL_TIMEOUT') && /waiting on ztunnel\/n1/.test(err.message));
  await assert.rejects(waitForQuietPush({ status: () => Promise.reject(new Error('connect ECONNREFUSED')), minClients: 2, timeoutMs: 50, intervalMs: 5 }),
    (err) => isWeftError(err, 'WEFT_ERR_LOCAL_TIMEOUT') && /\/status failed: connect ECONNREFUSED/.test(err.message));
});
