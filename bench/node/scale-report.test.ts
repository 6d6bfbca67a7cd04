import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LatencySummary } from '#bench/lib/percentiles.ts';
import type { LongLivedResult, ScaleModeResult } from './scale-measure.ts';
import { renderScale } from './scale-report.ts';

const lat = (p99: number): LatencySummary => ({ count: 1, p50: p99 / 2, p90: p99, p99, max: p99 * 2, mean: p99 / 2 });
const held = (connections: number, perConn: number | null): LongLivedResult => ({
  connections, failedToOpen: 0, openSeconds: 0.5, openMs: lat(4), rssBeforeMiB: perConn === null ? null : 100, rssOpenMiB: null,
  rssHeldMiB: perConn === null ? null : 110, rssPerConnectionKiB: perConn, cpuMicrosPerConnectionSecond: perConn === null ? null : 12.345,
  proxyCoresHeld: perConn === null ? null : 0.25, pings: 0, broken: 1,
});
const mode = (name: string, perConn: number | null): ScaleModeResult => ({
  mode: name, description: '', proxies: [], longLived: [held(10, perConn), held(5000, perConn)],
  short: { rate: 1000, seconds: 10, launched: 10_000, failed: 3, achievedPerSecond: 998.6, connectMs: lat(8), proxyCpuSecondsPer1000: perConn === null ? null : 0.5, errors: {} },
});

test('renderScale: a row per mode and count, counts as integers, no proxy as dashes', () => {
  const lines = renderScale([mode('direct', null), mode('weft', 2.048)]).split('\n');
  assert.equal(lines[2], '| direct | 10 | 0.50 | 4.00 | 0 | – | – | – | – | – | 1 |');
  assert.equal(lines[5], '| weft | 5000 | 0.50 | 4.00 | 0 | 100.00 | 110.00 | 2.05 | 12.35 | 0.25 | 1 |');
  assert.equal(lines.at(-1), '| weft | 10000 | 999 | 4.00 | 8.00 | 16.00 | 3 | 0.50 |');
  assert.equal(lines.filter((l) => l.startsWith('| direct')).length, 3);
});
