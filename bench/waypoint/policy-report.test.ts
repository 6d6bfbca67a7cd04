import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measured } from './measured-fixture.ts';
import { deltaByRound, renderDeltaTable, renderDifferenceTable, renderPolicyTable, renderSelfTimeTable } from './policy-report.ts';
import type { ScenarioResult } from './report.ts';

// Two rounds; round 2 is slower for everyone, the baseline too.
const results: ScenarioResult[] = [
  {
    name: 'l4', description: '', proxies: [],
    fixed: [measured([1, 1, 1], { logged: 10_000, cpu: 0 }), measured([2, 2, 4], { logged: 10_000, cpu: 0 })],
    max: [measured([1], { logged: 40_000, cpu: 0, rps: 4000 }), measured([1], { logged: 40_000, cpu: 0, rps: 4000 })],
  },
  {
    name: 'empty', description: '', baseline: 'l4', proxies: ['waypoint'],
    fixed: [measured([2, 2, 3], { logged: 10_000, cpu: 2 }), measured([3, 3, 6], { logged: 10_000, cpu: 2 })],
    max: [measured([4], { logged: 10_000, cpu: 4, rps: 2000 }), measured([4], { logged: 10_000, cpu: 4, rps: 2000 })],
  },
  {
    name: 'realistic', description: '', baseline: 'l4', proxies: ['waypoint'],
    fixed: [measured([3, 3, 5], { logged: 10_000, cpu: 3 }), measured([5, 5, 9], { logged: 10_000, cpu: 3, errors: 1 })],
    max: [measured([5], { logged: 10_000, cpu: 5, rps: 1500 }), measured([5], { logged: 10_000, cpu: 5, rps: 1500 })],
  },
];

test('deltaByRound: each round against the same round of the base, CPU as milliseconds per request', () => {
  const [, empty, realistic] = results;
  assert.ok(empty !== undefined && realistic !== undefined);
  const d = deltaByRound(realistic, empty);
  assert.deepEqual(d.map((x) => [x.p50, x.p99]), [[1, 2], [2, 3]]);
  assert.ok(d.every((x) => Math.abs((x.cpuMsPerRequest ?? 0) - 0.1) < 1e-9), JSON.stringify(d));
  assert.deepEqual(deltaByRound(realistic, { ...empty, fixed: empty.fixed.slice(0, 1) }).length, 1, 'a round the base lacks is skipped');
});

test('renderPolicyTable: added latency over l4, CPU, maximum rate and requests per core as ratios to empty', () => {
  const lines = renderPolicyTable(results).split('\n');
  assert.equal(lines.length, 5);
  assert.equal(lines[2], '| l4 | 1.500 | 2.500 | – | – | – | – | – | – | 4000 | 2.000 | – | – | 1000 | 0 |');
  // empty adds 1 ms p50 in both rounds, realistic 2 and 3: median 2.5 against 1.
  assert.equal(lines[3], '| empty | 2.500 | 4.500 | 1.000 | 2.000 | 1.000 | 1.000 | 0.200 | 1.000 | 2000 | 1.000 | 2500 | 1.000 | 1000 | 0 |');
  assert.equal(lines[4], '| realistic | 4.000 | 7.000 | 2.500 | 4.500 | 2.500 | 2.250 | 0.300 | 1.500 | 1500 | 0.750 | 2000 | 0.800 | 1000 | 1 |');
});

test('renderDeltaTable: medians over rounds of what a scenario adds to empty', () => {
  assert.deepEqual(renderDeltaTable(results).split('\n').slice(2), ['| realistic | 1.500 | 2.500 | 1.000–2.000 | 0.100 |']);
  assert.deepEqual(renderDeltaTable(results.filter((r) => r.name !== 'empty')).split('\n').slice(2), ['| realistic | – | – | – | – |']);
});

test('profile tables: the top rows only, shares as percentages', () => {
  const fns = [{ name: 'a (x.ts:1)', selfMs: 30, share: 0.6 }, { name: 'b', selfMs: 20, share: 0.4 }];
  assert.deepEqual(renderSelfTimeTable(fns, 1).split('\n').slice(2), ['| a (x.ts:1) | 30.0 | 60.0 % |']);
  const diff = renderDifferenceTable([{ name: 'c', baseMsPer1000: 1, otherMsPer1000: 3.5, addedMsPer1000: 2.5 }], 5, 'empty', 'realistic').split('\n');
  assert.equal(diff[0], '| function | empty ms / 1000 req | realistic ms / 1000 req | added ms / 1000 req |');
  assert.equal(diff[2], '| c | 1.0 | 3.5 | 2.5 |');
});
