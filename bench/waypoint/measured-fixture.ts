// A Measured run made up for the report tests: given latencies (ms) and the run's counts.
import { summarize } from '#bench/lib/percentiles.ts';
import type { LoadResult } from '#bench/waypoint/load.ts';
import type { Measured } from '#bench/waypoint/report.ts';

export function measured(latencies: number[], o: { logged: number; cpu: number; wall?: number; rps?: number; rss?: number; ztunnel?: number; errors?: number }): Measured {
  const load: LoadResult = {
    logged: o.logged, requests: latencies.length, errors: o.errors ?? 0, achievedRps: o.rps ?? 1000, latencyMs: summarize(latencies),
    summary: { total: o.logged, started: o.logged, done: o.logged, succeeded: o.logged, failed: 0, errored: 0, timeout: 0 },
  };
  return {
    load, wallSeconds: o.wall ?? 11, proxyCpuSeconds: o.cpu, proxyRssMiB: o.rss ?? 0, proxyPeakRssMiB: o.rss ?? 0,
    ...(o.ztunnel === undefined ? {} : { ztunnelCpuSeconds: o.ztunnel }), machineBusy: 0.5,
  };
}
