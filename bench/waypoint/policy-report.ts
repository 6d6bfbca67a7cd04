// What the waypoint policy benchmark reports: the same waypoint path with no policy (`empty`),
// with a realistic set (`realistic`) and with a global rate limit alone (`global-rl`), each
// against the L4 mesh for added latency, and each as a ratio to `empty`. Differences to empty
// are taken per round (the scenarios of a round ran back to back) and their medians shown.
// Pure: the runner measures, this derives and renders.
import { markdownTable, type Cell } from '#bench/lib/table.ts';
import { median, summarizeScenario, type ScenarioResult } from '#bench/waypoint/report.ts';
import type { SelfTimeDifference, SelfTime } from '#bench/lib/cpu-profile.ts';

export const EMPTY = 'empty';

const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
const digits = (n: number | undefined, d: number): string | undefined => n?.toFixed(d);

export interface RoundDelta {
  p50: number;
  p99: number;
  /** Waypoint CPU milliseconds per request (= CPU seconds per 1000 requests), at the fixed rate. */
  cpuMsPerRequest: number | undefined;
}

const cpuMsPerRequest = (m: ScenarioResult['fixed'][number]): number | undefined =>
  m.load.logged > 0 ? (m.proxyCpuSeconds * 1000) / m.load.logged : undefined;

/** Per round: the scenario's fixed-rate figures minus `base`'s in the same round. */
export function deltaByRound(r: ScenarioResult, base: ScenarioResult): RoundDelta[] {
  const out: RoundDelta[] = [];
  r.fixed.forEach((m, i) => {
    const b = base.fixed[i];
    if (b === undefined) return;
    const own = cpuMsPerRequest(m);
    const theirs = cpuMsPerRequest(b);
    out.push({
      p50: m.load.latencyMs.p50 - b.load.latencyMs.p50,
      p99: m.load.latencyMs.p99 - b.load.latencyMs.p99,
      cpuMsPerRequest: own === undefined || theirs === undefined ? undefined : own - theirs,
    });
  });
  return out;
}

/** The main table: each scenario's figures and, for the waypoint ones, their ratio to empty. */
export function renderPolicyTable(results: readonly ScenarioResult[]): string {
  const emptyResult = results.find((r) => r.name === EMPTY);
  const empty = emptyResult === undefined ? undefined : summarizeScenario(emptyResult, results);
  const rows = results.map((r): Cell[] => {
    const s = summarizeScenario(r, results);
    const waypoint = r.proxies.length > 0;
    return [
      r.name, s.p50, s.p99, s.added.p50, s.added.p99,
      waypoint ? ratio(s.added.p50, empty?.added.p50) : undefined, waypoint ? ratio(s.added.p99, empty?.added.p99) : undefined,
      s.cpuPer1000, waypoint ? ratio(s.cpuPer1000, empty?.cpuPer1000) : undefined,
      digits(s.max.rps, 0), ratio(s.max.rps, empty?.max.rps), digits(s.max.requestsPerCore, 0),
      waypoint ? ratio(s.max.requestsPerCore, empty?.max.requestsPerCore) : undefined,
      digits(s.achievedRps, 0), String(s.errors),
    ];
  });
  return markdownTable(
    ['scenario', 'p50', 'p99', 'added p50', 'added p99', 'added p50 / empty', 'added p99 / empty', 'waypoint CPU s / 1000 req', 'CPU / empty',
      'max rps', 'max rps / empty', 'rps per waypoint core', 'per core / empty', 'achieved rps at 1000', 'errors'],
    rows, 3,
  );
}

/** What each waypoint scenario adds over empty, round by round: latency and CPU per request. */
export function renderDeltaTable(results: readonly ScenarioResult[]): string {
  const empty = results.find((r) => r.name === EMPTY);
  const rows = results.filter((r) => r.proxies.length > 0 && r.name !== EMPTY).map((r): Cell[] => {
    const d = empty === undefined ? [] : deltaByRound(r, empty);
    const p50s = d.map((x) => x.p50);
    const span = p50s.length === 0 ? undefined : `${Math.min(...p50s).toFixed(3)}–${Math.max(...p50s).toFixed(3)}`;
    return [r.name, median(p50s), median(d.map((x) => x.p99)), span, median(d.map((x) => x.cpuMsPerRequest))];
  });
  return markdownTable(['over empty', '+p50 (ms)', '+p99 (ms)', '+p50 over rounds', '+waypoint CPU ms / request'], rows, 3);
}

/** The functions with the most self time in one profile. */
export function renderSelfTimeTable(functions: readonly SelfTime[], top: number): string {
  return markdownTable(['function', 'self ms', 'share of busy'], functions.slice(0, top).map((f) => [f.name, f.selfMs, `${(f.share * 100).toFixed(1)} %`]), 1);
}

/** The functions whose self time per 1000 requests grew most from one profile to the other. */
export function renderDifferenceTable(rows: readonly SelfTimeDifference[], top: number, baseName: string, otherName: string): string {
  return markdownTable(['function', `${baseName} ms / 1000 req`, `${otherName} ms / 1000 req`, 'added ms / 1000 req'],
    rows.slice(0, top).map((r) => [r.name, r.baseMsPer1000, r.otherMsPer1000, r.addedMsPer1000]), 1);
}
