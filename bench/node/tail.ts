// Where weft's latency tail comes from: the node benchmark's fixed-rate HTTP/1.1 run (1 KiB,
// 1000 rps over 4 connections, 10 s after 1 s) through the mesh, with the two ztunnels' own view
// of the same window from their metrics endpoints: event-loop delay (prom-client's
// monitorEventLoopDelay histogram, reset at each scrape, so one scrape before the run and one
// after frame it; it records the time between 10 ms timer ticks, so the 10 ms are taken off) and GC pauses by kind (nodejs_gc_duration_seconds, before/after difference).
// If the client's p99 sits near the loops' p99 delay or the longest GC pause, the tail is the
// ztunnels' own stalls; if the loops are quick, it is waiting outside them (run queue, network).
// `--rounds N` repeats the run on the same mesh.
//   node_modules/.bin/node bench/node/tail.ts [--rounds 3]
// Root. Prints a table; WEFT_ZTUNNEL_NODE_OPTIONS passes node flags to the ztunnels, as for run.ts.
import { parseArgs } from 'node:util';
import { Ports } from '#core/ports.ts';
import { runFixedRate } from '#bench/node/h2load.ts';
import { forEachMode, selectModes } from '#bench/node/stages.ts';
import { markdownTable } from '#bench/lib/table.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** A sample's value, summed over its label sets, from a Prometheus text page. */
function sample(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** prom-client's default eventLoopMonitoringPrecision: the tick the histogram's samples include. */
const LOOP_TICK_MS = 10;

const rows: string[][] = [];
await forEachMode(selectModes('weft'), 'tail', log, async (_mode, scene, setup) => {
  const url = `http://${setup.targets.http.host}:${setup.targets.http.port}/bytes/1024`;
  const scrape = (): Promise<string[]> => Promise.all(scene.cluster.nodes.map(async (n) => (await fetch(`http://${n.ip}:${Ports.metrics}/metrics`)).text()));
  for (let round = 1; round <= rounds; round++) {
    const before = await scrape();
    const r = await runFixedRate(scene.client, url, { connections: 4, totalRps: 1000, seconds: 10, warmupSeconds: 1 });
    const after = await scrape();
    const perNode = scene.cluster.nodes.map((n, i) => {
      const a = after[i] ?? '';
      const b = before[i] ?? '';
      const gc = (kind: string, what: '_sum' | '_count'): number => sample(a, `nodejs_gc_duration_seconds${what}`, `kind="${kind}"`) - sample(b, `nodejs_gc_duration_seconds${what}`, `kind="${kind}"`);
      return {
        node: n.name,
        lagP99: sample(a, 'nodejs_eventloop_lag_p99_seconds') * 1000 - LOOP_TICK_MS,
        lagMax: sample(a, 'nodejs_eventloop_lag_max_seconds') * 1000 - LOOP_TICK_MS,
        minorCount: gc('minor', '_count'), minorMs: gc('minor', '_sum') * 1000,
        majorCount: gc('major', '_count') + gc('incremental', '_count'), majorMs: (gc('major', '_sum') + gc('incremental', '_sum')) * 1000,
      };
    });
    const f = (x: number): string => x.toFixed(2);
    rows.push([String(round), f(r.latencyMs.p50), f(r.latencyMs.p99), f(r.latencyMs.max),
      perNode.map((p) => `${f(p.lagP99)} / ${f(p.lagMax)}`).join(' · '),
      perNode.map((p) => `${String(p.minorCount)} (${f(p.minorMs)} ms)`).join(' · '),
      perNode.map((p) => `${String(p.majorCount)} (${f(p.majorMs)} ms)`).join(' · ')]);
    log(`round ${String(round)}: p99 ${f(r.latencyMs.p99)} ms; ${JSON.stringify(perNode)}`);
  }
  return undefined;
});
process.stdout.write(markdownTable(['round', 'client p50 (ms)', 'p99', 'max', 'loop delay p99 / max, ms (node1 · node2)', 'minor GCs (time)', 'major GCs (time)'], rows) + '\n');
