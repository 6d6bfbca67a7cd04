// Scale scenario of the node benchmark, the modes side by side in one run (direct, stunnel,
// weft; see bench/node/modes/): 10, 100, 1,000 and 5,000 concurrent long-lived connections
// from a client pod on node1 to the echo app's TCP port on node2, each pinging once a second
// while held (proxy RSS per connection, CPU per connection-second, time to open them all),
// then 1,000 short connections per second (connect-to-echo percentiles).
//   node_modules/.bin/node bench/node/scale.ts [--modes direct,stunnel,weft] [--counts 10,100,1000,5000]
//     [--hold-seconds 10] [--short-rate 1000] [--short-seconds 10] [--quick]
// Writes bench/results/node-scale.json (node-scale-quick.json with --quick) and prints markdown
// tables. Needs root, stunnel4 and prlimit (util-linux): the open-file limit of this process,
// and so of the proxies it starts, is raised first.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { publishRun, startRun } from '#bench/lib/results.ts';
import { measureScale, type ScaleOptions } from '#bench/node/scale-measure.ts';
import { renderScale } from '#bench/node/scale-report.ts';
import { forEachMode, selectModes } from '#bench/node/stages.ts';

const { values } = parseArgs({
  options: {
    modes: { type: 'string' },
    counts: { type: 'string' },
    'hold-seconds': { type: 'string' },
    'short-rate': { type: 'string', default: '1000' },
    'short-seconds': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

const options: ScaleOptions = {
  counts: (values.counts ?? (quick ? '10,100,1000' : '10,100,1000,5000')).split(',').map((c) => positiveInt('counts', c.trim())),
  openConcurrency: 100,
  holdSeconds: positiveInt('hold-seconds', values['hold-seconds'] ?? (quick ? '3' : '10')),
  pingMs: 1000,
  shortRate: positiveInt('short-rate', values['short-rate']),
  shortSeconds: positiveInt('short-seconds', values['short-seconds'] ?? (quick ? '3' : '10')),
  timeoutMs: 10_000,
};

/** Each connection costs at most two descriptors in any one process (stunnel: accepted + upstream), with room to spare. */
const OPEN_FILES = 2 * Math.max(...options.counts) + 1024;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function prlimit(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.status === 0 ? r.stdout : r.stderr || String(r.error) };
}

/** Raises this process's open-file limit (so the proxies' it starts) to OPEN_FILES: both limits if allowed, else the soft one. */
function raiseOpenFileLimit(): void {
  if (prlimit(`--nofile=${OPEN_FILES}:${OPEN_FILES}`).ok) return;
  // Without CAP_SYS_RESOURCE (a container) the hard limit cannot rise; the soft one may reach it.
  const hard = Number(prlimit('--nofile', '--raw', '--noheadings', '--output=HARD').out.trim());
  if (Number.isFinite(hard) && hard >= OPEN_FILES && prlimit(`--nofile=${OPEN_FILES}:`).ok) return;
  throw new Error(`cannot raise the open-file limit to ${OPEN_FILES} (hard limit ${String(hard)}); lower --counts or raise the limit (ulimit -Hn) as root`);
}

async function main(): Promise<void> {
  raiseOpenFileLimit();
  const modes = selectModes(values.modes);
  const run = startRun();
  const results = await forEachMode(modes, 'perfscale', log, (mode, scene, setup) => measureScale(mode, scene, setup, options, log));
  await publishRun(run, quick ? 'node-scale-quick' : 'node-scale', {
    layout: 'client pod on node1, echo app (TCP echo) in a pod on node2; long-lived connections held open at once, then short connections at a fixed rate',
    openFileLimit: OPEN_FILES,
    options,
    modes: results,
  }, renderScale(results), log);
}

await main();
