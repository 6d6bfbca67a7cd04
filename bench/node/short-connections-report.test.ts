import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastNeighbourCounts, neighbourDelta, openTimes, renderRounds, type RoundResult } from './short-connections-report.ts';

test('lastNeighbourCounts takes the last complete counts line and skips torn or foreign ones', () => {
  assert.deepEqual(lastNeighbourCounts(''), { sent: 0, ok: 0, failed: 0, timedOut: 0 });
  assert.deepEqual(lastNeighbourCounts('ready\n'), { sent: 0, ok: 0, failed: 0, timedOut: 0 });
  const out = 'ready\n{"sent":10,"ok":10,"failed":0,"timedOut":0}\n{"sent":20,"ok":18,"failed":2,"timedOut":1}\n{"sent":3';
  assert.deepEqual(lastNeighbourCounts(out), { sent: 20, ok: 18, failed: 2, timedOut: 1 });
  assert.deepEqual(lastNeighbourCounts('{"sent":5,"ok":5,"failed":0,"timedOut":0}\n{"other":1}\n'), { sent: 5, ok: 5, failed: 0, timedOut: 0 });
});

test('neighbourDelta is what happened between two readings', () => {
  assert.deepEqual(neighbourDelta({ sent: 100, ok: 99, failed: 1, timedOut: 1 }, { sent: 250, ok: 240, failed: 10, timedOut: 7 }),
    { sent: 150, failed: 9, timedOut: 6 });
});

test('openTimes summarises per-connection times; none gives zeros', () => {
  assert.deepEqual(openTimes([]), { p50: 0, p99: 0, max: 0 });
  const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.deepEqual(openTimes(samples), { p50: 50, p99: 99, max: 100 });
});

test('renderRounds has one line per round and a total line', () => {
  const round = (n: number, seconds: number, cpu: number): RoundResult => ({
    round: n, connections: 5000, seconds, failed: n - 1, openMs: { p50: 20, p99: 90, max: 120 },
    destinationCpuSeconds: cpu, timeWait: n * 5000, neighbour: { sent: 500, failed: n, timedOut: 0 },
  });
  const table = renderRounds([round(1, 4, 2.5), round(2, 6, 3)]).split('\n');
  assert.equal(table.length, 5);
  assert.match(table[0] ?? '', /^\| round \| seconds to open all \|/);
  assert.equal(table[2], '| 1 | 4.0 | 20.0 | 90.0 | 0 | 2.5 | 5000 | 1 / 500 |');
  assert.equal(table[4], '| total | 10.0 | – | – | 1 | 5.5 | – | 3 / 1000 |');
});
