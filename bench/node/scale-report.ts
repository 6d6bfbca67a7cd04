// Markdown tables of the scale scenario: one row per mode and connection count, then one row
// per mode for the fixed rate of short connections.
import { markdownTable, type Cell } from '#bench/lib/table.ts';
import type { ScaleModeResult } from '#bench/node/scale-measure.ts';

/** Counts print as whole numbers; the table's digits are for measured values. */
const count = (n: number): string => String(Math.round(n));

export function renderScale(results: readonly ScaleModeResult[]): string {
  const long: Cell[][] = [];
  for (const r of results) {
    for (const l of r.longLived) {
      long.push([
        r.mode, count(l.connections), l.openSeconds, l.openMs.p99, count(l.failedToOpen),
        l.rssBeforeMiB ?? undefined, l.rssHeldMiB ?? undefined, l.rssPerConnectionKiB ?? undefined,
        l.cpuMicrosPerConnectionSecond ?? undefined, l.proxyCoresHeld ?? undefined, count(l.broken),
      ]);
    }
  }
  const short: Cell[][] = results.map((r) => [
    r.mode, count(r.short.launched), count(r.short.achievedPerSecond), r.short.connectMs.p50, r.short.connectMs.p99, r.short.connectMs.max,
    count(r.short.failed), r.short.proxyCpuSecondsPer1000 ?? undefined,
  ]);
  return [
    markdownTable(['mode', 'connections', 'open all (s)', 'open p99 (ms)', 'failed', 'proxy RSS before (MiB)', 'proxy RSS held (MiB)',
      'RSS per connection (KiB)', 'CPU µs per connection-second', 'proxy cores while held', 'broke while held'], long),
    '',
    markdownTable(['mode', 'short connections', 'achieved /s', 'connect p50 (ms)', 'p99', 'max', 'failed', 'proxy CPU s per 1000'], short),
  ].join('\n');
}
