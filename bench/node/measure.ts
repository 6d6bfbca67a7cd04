// Runs the measurements of one mode on its data path: iperf3 throughput for each stream count,
// then fixed-rate HTTP/1.1 latency while the proxies' CPU time and memory are sampled.
import { measureProcesses } from '#bench/lib/proc-stats.ts';
import type { ModeSetup, Scene } from '#bench/node/mode.ts';
import { runFixedRate, type FixedRateOptions, type FixedRateResult } from '#bench/node/h2load.ts';
import { runIperf } from '#bench/node/iperf3.ts';

export interface MeasureOptions {
  streams: readonly number[];
  iperfSeconds: number;
  latency: FixedRateOptions;
  /** Path the echo app answers with the response size, e.g. /bytes/1024. */
  httpPath: string;
}

export interface ThroughputResult {
  streams: number;
  gbps: number;
  retransmits: number;
  /** CPU seconds the proxies used during the run (0 without a proxy). */
  proxyCpuSeconds: number;
}

export interface ModeResult {
  mode: string;
  description: string;
  throughput: ThroughputResult[];
  latency: FixedRateResult;
  proxies: string[];
  /** Proxy CPU seconds per 1000 requests of the latency run; null without a proxy. */
  proxyCpuSecondsPer1000Requests: number | null;
  /** Sum over the proxies at the end of the latency run, and of their peaks; null without a proxy. */
  proxyRssMiB: number | null;
  proxyPeakRssMiB: number | null;
}

const MiB = 1024 * 1024;

export async function measureMode(
  mode: { name: string; description: string }, scene: Scene, setup: ModeSetup, o: MeasureOptions, log: (line: string) => void,
): Promise<ModeResult> {
  const pids = setup.proxies.map((p) => p.pid);
  const throughput: ThroughputResult[] = [];
  for (const streams of o.streams) {
    const done = await measureProcesses(pids);
    const r = await runIperf(scene.client, setup.targets.iperf, streams, o.iperfSeconds);
    const used = await done();
    throughput.push({ streams, gbps: r.gbps, retransmits: r.retransmits, proxyCpuSeconds: used.cpuSeconds });
    log(`${mode.name}: iperf3 x${streams} ${r.gbps.toFixed(2)} Gbit/s`);
  }
  const url = `http://${setup.targets.http.host}:${setup.targets.http.port}${o.httpPath}`;
  const done = await measureProcesses(pids);
  const latency = await runFixedRate(scene.client, url, o.latency);
  const used = await done();
  // The warm-up second also cost CPU: count its requests too.
  const allRequests = latency.requests * (o.latency.seconds + o.latency.warmupSeconds) / o.latency.seconds;
  log(`${mode.name}: ${latency.requests} requests at ${latency.achievedRps.toFixed(0)} rps, p50 ${latency.latencyMs.p50.toFixed(3)} ms, p99 ${latency.latencyMs.p99.toFixed(3)} ms, ${latency.errors} errors`);
  const hasProxy = pids.length > 0;
  return {
    mode: mode.name,
    description: mode.description,
    throughput,
    latency,
    proxies: setup.proxies.map((p) => p.label),
    proxyCpuSecondsPer1000Requests: hasProxy && allRequests > 0 ? used.cpuSeconds / (allRequests / 1000) : null,
    proxyRssMiB: hasProxy ? used.rssBytes / MiB : null,
    proxyPeakRssMiB: hasProxy ? used.peakRssBytes / MiB : null,
  };
}
