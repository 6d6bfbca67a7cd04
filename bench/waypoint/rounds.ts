// Interleaved rounds for the waypoint benchmarks: every scenario gets a fixed-rate run per round,
// in an order that rotates from round to round, then those with one a closed-loop run, so the
// shared machine's load falls on all alike. Each run's result is kept with its scenario.
import { loadavg } from 'node:os';
import type { LoadOptions } from '#bench/waypoint/load.ts';
import { measureRun, type MeasureTarget } from '#bench/waypoint/measure.ts';
import type { Measured, ScenarioResult } from '#bench/waypoint/report.ts';

export interface Scenario {
  result: ScenarioResult;
  target: MeasureTarget;
  closedLoop: boolean;
}

export function scenario(name: string, description: string, target: MeasureTarget, o: { baseline?: string; proxies?: string[]; closedLoop: boolean }): Scenario {
  return {
    result: { name, description, proxies: o.proxies ?? [], fixed: [], max: [], ...(o.baseline === undefined ? {} : { baseline: o.baseline }) },
    target, closedLoop: o.closedLoop,
  };
}

/** The list rotated left by n: round r starts with a different scenario. */
export function rotate<T>(list: readonly T[], n: number): T[] {
  const k = list.length === 0 ? 0 : n % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** One line of progress for a measured run. */
export function describeRun(name: string, kind: string, m: Measured): string {
  const l = m.load;
  return `${name} ${kind}: ${l.achievedRps.toFixed(0)} rps, p50 ${l.latencyMs.p50.toFixed(3)} ms, p99 ${l.latencyMs.p99.toFixed(3)} ms, `
    + `proxy CPU ${m.proxyCpuSeconds.toFixed(2)} s, ${l.errors + l.summary.errored} errors, machine busy ${(m.machineBusy * 100).toFixed(0)} %`;
}

/** The 1-minute load average as each round of each kind started. */
export interface RoundLoad {
  kind: 'fixed' | 'max';
  round: number;
  loadavg: number;
}

/**
 * With `warmup`, every scenario first gets one run that is left out: the first requests of a
 * fresh proxy pay for JIT compilation and pools, which would land on round 1's first scenario.
 */
export async function runRounds(scenarios: readonly Scenario[], o: {
  rounds: number; fixedRate: LoadOptions; closedLoop: LoadOptions; warmup?: LoadOptions; log: (line: string) => void;
}): Promise<RoundLoad[]> {
  const loads: RoundLoad[] = [];
  if (o.warmup !== undefined) {
    for (const s of scenarios) o.log(describeRun(`warm-up ${s.result.name}`, 'left out', await measureRun(s.target, o.warmup)));
  }
  const phases = [
    { kind: 'fixed' as const, list: scenarios, load: o.fixedRate, into: (s: Scenario) => s.result.fixed },
    { kind: 'max' as const, list: scenarios.filter((s) => s.closedLoop), load: o.closedLoop, into: (s: Scenario) => s.result.max },
  ];
  for (const phase of phases) {
    for (let r = 0; r < o.rounds; r++) {
      loads.push({ kind: phase.kind, round: r + 1, loadavg: loadavg()[0] ?? 0 });
      for (const s of rotate(phase.list, r)) {
        const m = await measureRun(s.target, phase.load);
        o.log(describeRun(`round ${r + 1} ${s.result.name}`, phase.kind, m));
        phase.into(s).push(m);
      }
    }
  }
  return loads;
}
