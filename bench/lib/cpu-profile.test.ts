import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpuProfile, selfTimeDifference, selfTimes, shortUrl, type CpuProfile } from './cpu-profile.ts';

const ROOT = '/work/weft';

// root → main → { hot, cold }, plus V8's idle and GC entries. Each sample lasts until the next.
function profile(samples: number[], deltas: number[]): CpuProfile {
  const frame = (functionName: string, url = '', lineNumber = -1): CpuProfile['nodes'][number]['callFrame'] => ({ functionName, url, lineNumber });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('main', `file://${ROOT}/waypoint/main.ts`, 9) },
      { id: 3, callFrame: frame('hot', `file://${ROOT}/waypoint/policy/rate-limit.ts`, 41) },
      { id: 4, callFrame: frame('', `file://${ROOT}/node_modules/undici/lib/client.js`, 0) },
      { id: 5, callFrame: frame('(idle)') },
      { id: 6, callFrame: frame('(garbage collector)') },
      { id: 7, callFrame: frame('hot', `file://${ROOT}/waypoint/policy/rate-limit.ts`, 41) },
      { id: 8, callFrame: frame('writev') },
    ],
    startTime: 1_000, samples, timeDeltas: deltas,
  };
}

test('shortUrl: project files relative to the root, packages by their path in node_modules', () => {
  const cases: [string, string][] = [
    [`file://${ROOT}/waypoint/policy/rate-limit.ts`, 'waypoint/policy/rate-limit.ts'],
    [`file://${ROOT}/node_modules/undici/lib/client.js`, 'undici/lib/client.js'],
    ['file:///usr/lib/x%20y.js', '/usr/lib/x y.js'],
    ['node:internal/streams/writable', 'node:internal/streams/writable'],
  ];
  for (const [url, want] of cases) assert.equal(shortUrl(url, `${ROOT}/`), want, url);
  assert.equal(shortUrl(`file://${ROOT}/core/log.ts`, ROOT), 'core/log.ts');
});

test('selfTimes: a sample lasts until the next, idle is not busy, one entry per function and line', () => {
  // Sample durations are the next delta: 3:100 2:50 5:400 3:25 6:75 7:10 4:0 (the last has none).
  const p = profile([3, 2, 5, 3, 6, 7, 4], [999, 100, 50, 400, 25, 75, 10]);
  const s = selfTimes(p, ROOT);
  assert.equal(s.busyMs, 0.26);
  assert.deepEqual(s.functions.map((f) => [f.name, f.selfMs]), [
    ['hot (waypoint/policy/rate-limit.ts:42)', 0.135],
    ['(garbage collector)', 0.075],
    ['main (waypoint/main.ts:10)', 0.05],
  ]);
  assert.ok(Math.abs((s.functions[0]?.share ?? 0) - 135 / 260) < 1e-9);
  const files = selfTimes(profile([3, 2, 8, 4, 1], [0, 10, 20, 30, 40, 0]), ROOT, 'file');
  assert.deepEqual(files.functions.map((f) => [f.name, f.selfMs]), [
    ['undici/lib/client.js', 0.04], ['(native)', 0.03], ['waypoint/main.ts', 0.02], ['waypoint/policy/rate-limit.ts', 0.01],
  ], 'V8 entries in parentheses keep their names; native functions group as (native)');
});

test('selfTimes with windows keeps the samples taken inside them', () => {
  // Samples at 1000+999=1999 (3), 2099 (2), 2149 (5), 2549 (3), 2574 (6), 2649 (7), 2659 (4).
  const p = profile([3, 2, 5, 3, 6, 7, 4], [999, 100, 50, 400, 25, 75, 10]);
  const s = selfTimes(p, ROOT, 'function', [{ fromUs: 2099, toUs: 2100 }, { fromUs: 2540, toUs: 2574 }]);
  assert.deepEqual(s.functions.map((f) => [f.name, f.selfMs]), [['(garbage collector)', 0.075], ['main (waypoint/main.ts:10)', 0.05], ['hot (waypoint/policy/rate-limit.ts:42)', 0.025]]);
  assert.equal(s.busyMs, 0.15);
  assert.equal(selfTimes(p, ROOT, 'function', [{ fromUs: 0, toUs: 1998 }]).busyMs, 0);
  assert.equal(selfTimes(p, ROOT, 'function', []).busyMs, 0);
});

test('selfTimeDifference: per 1000 requests of each profile, the largest growth first', () => {
  const base = { busyMs: 30, functions: [{ name: 'a', selfMs: 20, share: 0 }, { name: 'b', selfMs: 10, share: 0 }] };
  const other = { busyMs: 60, functions: [{ name: 'a', selfMs: 20, share: 0 }, { name: 'c', selfMs: 40, share: 0 }] };
  const d = selfTimeDifference(base, 10_000, other, 5_000);
  assert.deepEqual(d, [
    { name: 'c', baseMsPer1000: 0, otherMsPer1000: 8, addedMsPer1000: 8 },
    { name: 'a', baseMsPer1000: 2, otherMsPer1000: 4, addedMsPer1000: 2 },
    { name: 'b', baseMsPer1000: 1, otherMsPer1000: 0, addedMsPer1000: -1 },
  ]);
  assert.throws(() => selfTimeDifference(base, 0, other, 1), /positive/);
});

test('parseCpuProfile refuses what is not a profile', () => {
  assert.throws(() => parseCpuProfile('{"nodes":[],"samples":[],"timeDeltas":[]}'), /not a V8 CPU profile/, 'no startTime');
  assert.throws(() => parseCpuProfile('[]'), /not a V8 CPU profile/);
  assert.equal(parseCpuProfile(JSON.stringify(profile([], []))).nodes.length, 8);
});
