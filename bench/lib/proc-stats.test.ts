import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureProcesses, parseStatTicks, parseStatusKb, sampleProcess } from './proc-stats.ts';

test('parseStatTicks counts fields from the last parenthesis', () => {
  const tail = 'S 1 2 3 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 4 0 12345 1000000 500';
  assert.equal(parseStatTicks(`42 (stunnel) ${tail}`), 300);
  assert.equal(parseStatTicks(`42 (a) (b c)) ${tail}`), 300);
  assert.throws(() => parseStatTicks('garbage'));
  assert.throws(() => parseStatTicks('1 (x) S 1'));
});

test('parseStatusKb reads a kB field as bytes', () => {
  const status = 'Name:\tstunnel\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n';
  assert.equal(parseStatusKb(status, 'VmRSS'), 1024 * 1024);
  assert.equal(parseStatusKb(status, 'VmHWM'), 2048 * 1024);
  assert.equal(parseStatusKb('Name:\tzombie\n', 'VmRSS'), 0);
});

test('sampleProcess and measureProcesses see this process burn CPU', async () => {
  const s = await sampleProcess(process.pid);
  assert.ok(s.rssBytes > 1 << 20, `rss ${s.rssBytes}`);
  assert.ok(s.peakRssBytes >= s.rssBytes);
  const done = await measureProcesses([process.pid]);
  // Burn until this process has used 100 ms of CPU by its own count, however busy the machine.
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    const u = process.cpuUsage(start);
    if (u.user + u.system >= 100_000) break;
  }
  const used = await done();
  assert.ok(x > 0);
  assert.ok(used.cpuSeconds >= 0.05, `cpu ${used.cpuSeconds}`);
});
