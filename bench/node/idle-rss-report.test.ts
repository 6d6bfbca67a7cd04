import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasSettled, meetsGoal, parseRss, renderIdleRss, type RssMiB, type VariantResult } from './idle-rss-report.ts';

test('parseRss reads the total, private and file-backed resident memory in MiB', () => {
  const status = 'Name:\tnode\nVmRSS:\t   81920 kB\nRssAnon:\t   30720 kB\nRssFile:\t   51200 kB\nRssShmem:\t       0 kB\n';
  assert.deepEqual(parseRss(status), { rss: 80, anon: 30, file: 50 });
  assert.deepEqual(parseRss('Name:\tzombie\n'), { rss: 0, anon: 0, file: 0 });
});

test('hasSettled needs a full window within the tolerance', () => {
  assert.equal(hasSettled([100, 100], 3, 0.25), false, 'too few samples');
  assert.equal(hasSettled([120, 100, 100.2, 100.1], 3, 0.25), true, 'only the newest window counts');
  assert.equal(hasSettled([100, 100.2, 100.6], 3, 0.25), false, 'still moving');
  assert.equal(hasSettled([100, 99.9, 100], 3, 0.25), true);
});

const mib = (rss: number): RssMiB => ({ rss, anon: rss / 2, file: rss / 2 });

function variant(idle: number, afterLoad: number, settled: number): VariantResult {
  const z = { idle: mib(idle), afterLoad: mib(afterLoad), settled: mib(settled), settleSeconds: 10, settledWithinBound: true };
  return {
    name: 'v', description: 'd', nodeArgs: [], env: {}, floor: { empty: mib(44), builtins: mib(60) },
    ztunnels: [{ node: 'node1', ...z }, { node: 'node2', ...z, settledWithinBound: false }],
    iperf: { streams: 8, seconds: 5, gbps: 1.5 }, cpuSecondsPerGB: 3.25,
  };
}

test('meetsGoal bounds idle and settled by the idle goal, right after load by the load goal', () => {
  const goal = { idleMiB: 48, afterLoadMiB: 64 };
  assert.equal(meetsGoal(variant(40, 60, 45), goal), true);
  assert.equal(meetsGoal(variant(40, 70, 45), goal), false);
  assert.equal(meetsGoal(variant(40, 60, 50), goal), false);
  assert.equal(meetsGoal(variant(50, 60, 45), goal), false);
});

test('renderIdleRss prints one row per variant with both ztunnels and an unsettled mark', () => {
  const table = renderIdleRss([variant(78, 100, 90)], { idleMiB: 48, afterLoadMiB: 64 });
  const row = table.split('\n')[2] ?? '';
  assert.match(row, /^\| v \| 44 \/ 60 \| 78 \/ 78 \| 39 \/ 39 \| 100 \/ 100 \| 90 \/ 90 \| 45 \/ 45 \| – \/ – \| 10 \/ 10\+ \| 1\.50 \| 3\.25 \| no \|$/);
});
