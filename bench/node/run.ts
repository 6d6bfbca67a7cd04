// Node-to-node benchmark on the embedded cluster, the modes side by side in one run: a client
// pod on node1 and a server pod on node2, with `direct` (no proxy), `stunnel` (the C
// reference for a mutual TLS tunnel) and `weft` (the mesh: both pods enrolled, two ztunnels). Measures iperf3
// throughput for 1 and 8 streams and fixed-rate HTTP/1.1 latency (1 KiB responses, 1000 rps
// over 4 connections) with the proxies' CPU time per 1000 requests and RSS.
//   node_modules/.bin/node bench/node/run.ts [--modes direct,stunnel] [--quick]
// Writes bench/results/node.json and prints markdown tables. Needs root, iperf3, h2load, stunnel4.
import { parseArgs } from 'node:util';
import { publishRun, startRun } from '#bench/lib/results.ts';
import { measureMode, type MeasureOptions } from '#bench/node/measure.ts';
import { renderTables } from '#bench/node/report.ts';
import { forEachMode, selectModes } from '#bench/node/stages.ts';

const { values } = parseArgs({ options: { modes: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const quick = values.quick;

const options: MeasureOptions = {
  streams: [1, 8],
  iperfSeconds: quick ? 2 : 5,
  latency: { connections: 4, totalRps: 1000, seconds: quick ? 3 : 10, warmupSeconds: 1 },
  httpPath: '/bytes/1024',
};

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const modes = selectModes(values.modes);
  const run = startRun();
  const results = await forEachMode(modes, 'nodebench', log, (mode, scene, setup) => measureMode(mode, scene, setup, options, log));
  await publishRun(run, quick ? 'node-quick' : 'node', {
    layout: 'client pod on node1, server pod on node2 (embedded cluster, separate network namespaces, underlay bridge)',
    options,
    modes: results,
  }, renderTables(results, options.streams), log);
}

await main();
