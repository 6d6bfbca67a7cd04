// The node benchmark's markdown tables: throughput and fixed-rate latency per mode, latency
// added over `direct`, and what the proxy processes cost.
import { markdownTable } from '#bench/lib/table.ts';
import type { ModeResult } from '#bench/node/measure.ts';

export interface Added {
  p50: number;
  p90: number;
  p99: number;
}

/** The mode's latency percentiles minus direct's, in ms; undefined without a direct run. */
export function addedLatency(r: ModeResult, direct: ModeResult | undefined): Added | undefined {
  if (direct === undefined) return undefined;
  const a = r.latency.latencyMs;
  const d = direct.latency.latencyMs;
  return { p50: a.p50 - d.p50, p90: a.p90 - d.p90, p99: a.p99 - d.p99 };
}

function gbps(r: ModeResult, streams: number): number | undefined {
  return r.throughput.find((t) => t.streams === streams)?.gbps;
}

export function renderTables(results: readonly ModeResult[], streams: readonly number[]): string {
  const direct = results.find((r) => r.mode === 'direct');
  const throughput = markdownTable(
    ['mode', ...streams.map((n) => `${n} stream${n === 1 ? '' : 's'} (Gbit/s)`), ...streams.map((n) => `×${n} vs direct`)],
    results.map((r) => [
      r.mode,
      ...streams.map((n) => gbps(r, n)),
      ...streams.map((n) => {
        const base = direct === undefined ? undefined : gbps(direct, n);
        const own = gbps(r, n);
        return base === undefined || own === undefined || base === 0 ? undefined : own / base;
      }),
    ]),
  );
  const latency = markdownTable(
    ['mode', 'p50', 'p90', 'p99', 'added p50', 'added p90', 'added p99', 'achieved rps', 'errors', 'proxy CPU s / 1000 req', 'proxy RSS MiB'],
    results.map((r) => {
      const l = r.latency.latencyMs;
      const added = addedLatency(r, direct);
      return [
        r.mode, l.p50, l.p90, l.p99, added?.p50, added?.p90, added?.p99, r.latency.achievedRps.toFixed(0), String(r.latency.errors),
        r.proxyCpuSecondsPer1000Requests ?? undefined, r.proxyRssMiB === null ? undefined : r.proxyRssMiB.toFixed(1),
      ];
    }),
    3,
  );
  return ['Throughput (iperf3, receiver side)', '', throughput, '', 'Latency (ms), HTTP/1.1 1 KiB responses at a fixed rate', '', latency].join('\n');
}
