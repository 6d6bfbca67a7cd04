// The cost of policy at the waypoint, on one embedded cluster (see policy-scene.ts):
//   l4         two ztunnels, no waypoint: the latency baseline
//   empty      through the waypoint, no policy
//   realistic  a VirtualService 80/10/10 split over three DestinationRule subsets with retries
//              (attempts 2 on 5xx), outlier detection, and a local rate limit that never trips
//   global-rl  through the waypoint with a global (Redis) rate limit that never trips
// HTTP/1.1, 1 KiB answers, h2load in the client pod. Per round every scenario gets a fixed-rate
// run (1000 rps over 4 connections) for latency and the waypoint's CPU per request, then a
// closed-loop run (16 connections) for the maximum rate; scenarios interleave and rotate, so
// the shared machine's load falls on all alike. A short closed-loop run of each comes first and
// is left out (JIT, pools). Figures are ratios to `empty` within the run.
//   node_modules/.bin/node bench/waypoint/policy.ts [--rounds 3] [--seconds 10] [--max-seconds 5] [--quick]
// writes bench/results/waypoint-policy.json (about 4 minutes with the defaults; --quick < 1 minute).
//   node_modules/.bin/node bench/waypoint/policy.ts --profile DIR [--rounds 3] [--seconds 10]
// instead runs the waypoint under `--cpu-prof` (the profile in DIR) and sends 1000 rps to
// `empty`, `realistic` and `global-rl` in turn, round after round; each scenario's samples are
// those taken while its load ran. Reports self time per 1000 requests by function and by file,
// and what grew over empty (bench/results/waypoint-policy-profile.json). Needs root and h2load.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseCpuProfile, selfTimeDifference, selfTimes, type CpuProfile, type SampleWindow } from '#bench/lib/cpu-profile.ts';
import { publishRun, startRun } from '#bench/lib/results.ts';
import type { LoadOptions } from '#bench/waypoint/load.ts';
import { measureRun } from '#bench/waypoint/measure.ts';
import { startPolicyScene, SPLIT, VERSIONS, type PolicyScene } from '#bench/waypoint/policy-scene.ts';
import { EMPTY, renderDeltaTable, renderDifferenceTable, renderPolicyTable, renderSelfTimeTable } from '#bench/waypoint/policy-report.ts';
import { describeRun, rotate, runRounds, scenario, type Scenario } from '#bench/waypoint/rounds.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, seconds: { type: 'string' }, 'max-seconds': { type: 'string' }, rounds: { type: 'string' },
    profile: { type: 'string' },
  },
});
const positive = (v: string | undefined, fallback: number, flag: string): number => {
  const n = Number(v ?? fallback);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${String(v)}`);
  return n;
};
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
const seconds = positive(values.seconds, values.quick ? 3 : 10, '--seconds');
const maxSeconds = positive(values['max-seconds'], values.quick ? 2 : 5, '--max-seconds');
const rounds = positive(values.rounds, values.quick ? 1 : 3, '--rounds');
if (!Number.isInteger(rounds)) throw new Error(`--rounds must be a whole number, got ${String(values.rounds)}`);

const fixedRate: LoadOptions = { connections: 4, totalRps: 1000, seconds, warmupSeconds: 1 };
const closedLoop: LoadOptions = { connections: 16, seconds: maxSeconds, warmupSeconds: 1 };
const warmup: LoadOptions = { connections: 16, seconds: values.quick ? 1 : 5, warmupSeconds: 0 };
const PATH = '/bytes/1024';
const layout = (s: PolicyScene): string =>
  `client pod on node1, echo v1/v2/v3 on node2, waypoint on ${s.waypoint.node}, Redis ${s.redisAddress} (embedded cluster, LocalMesh, one machine)`;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function scenarios(s: PolicyScene): Scenario[] {
  const { client, vips, ztunnelPids, waypoint } = s;
  const wp = { client, ztunnelPids, proxyPids: [waypoint.pid] };
  const via = { baseline: 'l4', proxies: ['waypoint'], closedLoop: true };
  return [
    scenario('l4', 'client → ztunnel → HBONE → ztunnel → echo (Service labelled use-waypoint=none)',
      { client, ztunnelPids, proxyPids: [], urls: [`http://${vips.l4}${PATH}`] }, { closedLoop: true }),
    scenario(EMPTY, 'through the waypoint, no policy: default route, round robin over the three pods',
      { ...wp, urls: [`http://${vips.plain}${PATH}`] }, via),
    scenario('realistic', `VirtualService ${SPLIT.join('/')} over DestinationRule subsets ${VERSIONS.join('/')}, retries 2 on 5xx, outlier detection, local rate limit (never trips)`,
      { ...wp, urls: [`http://${vips.policy}${PATH}`] }, via),
    scenario('global-rl', 'through the waypoint, default route, global rate limit counted in Redis (never trips)',
      { ...wp, urls: [`http://${vips.limited}${PATH}`] }, via),
  ];
}

