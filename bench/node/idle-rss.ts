// Memory of one ztunnel, idle and after bulk load, for several ways of running it side by side
// in one run: TypeScript by type stripping (as `npm test` runs it), the emitted JavaScript the
// image ships (scripts/build-image.sh), V8 heap flags, glibc malloc settings, a baseline-only
// JIT. Each variant gets a fresh embedded mesh (cluster `rssb`, two nodes): a client pod on
// node1 and an iperf3 server pod on node2, both enrolled. For both ztunnels VmRSS (and its
// private and file-backed parts) once idle, right after `iperf3 -P 8 -t 5` through them, and
// again once it has settled (bounded); beside each variant its floor: the same node, flags and
// environment on an empty script and with the built-ins ztunnel loads. The settled figure comes
// at least 15 s after the load, so it includes the ztunnel's own heap trim once traffic is quiet
// (ztunnel/memory-trim.ts, every 5 s).
//   node_modules/.bin/node bench/node/idle-rss.ts [--variants ts,js,...] [--settle-seconds 60] [--rounds 1] [--label NAME] [--quick]
// Root. Writes bench/results/idle-rss[-NAME].json (…-quick.json with --quick), prints the table;
// with --rounds the variants take turns, a row per variant and round.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, parseArgs } from 'node:util';
import { publishRun, startRun } from '#bench/lib/results.ts';
import { measureProcesses } from '#bench/lib/proc-stats.ts';
import { runIperf } from '#bench/node/iperf3.ts';
import { BENCH_NAMESPACE, createScene } from '#bench/node/scene.ts';
import { hasSettled, parseRss, renderIdleRss, type Goal, type RssMiB, type VariantResult, type ZtunnelRss } from '#bench/node/idle-rss-report.ts';
import { LocalMesh } from '#local/mesh.ts';
import { LocalProcess } from '#local/process.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOAL: Goal = { idleMiB: 48, afterLoadMiB: 64 };
const SEMI = '--max-semi-space-size=1';
/** Fewer malloc arenas (one per thread otherwise: libuv's pool, V8's workers), fixed mmap and trim thresholds of 128 KiB. */
const MALLOC_TIGHT = 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';
/** The built-ins a running ztunnel has loaded (sockets, TLS, HTTP/2, the admin server, capture commands). */
const BUILTINS = ['node:net', 'node:tls', 'node:http', 'node:http2', 'node:crypto', 'node:child_process', 'node:fs/promises'];

interface Variant {
  name: string;
  description: string;
  /** The emitted JavaScript, or the TypeScript sources by type stripping. */
  emitted: boolean;
  nodeArgs: string[];
  env: Record<string, string>;
}

const MALLOC_ARENAS = 'glibc.malloc.arena_max=2';

const VARIANTS: readonly Variant[] = [
  { name: 'ts', description: 'ztunnel/main.ts by type stripping, no flags (LocalMesh before)', emitted: false, nodeArgs: [], env: {} },
  { name: 'js', description: 'emitted JavaScript (the image), no flags', emitted: true, nodeArgs: [], env: {} },
  { name: 'js-semi1', description: `js, ${SEMI}`, emitted: true, nodeArgs: [SEMI], env: {} },
  { name: 'js-semi2', description: 'js, --max-semi-space-size=2', emitted: true, nodeArgs: ['--max-semi-space-size=2'], env: {} },
  { name: 'js-semi4', description: 'js, --max-semi-space-size=4', emitted: true, nodeArgs: ['--max-semi-space-size=4'], env: {} },
  { name: 'js-semi1-arena2', description: `js-semi1, GLIBC_TUNABLES=${MALLOC_ARENAS}`, emitted: true, nodeArgs: [SEMI], env: { GLIBC_TUNABLES: MALLOC_ARENAS } },
  { name: 'js-semi1-malloc', description: `js-semi1, GLIBC_TUNABLES=${MALLOC_TIGHT}`, emitted: true, nodeArgs: [SEMI], env: { GLIBC_TUNABLES: MALLOC_TIGHT } },
  {
    name: 'js-semi1-malloc-noopt', description: 'js-semi1-malloc, --no-opt --no-maglev (interpreter and Sparkplug only)',
    emitted: true, nodeArgs: [SEMI, '--no-opt', '--no-maglev'], env: { GLIBC_TUNABLES: MALLOC_TIGHT },
  },
  { name: 'js-semi1-malloc-lite', description: 'js-semi1-malloc, --lite-mode (interpreter only)', emitted: true, nodeArgs: [SEMI, '--lite-mode'], env: { GLIBC_TUNABLES: MALLOC_TIGHT } },
  { name: 'ts-semi1-malloc', description: `ts, ${SEMI}, GLIBC_TUNABLES=${MALLOC_TIGHT}`, emitted: false, nodeArgs: [SEMI], env: { GLIBC_TUNABLES: MALLOC_TIGHT } },
];

