import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '#bench/lib/percentiles.ts';
import type { ModeResult } from './measure.ts';
import { addedLatency, renderTables } from './report.ts';

function result(mode: string, gbps: [number, number], latencies: number[], cpu: number | null): ModeResult {
  return {
    mode, description: mode,
    throughput: [{ streams: 1, gbps: gbps[0], retransmits: 0, proxyCpuSeconds: 0 }, { streams: 8, gbps: gbps[1], retransmits: 0, proxyCpuSeconds: 0 }],
    latency: { requests: latencies.length, errors: 0, achievedRps: 1000, latencyMs: summarize(latencies) },
    proxies: cpu === null ? [] : ['p'],
    proxyCpuSecondsPer1000Requests: cpu,
    proxyRssMiB: cpu === null ? null : 12.25,
    proxyPeakRssMiB: cpu === null ? null : 13,
  };
}

test('addedLatency subtracts direct percentile by percentile', () => {
  const direct = result('direct', [10, 12], [0.1, 0.2, 0.3], null);
  const tls = result('stunnel', [3, 4], [0.4, 0.6, 1.3], 0.05);
  const added = addedLatency(tls, direct);
  assert.ok(added !== undefined);
  assert.ok(Math.abs(added.p50 - 0.4) < 1e-9);
  assert.ok(Math.abs(added.p99 - 1.0) < 1e-9);
  assert.equal(addedLatency(tls, undefined), undefined);
});

test('renderTables shows ratios to direct and dashes where a mode has no proxy', () => {
  const text = renderTables([result('direct', [10, 12], [0.1, 0.2, 0.3], null), result('stunnel', [3, 4], [0.4, 0.6, 1.3], 0.05)], [1, 8]);
  const lines = text.split('\n');
  assert.ok(lines.includes('| direct | 10.00 | 12.00 | 1.00 | 1.00 |'), text);
  assert.ok(lines.includes('| stunnel | 3.00 | 4.00 | 0.30 | 0.33 |'), text);
  assert.ok(lines.includes('| direct | 0.200 | 0.300 | 0.300 | 0.000 | 0.000 | 0.000 | 1000 | 0 | – | – |'), text);
  assert.ok(lines.includes('| stunnel | 0.600 | 1.300 | 1.300 | 0.400 | 1.000 | 1.000 | 1000 | 0 | 0.050 | 12.3 |'), text);
});
