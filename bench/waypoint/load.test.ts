import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h2loadArgs, parseH2loadSummary, summarizeEntries } from './load.ts';

const H2LOAD_OUTPUT = `starting benchmark...
finished in 11.00s, 1000.09 req/s, 1.11MB/s
requests: 11001 total, 11005 started, 11001 done, 10990 succeeded, 11 failed, 3 errored, 2 timeout
status codes: 10990 2xx, 0 3xx, 0 4xx, 11 5xx
`;

test('parseH2loadSummary reads the requests line', () => {
  assert.deepEqual(parseH2loadSummary(H2LOAD_OUTPUT), {
    total: 11001, started: 11005, done: 11001, succeeded: 10990, failed: 11, errored: 3, timeout: 2,
  });
  assert.throws(() => parseH2loadSummary('connect: Connection refused\n'), /no "requests:" line/);
});

test('h2loadArgs: fixed rate per connection, closed loop without --rps, URLs round robin at the end', () => {
  const cases: [Parameters<typeof h2loadArgs>[1], string[]][] = [
    [{ connections: 4, totalRps: 1000, seconds: 10, warmupSeconds: 1 }, ['-c', '4', '-t', '1', '--rps', '250', '-D', '11']],
    [{ connections: 16, seconds: 3, warmupSeconds: 1 }, ['-c', '16', '-t', '1', '-D', '4']],
  ];
  for (const [o, want] of cases) {
    const args = h2loadArgs(['http://a/x', 'http://a/y'], o, '/tmp/l');
    assert.deepEqual(args, ['h2load', '--h1', ...want, '--log-file', '/tmp/l', 'http://a/x', 'http://a/y']);
  }
  assert.throws(() => h2loadArgs([], { connections: 1, seconds: 1, warmupSeconds: 0 }, '/tmp/l'), /at least one URL/);
});

test('summarizeEntries drops the warm-up, counts non-2xx and handles more entries than a spread allows', () => {
  // 3 s at 10 rps: a start every 100 ms; the first second's requests are slow.
  const entries = Array.from({ length: 30 }, (_, i) => ({
    startUs: 5_000_000 + i * 100_000, status: i === 25 ? 503 : 200, latencyUs: i < 10 ? 50_000 : 1000 + i,
  }));
  const s = summarizeEntries(entries, 1000);
  assert.equal(s.logged, 30);
  assert.equal(s.requests, 20);
  assert.equal(s.errors, 1);
  assert.ok(Math.abs(s.achievedRps - 10) < 1e-9, String(s.achievedRps));
  assert.equal(s.latencyMs.p50, 1.019);
  assert.equal(s.latencyMs.max, 1.029);

  const many = Array.from({ length: 300_000 }, (_, i) => ({ startUs: i * 10, status: 200, latencyUs: 500 }));
  const big = summarizeEntries(many, 0);
  assert.equal(big.requests, 300_000);
  assert.ok(Math.abs(big.achievedRps - 100_000) < 1, String(big.achievedRps));
  assert.equal(big.latencyMs.p99, 0.5);

  assert.deepEqual(summarizeEntries([], 0).latencyMs, { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
});