async function measure(): Promise<void> {
  const run = startRun();
  const scene = await startPolicyScene(values.quick ? 'wppolq' : 'wppol');
  const where = layout(scene);
  const list: Scenario[] = scenarios(scene);
  let loads;
  try {
    log(`waypoint on ${scene.waypoint.node} (pid ${scene.waypoint.pid}), Redis at ${scene.redisAddress}`);
    loads = await runRounds(list, { rounds, fixedRate, closedLoop, warmup, log });
  } finally {
    await scene.stop();
  }
  const results = list.map((s) => s.result);
  await publishRun(run, values.quick ? 'waypoint-policy-quick' : 'waypoint-policy', {
    layout: where, options: { rounds, fixedRate, closedLoop, warmup, path: PATH }, loadavgByRound: loads, scenarios: results,
  }, ['Waypoint policy, 1000 rps over 4 connections (ms), closed loop 16 connections', '', renderPolicyTable(results), '',
    'Over empty, per round', '', renderDeltaTable(results)].join('\n'), log, `, medians of ${rounds} round(s)`);
}

/** The one profile node wrote into dir (the waypoint's main thread). */
async function readProfile(dir: string): Promise<CpuProfile> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}: did the waypoint exit cleanly?`);
  return parseCpuProfile(await readFile(join(dir, files[0] ?? ''), 'utf8'));
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

const PROFILED = [EMPTY, 'realistic', 'global-rl'];

async function profile(dir: string): Promise<void> {
  const run = startRun();
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).some((f) => f.endsWith('.cpuprofile'))) throw new Error(`${dir} already holds a profile: give an empty folder`);
  const scene = await startPolicyScene('wpprof', { waypointNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  // One waypoint process serves every scenario in turn; each one's share of the profile is
  // the samples taken while its load ran (after h2load's warm-up), over the requests counted.
  const taken = new Map(PROFILED.map((name) => [name, { requests: 0, windows: [] as SampleWindow[] }]));
  try {
    const list = scenarios(scene).filter((x) => PROFILED.includes(x.result.name));
    for (const s of list) log(describeRun(`warm-up ${s.result.name}`, 'left out', await measureRun(s.target, warmup)));
    for (let r = 0; r < rounds; r++) {
      for (const s of rotate(list, r)) {
        const from = monotonicUs() + fixedRate.warmupSeconds * 1e6;
        const m = await measureRun(s.target, fixedRate);
        const t = taken.get(s.result.name);
        t?.windows.push({ fromUs: from, toUs: monotonicUs() });
        if (t !== undefined) t.requests += m.load.requests;
        log(describeRun(`round ${r + 1} ${s.result.name}`, 'profiled', m));
      }
    }
  } finally {
    await scene.stop();
  }
  const cpu = await readProfile(dir);
  const phases = PROFILED.map((name) => {
    const t = taken.get(name) ?? { requests: 0, windows: [] };
    return { name, requests: t.requests, byFunction: selfTimes(cpu, ROOT, 'function', t.windows), byFile: selfTimes(cpu, ROOT, 'file', t.windows) };
  });
  const [empty, ...others] = phases;
  if (empty === undefined) throw new Error('no profile of empty');
  const added = others.map((o) => ({
    name: o.name,
    byFunction: selfTimeDifference(empty.byFunction, empty.requests, o.byFunction, o.requests),
    byFile: selfTimeDifference(empty.byFile, empty.requests, o.byFile, o.requests),
  }));
  const busyPerRequest = (p: (typeof phases)[number]): string => `${((p.byFunction.busyMs * 1000) / Math.max(1, p.requests)).toFixed(0)} µs busy per request`;
  await publishRun(run, 'waypoint-policy-profile', {
    options: { rounds, fixedRate, warmup, path: PATH, profiles: dir },
    phases: phases.map((p) => ({ name: p.name, requests: p.requests, busyMs: p.byFunction.busyMs, topFunctions: p.byFunction.functions.slice(0, 40), files: p.byFile.functions.slice(0, 40) })),
    added: added.map((a) => ({ name: a.name, byFunction: a.byFunction.slice(0, 40), byFile: a.byFile.slice(0, 40) })),
  }, [
    ...phases.flatMap((p) => [`Self time, ${p.name} (${p.requests} requests, ${p.byFunction.busyMs.toFixed(0)} ms busy, ${busyPerRequest(p)})`, '',
      renderSelfTimeTable(p.byFunction.functions, 15), '']),
    ...added.flatMap((a) => [`Grew most from ${EMPTY} to ${a.name}, by function`, '', renderDifferenceTable(a.byFunction, 20, EMPTY, a.name), '',
      'By file', '', renderDifferenceTable(a.byFile, 12, EMPTY, a.name), '']),
  ].join('\n'), log, `, medians of ${rounds} round(s)`);
}

await (profileDir === undefined ? measure() : profile(profileDir));
