// The pure part of the short-connections benchmark: what one round records, the neighbour
// loop's counts read from its output, and the markdown table for bench/README.md.
import { summarize } from '#bench/lib/percentiles.ts';
import { markdownTable, type Cell } from '#bench/lib/table.ts';

/** Cumulative counts of the neighbour loop (bench/node/neighbour-loop.ts). */
export interface NeighbourCounts {
  sent: number;
  ok: number;
  /** Errors and timeouts together. */
  failed: number;
  timedOut: number;
}

export interface RoundResult {
  round: number;
  connections: number;
  /** Wall time from the first connect to the last connection closed. */
  seconds: number;
  /** Connections that errored or got no echo back. */
  failed: number;
  /** Connect to the echo's first byte, per connection that succeeded. */
  openMs: { p50: number; p99: number; max: number };
  /** CPU seconds (user + system) the destination ztunnel used during the round. */
  destinationCpuSeconds: number;
  /** TIME_WAIT sockets in the destination pod at the end of the round. */
  timeWait: number;
  /** The neighbour's requests during the round. */
  neighbour: { sent: number; failed: number; timedOut: number };
}

const EMPTY: NeighbourCounts = { sent: 0, ok: 0, failed: 0, timedOut: 0 };

function isCounts(v: unknown): v is NeighbourCounts {
  if (typeof v !== 'object' || v === null) return false;
  return ['sent', 'ok', 'failed', 'timedOut'].every((k) => typeof Reflect.get(v, k) === 'number');
}

/** The last complete counts line of the loop's stdout (zeros before the first one). */
export function lastNeighbourCounts(stdout: string): NeighbourCounts {
  const lines = stdout.split('\n');
  // The final element is a line still being written, unless the output ends with a newline.
  for (let i = lines.length - 2; i >= 0; i--) {
    const line = lines[i]?.trim() ?? '';
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (isCounts(v)) return v;
    } catch {
      // a torn line: keep looking further up
    }
  }
  return { ...EMPTY };
}

/** What happened between two readings of the cumulative counts. */
export function neighbourDelta(before: NeighbourCounts, after: NeighbourCounts): RoundResult['neighbour'] {
  return { sent: after.sent - before.sent, failed: after.failed - before.failed, timedOut: after.timedOut - before.timedOut };
}

/** p50 / p99 / max of the per-connection open times (ms); zeros for none. */
export function openTimes(samplesMs: readonly number[]): RoundResult['openMs'] {
  const s = summarize(samplesMs);
  return { p50: s.p50, p99: s.p99, max: s.max };
}

/** One line per round, then the totals. */
export function renderRounds(rounds: readonly RoundResult[]): string {
  const sum = (f: (r: RoundResult) => number): number => rounds.reduce((a, r) => a + f(r), 0);
  const rows: Cell[][] = rounds.map((r) => [
    String(r.round), r.seconds, r.openMs.p50, r.openMs.p99, String(r.failed), r.destinationCpuSeconds, String(r.timeWait),
    `${r.neighbour.failed} / ${r.neighbour.sent}`,
  ]);
  rows.push([
    'total', sum((r) => r.seconds), undefined, undefined, String(sum((r) => r.failed)), sum((r) => r.destinationCpuSeconds), undefined,
    `${sum((r) => r.neighbour.failed)} / ${sum((r) => r.neighbour.sent)}`,
  ]);
  return markdownTable(
    ['round', 'seconds to open all', 'open p50 ms', 'open p99 ms', 'failed', 'destination ztunnel CPU s', 'TIME_WAIT in destination pod', 'neighbour failed / sent'],
    rows,
    1,
  );
}
