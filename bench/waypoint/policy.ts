// The cost of policy at the waypoint, on one embedded cluster (see policy-scene.ts):
//   l4         two ztunnels, no waypoint: the latency baseline
//   empty      through the waypoint, no policy
//   realistic  a VirtualService 80/10/10 split over three DestinationRule subsets with retries
//              (attempts 2 on 5xx), outlier detection, and a local rate limit that never trips
//   global-rl  through the waypoint with a global (Redis) rate limit that never trips
// HTTP/1.1, 1 KiB answers, h2load in the client pod. Per round every scenario gets a fixed-rate
// run (1000 rps over 4 connections) for latency and the waypoint's CPU per request, then a
// closed-loop run (16 connections) for the maximum rate; scenarios interleave and rotate, so
// the shared machine's load falls on all alike. Figures are ratios to `empty` within the run.
//   node_modules/.bin/node bench/waypoint/policy.ts [--rounds 3] [--seconds 10] [--max-seconds 5] [--quick]
// writes bench/results/waypoint-policy.json (about 4 minutes with the defaults; --quick < 1 minute).
//   node_modules/.bin/node bench/waypoint/policy.ts --profile DIR [--seconds 15]
// instead starts the cluster twice with the waypoint under `--cpu-prof` (profiles in DIR), sends
// 1000 rps to `empty`, then to `realistic`, and reports self time per 1000 requests by function
// and by file, and what grew (bench/results/waypoint-policy-profile.json). Needs root and h2load.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseCpuProfile, selfTimeDifference, selfTimes, type ProfileSummary } from '#bench/lib/cpu-profile.ts';
import { publishRun, startRun } from '#bench/lib/results.ts';
import type { LoadOptions } from '#bench/waypoint/load.ts';
import { measureRun } from '#bench/waypoint/measure.ts';
import { startPolicyScene, SPLIT, VERSIONS, type PolicyScene } from '#bench/waypoint/policy-scene.ts';
import { EMPTY, renderDeltaTable, renderDifferenceTable, renderPolicyTable, renderSelfTimeTable } from '#bench/waypoint/policy-report.ts';
import { describeRun, runRounds, scenario, type Scenario } from '#bench/waypoint/rounds.ts';

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
const seconds = positive(values.seconds, values.quick ? 3 : profileDir === undefined ? 10 : 15, '--seconds');
const maxSeconds = positive(values['max-seconds'], values.quick ? 2 : 5, '--max-seconds');
const rounds = positive(values.rounds, values.quick ? 1 : 3, '--rounds');
if (!Number.isInteger(rounds)) throw new Error(`--rounds must be a whole number, got ${String(values.rounds)}`);

const fixedRate: LoadOptions = { connections: 4, totalRps: 1000, seconds, warmupSeconds: 1 };
const closedLoop: LoadOptions = { connections: 16, seconds: maxSeconds, warmupSeconds: 1 };
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
    loads = await runRounds(list, { rounds, fixedRate, closedLoop, log });
  } finally {
    await scene.stop();
  }
  const results = list.map((s) => s.result);
  await publishRun(run, values.quick ? 'waypoint-policy-quick' : 'waypoint-policy', {
    layout: where, options: { rounds, fixedRate, closedLoop, path: PATH }, loadavgByRound: loads, scenarios: results,
  }, ['Waypoint policy, 1000 rps over 4 connections (ms), closed loop 16 connections', '', renderPolicyTable(results), '',
    'Over empty, per round', '', renderDeltaTable(results)].join('\n'), log, `, medians of ${rounds} round(s)`);
}

/** The one profile node wrote into dir (the waypoint's main thread). */
async function readProfile(dir: string): Promise<ProfileSummary[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}: did the waypoint exit cleanly?`);
  const profile = parseCpuProfile(await readFile(join(dir, files[0] ?? ''), 'utf8'));
  return [selfTimes(profile, ROOT, 'function'), selfTimes(profile, ROOT, 'file')];
}

async function profile(root: string): Promise<void> {
  const run = startRun();
  const phases: { name: string; requests: number; byFunction: ProfileSummary; byFile: ProfileSummary }[] = [];
  for (const name of [EMPTY, 'realistic']) {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).some((f) => f.endsWith('.cpuprofile'))) throw new Error(`${dir} already holds a profile: give an empty folder`);
    const scene = await startPolicyScene('wpprof', { waypointNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    let requests: number;
    try {
      const s = scenarios(scene).find((x) => x.result.name === name);
      if (s === undefined) throw new Error(`no scenario ${name}`);
      const m = await measureRun(s.target, fixedRate);
      log(describeRun(`profile ${name}`, 'fixed', m));
      requests = m.load.logged;
    } finally {
      await scene.stop();
    }
    const [byFunction, byFile] = await readProfile(dir);
    if (byFunction === undefined || byFile === undefined) throw new Error('no profile summary');
    phases.push({ name, requests, byFunction, byFile });
  }
  const [empty, realistic] = phases;
  if (empty === undefined || realistic === undefined) throw new Error('a profile run is missing');
  const byFunction = selfTimeDifference(empty.byFunction, empty.requests, realistic.byFunction, realistic.requests);
  const byFile = selfTimeDifference(empty.byFile, empty.requests, realistic.byFile, realistic.requests);
  const top = 25;
  await publishRun(run, 'waypoint-policy-profile', {
    options: { fixedRate, path: PATH, profiles: root },
    phases: phases.map((p) => ({ name: p.name, requests: p.requests, busyMs: p.byFunction.busyMs, topFunctions: p.byFunction.functions.slice(0, 40), files: p.byFile.functions.slice(0, 40) })),
    addedByFunction: byFunction.slice(0, 40), addedByFile: byFile.slice(0, 40),
  }, [
    ...phases.flatMap((p) => [`Self time, ${p.name} (${p.requests} requests, ${p.byFunction.busyMs.toFixed(0)} ms busy)`, '', renderSelfTimeTable(p.byFunction.functions, 15), '']),
    'Grew most from empty to realistic, by function', '', renderDifferenceTable(byFunction, top, EMPTY, 'realistic'), '',
    'By file', '', renderDifferenceTable(byFile, 15, EMPTY, 'realistic'),
  ].join('\n'), log);
}

await (profileDir === undefined ? measure() : profile(profileDir));
