import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize } from './percentiles.ts';

test('percentile uses the nearest rank', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  const cases: [readonly number[], number, number][] = [
    [[], 50, 0],
    [[7], 0, 7],
    [[7], 99, 7],
    [hundred, 50, 50],
    [hundred, 90, 90],
    [hundred, 99, 99],
    [hundred, 100, 100],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 51, 3],
  ];
  for (const [list, p, want] of cases) assert.equal(percentile(list, p), want, `p${p} of ${list.length} samples`);
});

test('summarize sorts a copy and reports mean and max', () => {
  const samples = [5, 1, 4, 2, 3];
  const s = summarize(samples);
  assert.deepEqual(s, { count: 5, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
  assert.deepEqual(samples, [5, 1, 4, 2, 3]);
  assert.deepEqual(summarize([]), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
});