const { values } = parseArgs({
  options: {
    variants: { type: 'string' },
    'settle-seconds': { type: 'string', default: '60' },
    rounds: { type: 'string', default: '1' },
    label: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const settleBoundMs = Number(values['settle-seconds']) * 1000;
if (!Number.isFinite(settleBoundMs) || settleBoundMs <= 0) throw new Error(`--settle-seconds must be a positive number, got ${values['settle-seconds']}`);
/** Three of the ztunnel's heap-trim looks (ztunnel/memory-trim.ts). */
const MIN_SETTLE_MS = 15_000;
/** Samples (one a second) that must agree for RSS to count as settled: longer than V8's memory reducer waits. */
const SETTLE_WINDOW = 10;
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds <= 0) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
const IPERF = { streams: 8, seconds: quick ? 2 : 5 };

function selectVariants(list: string | undefined): Variant[] {
  if (list === undefined) return [...VARIANTS];
  const wanted = list.split(',').map((v) => v.trim()).filter((v) => v !== '');
  const unknown = wanted.filter((w) => !VARIANTS.some((v) => v.name === w));
  if (unknown.length > 0) throw new Error(`unknown variant(s) ${unknown.join(', ')}; known: ${VARIANTS.map((v) => v.name).join(', ')}`);
  return VARIANTS.filter((v) => wanted.includes(v.name));
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readRss(pid: number): Promise<RssMiB> {
  return parseRss(await readFile(`/proc/${String(pid)}/status`, 'utf8'));
}

/**
 * Samples the processes' RSS once a second until each has stayed within 0.25 MiB over the last
 * ten samples, and minMs has passed (the ztunnel's heap trim after the last activity comes within
 * it), or the bound passes; returns each one's last sample and when it settled.
 */

async function waitForSettledRss(pids: readonly number[], boundMs: number, minMs = MIN_SETTLE_MS): Promise<{ rss: RssMiB; seconds: number; settled: boolean }[]> {
  const began = Date.now();
  const series = pids.map(() => [] as number[]);
  const last: RssMiB[] = [];
  const settledAt: (number | undefined)[] = pids.map(() => undefined);
  for (;;) {
    const now = await Promise.all(pids.map(readRss));
    now.forEach((r, i) => {
      last[i] = r;
      series[i]?.push(r.rss);
      if (settledAt[i] === undefined && Date.now() - began >= minMs && hasSettled(series[i] ?? [], SETTLE_WINDOW, 0.25)) settledAt[i] = (Date.now() - began) / 1000;
    });
    if (settledAt.every((s) => s !== undefined) || Date.now() - began > boundMs) break;
    await sleep(1000);
  }
  return pids.map((_, i) => {
    const at = settledAt[i];
    const rss = last[i];
    if (rss === undefined) throw new Error('no RSS sample');
    return { rss, seconds: at ?? (Date.now() - began) / 1000, settled: at !== undefined };
  });
}

/** Runs `node <flags> -e <script>` with the variant's environment and reads its settled RSS. */
async function floorOf(v: Variant, script: string): Promise<RssMiB> {
  const proc = new LocalProcess(process.execPath, [...v.nodeArgs, '-e', `${script}; setInterval(() => {}, 1000);`], `floor-${v.name}`, { env: v.env });
  try {
    const [r] = await waitForSettledRss([proc.pid], 20_000);
    if (r === undefined || proc.exitStatus !== undefined) throw new Error(`the floor process of ${v.name} exited: ${proc.stderr}`);
    return r.rss;
  } finally {
    await proc.stop();
  }
}

/** scripts/build-image.sh into a fresh folder: the image's emitted JavaScript and its dependencies. */
async function buildImage(): Promise<{ dir: string; remove(): Promise<void> }> {
  const parent = await mkdtemp(join(tmpdir(), 'weft-rss-image-'));
  const dir = join(parent, 'image');
  const began = Date.now();
  await promisify(execFile)('bash', [join(ROOT, 'scripts/build-image.sh'), ROOT, dir], {
    env: { ...process.env, NODE: process.execPath }, maxBuffer: 16 << 20,
  });
  log(`built the image's JavaScript in ${String(Math.round((Date.now() - began) / 1000))} s: ${dir}`);
  return { dir, remove: () => rm(parent, { recursive: true, force: true }) };
}

async function measureVariant(v: Variant, imageDir: string | undefined): Promise<VariantResult> {
  const floor = {
    empty: await floorOf(v, ''),
    builtins: await floorOf(v, BUILTINS.map((m) => `require(${JSON.stringify(m)})`).join('; ')),
  };
  const entry = v.emitted ? join(imageDir ?? '', 'ztunnel', 'main.js') : undefined;
  const mesh = await LocalMesh.start({
    name: 'rssb', nodes: 2, nodeArgs: v.nodeArgs, ztunnelEnv: v.env, ...(entry === undefined ? {} : { ztunnelEntry: entry }),
  });
  mesh.installSignalHandlers();
  try {
    const stage = await createScene(mesh.cluster);
    try {
      await mesh.enrollNamespace(BENCH_NAMESPACE);
      await Promise.all([mesh.waitForEnrollment(stage.scene.client), mesh.waitForEnrollment(stage.scene.server)]);
      await mesh.settle();
      const zs = mesh.ztunnels;
      const pids = zs.map((z) => z.process.pid);
      const idle = await waitForSettledRss(pids, settleBoundMs);
      const usage = await measureProcesses(pids);
      const iperf = await runIperf(stage.scene.client, stage.scene.backends.iperf, IPERF.streams, IPERF.seconds);
      const used = await usage();
      const afterLoad = await Promise.all(pids.map(readRss));
      const settled = await waitForSettledRss(pids, settleBoundMs);
      const gb = (iperf.gbps * iperf.seconds) / 8;
      const ztunnels: ZtunnelRss[] = zs.map((z, i) => {
        const s = settled[i];
        const a = afterLoad[i];
        const id = idle[i];
        if (s === undefined || a === undefined || id === undefined) throw new Error('missing sample');
        return {
          node: z.node.name, idle: id.rss, afterLoad: a, settled: s.rss, settleSeconds: s.seconds, settledWithinBound: s.settled,
        };
      });
      const result: VariantResult = {
        name: v.name, description: v.description, nodeArgs: v.nodeArgs, env: v.env, floor, ztunnels,
        iperf: { streams: IPERF.streams, seconds: iperf.seconds, gbps: iperf.gbps },
        cpuSecondsPerGB: gb > 0 ? used.cpuSeconds / gb : Number.NaN,
      };
      log(`${v.name}: idle ${ztunnels.map((z) => z.idle.rss.toFixed(1)).join('/')} MiB, after load ${ztunnels.map((z) => z.afterLoad.rss.toFixed(1)).join('/')}, settled ${ztunnels.map((z) => z.settled.rss.toFixed(1)).join('/')}; ${iperf.gbps.toFixed(2)} Gbit/s`);
      return result;
    } finally {
      await stage.close();
    }
  } finally {
    await mesh.stop();
  }
}

async function main(): Promise<void> {
  const variants = selectVariants(values.variants);
  const run = startRun();
  const image = variants.some((v) => v.emitted) ? await buildImage() : undefined;
  const results: VariantResult[] = [];
  try {
    // Rounds interleave the variants, so the machine's load drifts over all of them alike.
    for (let round = 1; round <= rounds; round++) {
      for (const v of variants) {
        log(`${new Date().toISOString()} variant ${v.name}${rounds > 1 ? ` (round ${String(round)})` : ''}: ${v.description}`);
        const r = await measureVariant(v, image?.dir);
        results.push(rounds > 1 ? { ...r, round } : r);
      }
    }
  } finally {
    await image?.remove();
  }
  const name = ['idle-rss', ...(values.label === undefined ? [] : [values.label]), ...(quick ? ['quick'] : [])].join('-');
  await publishRun(run, name, {
    layout: 'one mesh per variant (cluster rssb): client pod on node1, iperf3 server pod on node2, both enrolled; node1 ztunnel sends, node2 receives',
    goal: GOAL,
    settleBoundSeconds: settleBoundMs / 1000,
    iperf: IPERF,
    rounds,
    builtins: BUILTINS,
    variants: results,
  }, renderIdleRss(results, GOAL), log);
}

await main();
