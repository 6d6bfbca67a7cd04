// iperf3 runs from a pod and the parsing of its `-J` report: throughput as the receiver saw
// it (what arrived, not what was queued), in Gbit/s.
import type { LocalPod } from '#local/pod.ts';

export interface IperfResult {
  gbps: number;
  /** Sender retransmissions (0 when the report has none). */
  retransmits: number;
  seconds: number;
}

function field(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = Reflect.get(cur, k);
  }
  return cur;
}

/** Reads an iperf3 -J report; throws with iperf3's own error text when the run failed. */
export function parseIperfJson(text: string): IperfResult {
  const report: unknown = JSON.parse(text);
  const error = field(report, 'error');
  if (typeof error === 'string') throw new Error(`iperf3: ${error}`);
  const bps = field(report, 'end', 'sum_received', 'bits_per_second');
  const seconds = field(report, 'end', 'sum_received', 'seconds');
  if (typeof bps !== 'number' || typeof seconds !== 'number') throw new Error('iperf3 report has no end.sum_received');
  const retransmits = field(report, 'end', 'sum_sent', 'retransmits');
  return { gbps: bps / 1e9, seconds, retransmits: typeof retransmits === 'number' ? retransmits : 0 };
}

/** iperf3's refusal while its server still winds up the test before. */
const BUSY = /server is busy/;

/**
 * Runs `iperf3 -c` in pod for `seconds` with `streams` parallel streams. The server takes one
 * test at a time and may still be closing the last one when through a proxy its close arrives
 * late, so a busy refusal is asked again (for up to 10 s) rather than counted as a failure.
 */
export async function runIperf(pod: LocalPod, target: { host: string; port: number }, streams: number, seconds: number): Promise<IperfResult> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await pod.exec([
      'iperf3', '-c', target.host, '-p', String(target.port), '-J', '-t', String(seconds), '-P', String(streams), '--connect-timeout', '3000',
    ], { timeoutMs: (seconds + 15) * 1000 });
    if (r.stdout.trim() === '') throw new Error(`iperf3 printed nothing (exit ${String(r.code)}): ${r.stderr}`);
    try {
      return parseIperfJson(r.stdout);
    } catch (err) {
      if (!(err instanceof Error) || !BUSY.test(err.message) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
