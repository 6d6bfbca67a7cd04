// CPU time and memory of a running process from /proc, for the cost columns of the benchmarks
// (proxy CPU seconds per 1000 requests, proxy RSS). Parsing is pure; reading is one file each.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface ProcSample {
  pid: number;
  /** user + system CPU seconds of all the process's threads so far. */
  cpuSeconds: number;
  /** Resident set size now, and its peak (VmHWM), in bytes. */
  rssBytes: number;
  peakRssBytes: number;
}

let clockTicks: number | undefined;

/** USER_HZ, the unit of the times in /proc/<pid>/stat (almost always 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * utime + stime in ticks from the text of /proc/<pid>/stat. The command name (field 2) may
 * hold spaces and parentheses, so fields are counted from the last ')'.
 */
export function parseStatTicks(text: string): number {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  // Fields from 3 (state) on; utime and stime are fields 14 and 15.
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('no utime/stime in /proc/<pid>/stat');
  return utime + stime;
}

/** A `Vm…:  1234 kB` field of /proc/<pid>/status in bytes; 0 when absent (e.g. a zombie). */
export function parseStatusKb(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]) * 1024;
}

export async function sampleProcess(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  return {
    pid,
    cpuSeconds: parseStatTicks(stat) / clockTicksPerSecond(),
    rssBytes: parseStatusKb(status, 'VmRSS'),
    peakRssBytes: parseStatusKb(status, 'VmHWM'),
  };
}

export interface ProcUsage {
  /** CPU seconds used between the two samples, summed over the processes. */
  cpuSeconds: number;
  /** Sum of the processes' RSS at the end, and of their peaks. */
  rssBytes: number;
  peakRssBytes: number;
}

/** Starts measuring pids; the returned function reports what they used since. */
export async function measureProcesses(pids: readonly number[]): Promise<() => Promise<ProcUsage>> {
  const before = await Promise.all(pids.map(sampleProcess));
  return async () => {
    const after = await Promise.all(pids.map(sampleProcess));
    let cpuSeconds = 0;
    let rssBytes = 0;
    let peakRssBytes = 0;
    after.forEach((a, i) => {
      cpuSeconds += a.cpuSeconds - (before[i]?.cpuSeconds ?? 0);
      rssBytes += a.rssBytes;
      peakRssBytes += a.peakRssBytes;
    });
    return { cpuSeconds, rssBytes, peakRssBytes };
  };
}
