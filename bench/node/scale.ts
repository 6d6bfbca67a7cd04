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

/** Each connection costs up to two descriptors in a proxy and one here; with room to spare. */
const OPEN_FILES = 4 * Math.max(...options.counts) + 4096;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function raiseOpenFileLimit(): void {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${OPEN_FILES}:${OPEN_FILES}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot raise the open-file limit to ${OPEN_FILES} (prlimit): ${r.stderr || String(r.error)}`);
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
