import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIperfJson } from './iperf3.ts';
import { parseH2loadLog, summarizeLog } from './h2load.ts';

test('parseIperfJson takes the receiver side and surfaces iperf3 errors', () => {
  const report = { end: { sum_sent: { bits_per_second: 9.9e9, retransmits: 3 }, sum_received: { bits_per_second: 9.5e9, seconds: 5.01 } } };
  assert.deepEqual(parseIperfJson(JSON.stringify(report)), { gbps: 9.5, seconds: 5.01, retransmits: 3 });
  assert.throws(() => parseIperfJson(JSON.stringify({ error: 'unable to connect to server' })), /iperf3: unable to connect/);
  assert.throws(() => parseIperfJson('{"end":{}}'), /no end.sum_received/);
});

test('parseH2loadLog reads tab-separated start, status, latency', () => {
  assert.deepEqual(parseH2loadLog('1000000\t200\t350\n1004000\t503\t90\n\n'), [
    { startUs: 1_000_000, status: 200, latencyUs: 350 },
    { startUs: 1_004_000, status: 503, latencyUs: 90 },
  ]);
  assert.throws(() => parseH2loadLog('x\t200\n'), /bad line/);
});

test('summarizeLog drops the warm-up and reports rate, errors and ms percentiles', () => {
  // 3 s at 10 rps: starts every 100 ms; the first second has 10 slow requests.
  const entries = Array.from({ length: 30 }, (_, i) => ({
    startUs: 5_000_000 + i * 100_000, status: i === 25 ? 500 : 200, latencyUs: i < 10 ? 50_000 : 1000 + i,
  }));
  const s = summarizeLog(entries, 1000);
  assert.equal(s.requests, 20);
  assert.equal(s.errors, 1);
  assert.ok(Math.abs(s.achievedRps - 10) < 1e-9, String(s.achievedRps));
  assert.equal(s.latencyMs.max, 1.029);
  assert.equal(s.latencyMs.p50, 1.019);
});
