// What the waypoint benchmark reports. Every scenario is measured in several rounds with the
// scenarios interleaved, so a figure and its baseline see the same load on the shared machine:
// per round a fixed-rate run (latency, and the proxy's CPU and memory at that rate) and for
// some a closed-loop run (maximum requests/s, and how many the proxy serves per CPU second it
// uses). Added latency is a round's percentile minus its baseline's in the same round (L4 mesh
// for the waypoint, TLS straight to a backend for nginx and HAProxy); tables show medians over
// rounds and ratios against nginx. Pure: the runner measures, this derives and renders.
import { markdownTable, type Cell } from '#bench/lib/table.ts';
import type { LoadResult } from '#bench/waypoint/load.ts';

export interface Measured {
  load: LoadResult;
  /** Wall-clock seconds of the whole h2load run (warm-up included), over which CPU was sampled. */
  wallSeconds: number;
  /** CPU seconds of the measured proxy processes over the run (0 when there is none). */
  proxyCpuSeconds: number;
  /** Sum over the proxy processes at the end of the run, and of their peaks (VmHWM). */
  proxyRssMiB: number;
  proxyPeakRssMiB: number;
  /** The mesh's two ztunnels, in the mesh scenarios. */
  ztunnelCpuSeconds?: number;
  /** Share of both cores busy (anything on the machine) during the run, 0..1. */
  machineBusy: number;
}

export interface ScenarioResult {
  name: string;
  description: string;
  /** Scenario whose fixed-rate latency this one's is compared with; none for a baseline. */
  baseline?: string;
  /** Labels of the processes counted as the proxy; empty for a baseline. */
  proxies: string[];
  /** One entry per round. */
  fixed: Measured[];
  /** One entry per round; empty for a scenario without a closed-loop run. */
  max: Measured[];
}

/** Machine-wide CPU counters: the first line of /proc/stat, in ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
}

export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('no "cpu " line in /proc/stat');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

export function busyShare(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

export interface Derived {
  /** Proxy CPU seconds per 1000 requests (every request of the run, warm-up included). */
  cpuPer1000: number | undefined;
  ztunnelCpuPer1000: number | undefined;
  /** Requests the proxy served per CPU second it used: requests/s per core. */
  requestsPerCpuSecond: number | undefined;
  /** Average number of cores the proxy kept busy. */
  cores: number | undefined;
}

export function derive(m: Measured, hasProxy: boolean): Derived {
  const k = m.load.logged / 1000;
  return {
    cpuPer1000: hasProxy && k > 0 ? m.proxyCpuSeconds / k : undefined,
    ztunnelCpuPer1000: m.ztunnelCpuSeconds !== undefined && k > 0 ? m.ztunnelCpuSeconds / k : undefined,
    requestsPerCpuSecond: hasProxy && m.proxyCpuSeconds > 0 ? m.load.logged / m.proxyCpuSeconds : undefined,
    cores: hasProxy && m.wallSeconds > 0 ? m.proxyCpuSeconds / m.wallSeconds : undefined,
  };
}

/** Median of the defined values (mean of the middle two for an even count); undefined if none. */
export function median(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
}

export interface Range {
  min: number;
  max: number;
}

function range(values: readonly (number | undefined)[]): Range | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length === 0 ? undefined : { min: Math.min(...v), max: Math.max(...v) };
}

export interface Added {
  p50: number;
  p90: number;
  p99: number;
}

/** Per round: the scenario's fixed-rate percentiles minus its baseline's in the same round, in ms. */
export function addedByRound(r: ScenarioResult, all: readonly ScenarioResult[]): Added[] {
  const base = all.find((b) => b.name === r.baseline);
  if (base === undefined) return [];
  const out: Added[] = [];
  r.fixed.forEach((m, i) => {
    const b = base.fixed[i]?.load.latencyMs;
    const own = m.load.latencyMs;
    if (b !== undefined) out.push({ p50: own.p50 - b.p50, p90: own.p90 - b.p90, p99: own.p99 - b.p99 });
  });
  return out;
}

/** Medians over rounds of everything the tables show. */
export interface ScenarioSummary {
  name: string;
  rounds: number;
  p50: number | undefined;
  p90: number | undefined;
  p99: number | undefined;
  added: { p50: number | undefined; p90: number | undefined; p99: number | undefined; p50Range: Range | undefined };
  cpuPer1000: number | undefined;
  ztunnelCpuPer1000: number | undefined;
  rssMiB: number | undefined;
  peakRssMiB: number | undefined;
  achievedRps: number | undefined;
  /** Non-2xx answers and requests h2load counted as errored, over every run of the scenario. */
  errors: number;
  max: {
    rps: number | undefined;
    cores: number | undefined;
    requestsPerCore: number | undefined;
    requestsPerCoreRange: Range | undefined;
    p50: number | undefined;
    machineBusy: number | undefined;
  };
}

