// The pure half of the idle-memory benchmark (bench/node/idle-rss.ts): when a series of RSS
// samples has settled, a process's memory from /proc/<pid>/status, and the markdown table.
import { parseStatusKb } from '#bench/lib/proc-stats.ts';
import { markdownTable, type Cell } from '#bench/lib/table.ts';

const MIB = 1024 * 1024;

/** Resident memory in MiB: all of it, the private (anonymous) part, and the file-backed part (the node binary's pages, shared). */
export interface RssMiB {
  rss: number;
  anon: number;
  file: number;
}

export function parseRss(statusText: string): RssMiB {
  return {
    rss: parseStatusKb(statusText, 'VmRSS') / MIB,
    anon: parseStatusKb(statusText, 'RssAnon') / MIB,
    file: parseStatusKb(statusText, 'RssFile') / MIB,
  };
}

/**
 * Whether the newest `window` samples (MiB, oldest first) lie within `toleranceMiB` of each
 * other: memory is no longer being given back or taken.
 */
export function hasSettled(samples: readonly number[], window: number, toleranceMiB: number): boolean {
  if (samples.length < window) return false;
  const last = samples.slice(-window);
  return Math.max(...last) - Math.min(...last) <= toleranceMiB;
}

/** One ztunnel's memory at the three points of a run. */
export interface ZtunnelRss {
  node: string;
  idle: RssMiB;
  afterLoad: RssMiB;
  settled: RssMiB;
  /** Seconds from the end of iperf3 until `settled` (the bound when it never settled). */
  settleSeconds: number;
  settledWithinBound: boolean;
  /** After malloc_trim(0), when measured. */
  trimmed?: RssMiB;
}

export interface VariantResult {
  name: string;
  /** Which round, when a run has several. */
  round?: number;
  description: string;
  nodeArgs: readonly string[];
  env: Readonly<Record<string, string>>;
  /** The same node, flags and environment on an empty script, and with the built-ins ztunnel loads. */
  floor: { empty: RssMiB; builtins: RssMiB };
  ztunnels: ZtunnelRss[];
  iperf: { streams: number; seconds: number; gbps: number };
  /** CPU seconds of both ztunnels during the iperf3 run, per GB carried. */
  cpuSecondsPerGB: number;
}

export interface Goal {
  idleMiB: number;
  afterLoadMiB: number;
}

/** Met when every ztunnel is at most the idle goal idle and after settling, and at most the load goal right after load. */
export function meetsGoal(r: VariantResult, goal: Goal): boolean {
  return r.ztunnels.every((z) => z.idle.rss <= goal.idleMiB && z.settled.rss <= goal.idleMiB && z.afterLoad.rss <= goal.afterLoadMiB);
}

const pair = (a: number | undefined, b: number | undefined): string =>
  [a, b].map((v) => (v === undefined ? '–' : v.toFixed(0))).join(' / ');

export function renderIdleRss(results: readonly VariantResult[], goal: Goal): string {
  const rows: Cell[][] = results.map((r) => {
    const [a, b] = r.ztunnels;
    return [
      r.round === undefined ? r.name : `${r.name} (${String(r.round)})`,
      pair(r.floor.empty.rss, r.floor.builtins.rss),
      pair(a?.idle.rss, b?.idle.rss),
      pair(a?.idle.anon, b?.idle.anon),
      pair(a?.afterLoad.rss, b?.afterLoad.rss),
      pair(a?.settled.rss, b?.settled.rss),
      pair(a?.settled.anon, b?.settled.anon),
      pair(a?.trimmed?.rss, b?.trimmed?.rss),
      r.ztunnels.map((z) => `${z.settleSeconds.toFixed(0)}${z.settledWithinBound ? '' : '+'}`).join(' / '),
      r.iperf.gbps,
      r.cpuSecondsPerGB,
      meetsGoal(r, goal) ? 'yes' : 'no',
    ];
  });
  return markdownTable([
    'variant', 'floor: empty / built-ins', 'idle RSS (node1 / node2)', 'idle anon', `after iperf3 -P ${String(results[0]?.iperf.streams ?? '')}`,
    'settled RSS', 'settled anon', 'after malloc_trim(0)', 'settle (s)', 'Gbit/s', 'ztunnel CPU s/GB', `goal ≤ ${String(goal.idleMiB)} / ${String(goal.afterLoadMiB)}`,
  ], rows);
}
