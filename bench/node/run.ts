// Node-to-node benchmark on the embedded cluster, the modes side by side in one run: a client
// pod on node1 and a server pod on node2, with `direct` (no proxy), `stunnel` (the C
// reference for a mutual TLS tunnel) and `weft` (the mesh: both pods enrolled, two ztunnels). Measures iperf3
// throughput for 1 and 8 streams and fixed-rate HTTP/1.1 latency (1 KiB responses, 1000 rps
// over 4 connections) with the proxies' CPU time per 1000 requests and RSS.
//   node_modules/.bin/node bench/node/run.ts [--modes direct,stunnel] [--quick]
// Writes bench/results/node.json and prints markdown tables. Needs root, iperf3, h2load, stunnel4.
import { parseArgs } from 'node:util';
import { LocalCluster } from '#local/cluster.ts';
import { finishRun, startRun, writeResults } from '#bench/lib/results.ts';
import type { NodeBenchMode, Scene } from '#bench/node/mode.ts';
import { measureMode, type MeasureOptions, type ModeResult } from '#bench/node/measure.ts';
import { MODES } from '#bench/node/modes/index.ts';
import { renderTables } from '#bench/node/report.ts';
import { createScene } from '#bench/node/scene.ts';

const { values } = parseArgs({ options: { modes: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const quick = values.quick;

const options: MeasureOptions = {
  streams: [1, 8],
  iperfSeconds: quick ? 2 : 5,
  latency: { connections: 4, totalRps: 1000, seconds: quick ? 3 : 10, warmupSeconds: 1 },
  httpPath: '/bytes/1024',
};

function selectModes(): NodeBenchMode[] {
  if (values.modes === undefined) return [...MODES];
  const wanted = values.modes.split(',').map((m) => m.trim()).filter((m) => m !== '');
  const unknown = wanted.filter((w) => !MODES.some((m) => m.name === w));
  if (unknown.length > 0) throw new Error(`unknown mode(s) ${unknown.join(', ')}; known: ${MODES.map((m) => m.name).join(', ')}`);
  return MODES.filter((m) => wanted.includes(m.name));
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface Stage {
  scene: Scene;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const modes = selectModes();
  const run = startRun();
  const results: ModeResult[] = [];
  let shared: Stage | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    for (const mode of modes) {
      let stage: Stage;
      if (mode.startCluster !== undefined) {
        const own = await mode.startCluster(`nodebench-${mode.name}`);
        closers.push(() => own.stop());
        const s = await createScene(own.cluster);
        closers.push(() => s.close());
        stage = s;
      } else {
        if (shared === undefined) {
          const cluster = await LocalCluster.start({ name: 'nodebench', nodes: 2 });
          cluster.installSignalHandlers();
          closers.push(() => cluster.stop());
          const s = await createScene(cluster);
          closers.push(() => s.close());
          shared = s;
        }
        stage = shared;
      }
      const setup = await mode.setup(stage.scene);
      try {
        results.push(await measureMode(mode, stage.scene, setup, options, log));
      } finally {
        await setup.teardown();
      }
    }
  } finally {
    // Scenes before their clusters: reverse order of creation.
    for (const close of closers.reverse()) await close().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
  finishRun(run);
  const file = await writeResults(quick ? 'node-quick' : 'node', {
    ...run,
    layout: 'client pod on node1, server pod on node2 (embedded cluster, separate network namespaces, underlay bridge)',
    options,
    modes: results,
  });
  log(`results: ${file}`);
  console.log(`load average ${run.loadavg.map((l) => l.toFixed(1)).join(' → ')}, ${run.node}\n`);
  console.log(renderTables(results, options.streams));
}

await main();