export function summarizeScenario(r: ScenarioResult, all: readonly ScenarioResult[]): ScenarioSummary {
  const hasProxy = r.proxies.length > 0;
  const added = addedByRound(r, all);
  const fixed = r.fixed.map((m) => derive(m, hasProxy));
  const max = r.max.map((m) => derive(m, hasProxy));
  const errors = [...r.fixed, ...r.max].reduce((n, m) => n + m.load.errors + m.load.summary.errored, 0);
  return {
    name: r.name,
    rounds: r.fixed.length,
    p50: median(r.fixed.map((m) => m.load.latencyMs.p50)),
    p90: median(r.fixed.map((m) => m.load.latencyMs.p90)),
    p99: median(r.fixed.map((m) => m.load.latencyMs.p99)),
    added: {
      p50: median(added.map((a) => a.p50)), p90: median(added.map((a) => a.p90)), p99: median(added.map((a) => a.p99)),
      p50Range: range(added.map((a) => a.p50)),
    },
    cpuPer1000: median(fixed.map((d) => d.cpuPer1000)),
    ztunnelCpuPer1000: median(fixed.map((d) => d.ztunnelCpuPer1000)),
    rssMiB: hasProxy ? median(r.fixed.map((m) => m.proxyRssMiB)) : undefined,
    peakRssMiB: hasProxy ? median(r.fixed.map((m) => m.proxyPeakRssMiB)) : undefined,
    achievedRps: median(r.fixed.map((m) => m.load.achievedRps)),
    errors,
    max: {
      rps: median(r.max.map((m) => m.load.achievedRps)),
      cores: median(max.map((d) => d.cores)),
      requestsPerCore: median(max.map((d) => d.requestsPerCpuSecond)),
      requestsPerCoreRange: range(max.map((d) => d.requestsPerCpuSecond)),
      p50: median(r.max.map((m) => m.load.latencyMs.p50)),
      machineBusy: median(r.max.map((m) => m.machineBusy)),
    },
  };
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;

const fixedDigits = (n: number | undefined, digits: number): string | undefined => n?.toFixed(digits);

const span = (r: Range | undefined, digits: number): string | undefined =>
  r === undefined ? undefined : `${r.min.toFixed(digits)}–${r.max.toFixed(digits)}`;

/**
 * The published anchors: Istio 1.24's performance page gives the waypoint (Envoy) 0.25 vCPU
 * and 60 MB at 1000 rps (1 KB, 2 worker threads); ~0.1 ms added is the latency goal set for
 * weft against Envoy (that page shows latency only as charts).
 */
export const ENVOY_WAYPOINT = { vcpuAt1000Rps: 0.25, memoryMB: 60, addedMsAt1000Rps: 0.1 } as const;

/** The mesh table: L4 against the waypoint at 1000 rps, with the waypoint's cost. */
export function renderMeshTable(results: readonly ScenarioResult[]): string {
  const rows: Cell[][] = results.filter((r) => r.name === 'l4' || r.baseline === 'l4').map((r) => {
    const s = summarizeScenario(r, results);
    return [
      r.name, s.p50, s.p90, s.p99, s.added.p50, s.added.p90, s.added.p99, span(s.added.p50Range, 3), s.cpuPer1000, s.ztunnelCpuPer1000,
      fixedDigits(s.rssMiB, 1), fixedDigits(s.peakRssMiB, 1), fixedDigits(s.achievedRps, 0), String(s.errors),
    ];
  });
  // 0.25 vCPU at 1000 rps is 0.25 CPU seconds per 1000 requests.
  rows.push(['Istio waypoint (Envoy), published', undefined, undefined, undefined, `~${ENVOY_WAYPOINT.addedMsAt1000Rps} (goal)`, undefined, undefined, undefined,
    ENVOY_WAYPOINT.vcpuAt1000Rps, undefined, `${ENVOY_WAYPOINT.memoryMB} MB`, undefined, '1000', undefined]);
  return markdownTable(
    ['mode', 'p50', 'p90', 'p99', 'added p50', 'added p90', 'added p99', 'added p50 over rounds', 'waypoint CPU s / 1000 req',
      'ztunnels CPU s / 1000 req', 'waypoint RSS MiB', 'peak RSS MiB', 'achieved rps', 'errors'],
    rows, 3,
  );
}

/**
 * The proxy-core table: maximum rate, requests per proxy core, added latency and cost at 1000
 * rps, ratios to nginx. The p99 difference gets no ratio: on a shared machine it is a few
 * tenths of a millisecond either side of zero, and a ratio of two such numbers means nothing.
 */
export function renderProxyTable(results: readonly ScenarioResult[]): string {
  const nginxResult = results.find((r) => r.name === 'nginx');
  const nginx = nginxResult === undefined ? undefined : summarizeScenario(nginxResult, results);
  const rows = results.filter((r) => r.proxies.length > 0 && r.max.length > 0).map((r): Cell[] => {
    const s = summarizeScenario(r, results);
    return [
      r.name, fixedDigits(s.max.rps, 0), fixedDigits(s.max.cores, 2), fixedDigits(s.max.requestsPerCore, 0), span(s.max.requestsPerCoreRange, 0),
      ratio(s.max.requestsPerCore, nginx?.max.requestsPerCore), s.max.p50, fixedDigits(s.max.machineBusy, 2),
      s.added.p50, s.added.p99, ratio(s.added.p50, nginx?.added.p50),
      s.cpuPer1000, fixedDigits(s.peakRssMiB, 1), String(s.errors),
    ];
  });
  return markdownTable(
    ['proxy', 'max rps', 'proxy cores at max', 'rps per proxy core', 'over rounds', 'per core vs nginx', 'p50 at max (ms)', 'machine busy',
      'added p50 at 1000 rps', 'added p99', 'added p50 vs nginx', 'CPU s / 1000 req at 1000 rps', 'peak RSS MiB', 'errors'],
    rows, 3,
  );
}

/** Baselines' own figures, to read the others against: latency at 1000 rps and the maximum without the proxy. */
export function renderBaselineTable(results: readonly ScenarioResult[]): string {
  return markdownTable(
    ['baseline', 'p50 at 1000 rps', 'p90', 'p99', 'max rps', 'machine busy at max'],
    results.filter((r) => r.proxies.length === 0).map((r) => {
      const s = summarizeScenario(r, results);
      return [r.name, s.p50, s.p90, s.p99, fixedDigits(s.max.rps, 0), fixedDigits(s.max.machineBusy, 2)];
    }),
    3,
  );
}
