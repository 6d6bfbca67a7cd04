// Fixed-rate HTTP/1.1 latency with h2load (`--h1 --rps`): each connection sends at a set pace
// whatever the answers' delays, so a slow proxy shows as latency rather than as fewer
// requests. Percentiles come from the per-request log (`--log-file`), not h2load's summary.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalPod } from '#local/pod.ts';
import { summarize, type LatencySummary } from '#bench/lib/percentiles.ts';

export interface LogEntry {
  /** Request start, µs since the epoch. */
  startUs: number;
  status: number;
  /** Start of request to end of response, µs. */
  latencyUs: number;
}

/** h2load's per-request log: tab-separated start (µs since epoch), status, latency (µs). */
export function parseH2loadLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [start, status, latency] = line.split('\t').map(Number);
    if (start === undefined || status === undefined || latency === undefined || [start, status, latency].some((n) => !Number.isFinite(n))) {
      throw new Error(`h2load log: bad line ${JSON.stringify(line)}`);
    }
    out.push({ startUs: start, status, latencyUs: latency });
  }
  return out;
}

export interface FixedRateResult {
  /** Requests counted (after the warm-up), and how many of them were not 2xx. */
  requests: number;
  errors: number;
  /** Completed requests per second over the counted window. */
  achievedRps: number;
  /** Milliseconds. */
  latencyMs: LatencySummary;
}

/** Drops requests started in the first warmupMs, then summarizes the rest (latency in ms). */
export function summarizeLog(entries: readonly LogEntry[], warmupMs: number): FixedRateResult {
  const first = Math.min(...entries.map((e) => e.startUs));
  const counted = entries.filter((e) => e.startUs - first >= warmupMs * 1000);
  const starts = counted.map((e) => e.startUs);
  const spanS = counted.length < 2 ? 0 : (Math.max(...starts) - Math.min(...starts)) / 1e6;
  return {
    requests: counted.length,
    errors: counted.filter((e) => e.status < 200 || e.status > 299).length,
    achievedRps: spanS > 0 ? (counted.length - 1) / spanS : 0,
    latencyMs: summarize(counted.map((e) => e.latencyUs / 1000)),
  };
}

export interface FixedRateOptions {
  connections: number;
  /** Requests per second over all connections. */
  totalRps: number;
  seconds: number;
  warmupSeconds: number;
}

/** Runs h2load in pod against url and returns the summary of the measured window. */
export async function runFixedRate(pod: LocalPod, url: string, o: FixedRateOptions): Promise<FixedRateResult> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-h2load-'));
  const log = join(dir, 'requests.log');
  try {
    const duration = o.seconds + o.warmupSeconds;
    const r = await pod.exec([
      'h2load', '--h1', '-c', String(o.connections), '-t', '1', '--rps', String(o.totalRps / o.connections),
      '-D', String(duration), '--log-file', log, url,
    ], { timeoutMs: (duration + 20) * 1000 });
    if (r.code !== 0) throw new Error(`h2load exited ${String(r.code)}: ${r.stderr || r.stdout}`);
    const entries = parseH2loadLog(await readFile(log, 'utf8'));
    if (entries.length === 0) throw new Error(`h2load completed no request: ${r.stdout}`);
    return summarizeLog(entries, o.warmupSeconds * 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
