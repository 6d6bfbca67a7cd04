import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measured } from './measured-fixture.ts';
import {
  addedByRound, busyShare, derive, median, parseProcStat, renderBaselineTable, renderMeshTable, renderProxyTable, summarizeScenario,
  type ScenarioResult,
} from './report.ts';

const near = (a: number | undefined, b: number): boolean => a !== undefined && Math.abs(a - b) < 1e-9;

test('parseProcStat and busyShare: guest time is inside user, idle and iowait are not busy', () => {
  const a = parseProcStat('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n');
  assert.deepEqual(a, { busy: 150, total: 1000 });
  const b = parseProcStat('cpu  400 0 100 1200 50 10 40 0 30 0\n');
  assert.deepEqual(b, { busy: 550, total: 1800 });
  assert.ok(near(busyShare(a, b), 400 / 800));
  assert.equal(busyShare(a, a), 0);
  assert.throws(() => parseProcStat('intr 1 2 3\n'), /no "cpu " line/);
});

test('median ignores missing values', () => {
  const cases: [(number | undefined)[], number | undefined][] = [
    [[], undefined], [[undefined], undefined], [[3], 3], [[3, 1, 2], 2], [[4, 1, 3, 2], 2.5], [[5, undefined, 1], 3], [[Number.NaN, 7], 7],
  ];
  for (const [values, want] of cases) assert.equal(median(values), want, JSON.stringify(values));
});

test('derive: CPU per 1000 requests over every logged request, requests per CPU second, cores', () => {
  const d = derive(measured([1], { logged: 11_000, cpu: 2.75, wall: 11, ztunnel: 4.4 }), true);
  assert.ok(near(d.cpuPer1000, 0.25));
  assert.ok(near(d.ztunnelCpuPer1000, 0.4));
  assert.ok(near(d.requestsPerCpuSecond, 4000));
  assert.ok(near(d.cores, 0.25));
  const none = derive(measured([1], { logged: 11_000, cpu: 0 }), false);
  assert.deepEqual(none, { cpuPer1000: undefined, ztunnelCpuPer1000: undefined, requestsPerCpuSecond: undefined, cores: undefined });
});

// Two rounds. Round 2 runs on a busier machine: everything is slower, the baseline too.
const results: ScenarioResult[] = [
  {
    name: 'l4', description: '', proxies: [],
    fixed: [measured([1, 1, 2], { logged: 11_000, cpu: 0, ztunnel: 4.4 }), measured([3, 3, 4], { logged: 11_000, cpu: 0, ztunnel: 4.4 })],
    max: [measured([2], { logged: 40_000, cpu: 0, rps: 4000 }), measured([2], { logged: 40_000, cpu: 0, rps: 3000 })],
  },
  {
    name: 'waypoint-routes', description: '', baseline: 'l4', proxies: ['waypoint'],
    fixed: [measured([2, 3, 5], { logged: 11_000, cpu: 5.5, rss: 150, ztunnel: 4.4 }), measured([4, 4, 8], { logged: 11_000, cpu: 5.5, rss: 160, ztunnel: 4.4, errors: 2 })],
    max: [measured([9], { logged: 11_000, cpu: 5.5, rps: 1000 }), measured([9], { logged: 11_000, cpu: 5.5, rps: 1000 })],
  },
  { name: 'tls-direct', description: '', proxies: [], fixed: [measured([0.25, 0.25, 1], { logged: 11_000, cpu: 0 })], max: [] },
  {
    name: 'nginx', description: '', baseline: 'tls-direct', proxies: ['nginx'],
    fixed: [measured([0.75, 0.75, 2], { logged: 11_000, cpu: 1.1, rss: 18 })], max: [measured([2], { logged: 80_000, cpu: 4, rps: 8000 })],
  },
];

test('addedByRound pairs each round with the baseline of the same round', () => {
  const wp = results[1];
  const nginx = results[3];
  assert.ok(wp !== undefined && nginx !== undefined);
  // Round 1: 3 − 1, 5 − 2; round 2: 4 − 3, 8 − 4. Unpaired medians would give 3.5 − 2 instead.
  assert.deepEqual(addedByRound(wp, results), [{ p50: 2, p90: 3, p99: 3 }, { p50: 1, p90: 4, p99: 4 }]);
  assert.deepEqual(addedByRound(nginx, results), [{ p50: 0.5, p90: 1, p99: 1 }]);
  assert.deepEqual(addedByRound({ name: 'x', description: '', baseline: 'missing', proxies: [], fixed: [], max: [] }, results), []);
});

test('summarizeScenario takes medians over rounds and sums errors', () => {
  const wp = results[1];
  assert.ok(wp !== undefined);
  const s = summarizeScenario(wp, results);
  assert.equal(s.rounds, 2);
  assert.equal(s.p50, 3.5);
  assert.equal(s.added.p50, 1.5);
  assert.deepEqual(s.added.p50Range, { min: 1, max: 2 });
  assert.ok(near(s.cpuPer1000, 0.5));
  assert.equal(s.peakRssMiB, 155);
  assert.equal(s.errors, 2);
  assert.ok(near(s.max.requestsPerCore, 2000));
});

test('renderMeshTable: baseline, waypoint and the published Envoy anchor', () => {
  const lines = renderMeshTable(results).split('\n');
  assert.ok(lines.includes('| l4 | 2.000 | 3.000 | 3.000 | – | – | – | – | – | 0.400 | – | – | 1000 | 0 |'), lines.join('\n'));
  assert.ok(lines.includes('| waypoint-routes | 3.500 | 6.500 | 6.500 | 1.500 | 3.500 | 3.500 | 1.000–2.000 | 0.500 | 0.400 | 155.0 | 155.0 | 1000 | 2 |'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('| Istio waypoint (Envoy), published | – | – | – | ~0.1 (goal) |') && l.includes('| 0.250 |') && l.includes('60 MB')));
  assert.ok(!lines.some((l) => l.startsWith('| nginx')));
});

test('renderProxyTable: requests per proxy core and added latency as ratios to nginx', () => {
  const lines = renderProxyTable(results).split('\n');
  // waypoint: 11,000 requests over 5.5 CPU s = 2000 per core, nginx 20,000: 0.1.
  assert.ok(lines.includes('| waypoint-routes | 1000 | 0.50 | 2000 | 2000–2000 | 0.100 | 9.000 | 0.50 | 1.500 | 3.500 | 3.000 | 0.500 | 155.0 | 2 |'), lines.join('\n'));
  assert.ok(lines.includes('| nginx | 8000 | 0.36 | 20000 | 20000–20000 | 1.000 | 2.000 | 0.50 | 0.500 | 1.000 | 1.000 | 0.100 | 18.0 | 0 |'), lines.join('\n'));
  assert.equal(lines.length, 4);
});

test('renderBaselineTable lists only scenarios without a proxy', () => {
  const lines = renderBaselineTable(results).split('\n');
  assert.deepEqual(lines.slice(2), ['| l4 | 2.000 | 3.000 | 3.000 | 3500 | 0.50 |', '| tls-direct | 0.250 | 1.000 | 1.000 | – | – |']);
});
