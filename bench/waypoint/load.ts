// The load client of the waypoint benchmark: h2load in HTTP/1.1 mode inside the client pod,
// either at a fixed rate (`--rps` per connection, so a slow proxy shows as latency) or closed
// loop (each connection sends its next request as soon as the answer is in: the maximum rate).
// h2load was picked over wrk because Debian has no wrk2, h2load's rate mode paces each
// connection whatever the answers' delays, and its per-request log gives exact percentiles.
// Several URLs are used round robin, so one run exercises both path routes.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalPod } from '#local/pod.ts';
import { percentile, type LatencySummary } from '#bench/lib/percentiles.ts';
import { parseH2loadLog, type LogEntry } from '#bench/node/h2load.ts';

export interface LoadOptions {
  connections: number;
  /** Requests per second over all connections; undefined runs closed loop (maximum rate). */
  totalRps?: number;
  seconds: number;
  /** Requests started in the first seconds are left out of the figures (connections, JIT, pools). */
  warmupSeconds: number;
}

/** What h2load's closing summary says (it also counts requests that never got an answer). */
export interface H2loadSummary {
  total: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
}

const SUMMARY_LINE = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m;

export function parseH2loadSummary(stdout: string): H2loadSummary {
  const m = SUMMARY_LINE.exec(stdout);
  if (m === null) throw new Error(`h2load: no "requests:" line in its output: ${stdout.slice(0, 500)}`);
  const [total, started, done, succeeded, failed, errored, timeout] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return { total, started, done, succeeded, failed, errored, timeout };
}

export interface LoadResult {
  /** Every request h2load logged, warm-up included: what the CPU sampled over the run paid for. */
  logged: number;
  /** Requests counted after the warm-up, and how many of them were not 2xx. */
  requests: number;
  errors: number;
  /** Completed requests per second over the counted window. */
  achievedRps: number;
  /** Milliseconds, counted window only. */
  latencyMs: LatencySummary;
  summary: H2loadSummary;
}

/**
 * Drops requests started in the first warmupMs and summarizes the rest (latency in ms). Loops
 * instead of spreading into Math.min: a closed-loop run logs a few hundred thousand entries.
 */
export function summarizeEntries(entries: readonly LogEntry[], warmupMs: number): Omit<LoadResult, 'summary'> {
  let first = Infinity;
  for (const e of entries) if (e.startUs < first) first = e.startUs;
  const cutoff = first + warmupMs * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let minStart = Infinity;
  let maxStart = -Infinity;
  let sum = 0;
  for (const e of entries) {
    if (e.startUs < cutoff) continue;
    const ms = e.latencyUs / 1000;
    latencies.push(ms);
    sum += ms;
    if (e.status < 200 || e.status > 299) errors++;
    if (e.startUs < minStart) minStart = e.startUs;
    if (e.startUs > maxStart) maxStart = e.startUs;
  }
  latencies.sort((a, b) => a - b);
  const spanS = latencies.length < 2 ? 0 : (maxStart - minStart) / 1e6;
  return {
    logged: entries.length,
    requests: latencies.length,
    errors,
    achievedRps: spanS > 0 ? (latencies.length - 1) / spanS : 0,
    latencyMs: {
      count: latencies.length,
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
      mean: latencies.length === 0 ? 0 : sum / latencies.length,
    },
  };
}

/** The h2load command line for a run (the log file path is h2load's, inside the pod's view of /tmp). */
export function h2loadArgs(urls: readonly string[], o: LoadOptions, logFile: string): string[] {
  if (urls.length === 0) throw new Error('h2load needs at least one URL');
  const rate = o.totalRps === undefined ? [] : ['--rps', String(o.totalRps / o.connections)];
  return [
    'h2load', '--h1', '-c', String(o.connections), '-t', '1', ...rate,
    '-D', String(o.seconds + o.warmupSeconds), '--log-file', logFile, ...urls,
  ];
}

/** Runs h2load in pod and summarizes the measured window; fails when nothing completed. */
export async function runLoad(pod: LocalPod, urls: readonly string[], o: LoadOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-wpbench-h2load-'));
  const log = join(dir, 'requests.log');
  try {
    const duration = o.seconds + o.warmupSeconds;
    const r = await pod.exec(h2loadArgs(urls, o, log), { timeoutMs: (duration + 30) * 1000 });
    if (r.code !== 0) throw new Error(`h2load exited ${String(r.code)}: ${r.stderr || r.stdout}`);
    const summary = parseH2loadSummary(r.stdout);
    const entries = parseH2loadLog(await readFile(log, 'utf8'));
    if (entries.length === 0) throw new Error(`h2load completed no request: ${r.stdout}`);
    return { ...summarizeEntries(entries, o.warmupSeconds * 1000), summary };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
