// The waypoint benchmark, every scenario in one run on one embedded cluster:
//   mesh    l4 (two ztunnels, no waypoint) · waypoint (default route) · waypoint-routes
//           (/a → echo-a, /b → echo-b)
//   proxies tls-direct (TLS straight to a backend) · nginx · haproxy, the same two path routes
//           with TLS on both sides, one worker each, in a pod on the waypoint's node
// HTTP/1.1, 1 KiB answers, h2load in a client pod. Per round, every scenario gets a fixed-rate
// run (1000 rps over 4 connections, as in Istio's figures) for latency and the proxy's CPU and
// memory at that rate; then l4, waypoint-routes, tls-direct, nginx and haproxy get a
// closed-loop run (16 connections) for the maximum rate and requests per proxy CPU second.
// Scenarios are interleaved and their order rotates from round to round, so the shared
// machine's load falls on all alike. On --connections: h2load's connections fire in step, so
// more of them means bigger bursts (more queueing, less CPU per request); fewer means each
// must answer within connections/1000 s or the run falls short of the rate (the table shows
// the rate reached).
//   node_modules/.bin/node bench/waypoint/run.ts [--rounds 3] [--seconds 10] [--connections 4] [--quick]
// Writes bench/results/waypoint.json and prints markdown tables. Needs root, h2load, nginx, haproxy, openssl.
import { parseArgs } from 'node:util';
import { finishRun, startRun, writeResults } from '#bench/lib/results.ts';
import type { LoadOptions } from '#bench/waypoint/load.ts';
import { ROUTE_PREFIXES, startMeshScene } from '#bench/waypoint/mesh-scene.ts';
import { startProxyScene } from '#bench/waypoint/proxy-scene.ts';
import { renderBaselineTable, renderMeshTable, renderProxyTable } from '#bench/waypoint/report.ts';
import { runRounds, scenario, type Scenario } from '#bench/waypoint/rounds.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, seconds: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string', default: '4' },
  },
});
const seconds = Number(values.seconds ?? (values.quick ? 3 : 10));
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds must be a positive number, got ${String(values.seconds)}`);
if (!Number.isInteger(rounds) || rounds <= 0) throw new Error(`--rounds must be a positive integer, got ${String(values.rounds)}`);
const connections = Number(values.connections);
if (!Number.isInteger(connections) || connections <= 0 || 1000 % connections !== 0) throw new Error(`--connections must divide 1000, got ${values.connections}`);

const fixedRate: LoadOptions = { connections, totalRps: 1000, seconds, warmupSeconds: 1 };
const closedLoop: LoadOptions = { connections: 16, seconds, warmupSeconds: 1 };
const PATH = '/bytes/1024';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const run = startRun();
  const mesh = await startMeshScene('wpbench');
  let layout: string | undefined;
  const scenarios: Scenario[] = [];
  try {
    const { client, vips, ztunnelPids, waypoint } = mesh;
    log(`waypoint on ${waypoint.node} (pid ${waypoint.pid})`);
    const proxies = await startProxyScene(mesh.mesh.cluster, waypoint.node);
    try {
      layout = `client pods on node1, backends on node2, waypoint and the nginx/HAProxy pod on ${waypoint.node} (embedded cluster, LocalMesh)`;
      const wp = { proxyPids: [waypoint.pid], ztunnelPids, client };
      scenarios.push(
        scenario('l4', 'client → ztunnel → HBONE → ztunnel → echo (Service labelled use-waypoint=none)',
          { client, urls: [`http://${vips.l4}${PATH}`], proxyPids: [], ztunnelPids }, { closedLoop: true }),
        scenario('waypoint', 'client → ztunnel → HBONE → waypoint → HBONE → ztunnel → echo, default route',
          { ...wp, urls: [`http://${vips.waypoint}${PATH}`] }, { baseline: 'l4', proxies: ['waypoint'], closedLoop: false }),
        scenario('waypoint-routes', 'the waypoint with an HTTPRoute: /a → echo-a, /b → echo-b, prefix rewritten to /',
          { ...wp, urls: ROUTE_PREFIXES.map((p) => `http://${vips.routed}${p}${PATH}`) }, { baseline: 'l4', proxies: ['waypoint'], closedLoop: true }),
        scenario('tls-direct', 'h2load → TLS 1.3 → backend (the echo handler over TLS), no proxy',
          { client: proxies.client, urls: [proxies.directUrl], proxyPids: [] }, { closedLoop: true }),
        ...proxies.proxies.map((p) => scenario(p.name,
          `${p.name === 'nginx' ? 'nginx, 1 worker' : 'HAProxy, nbthread 1'}: TLS 1.3 in, mutual TLS 1.3 to the backends (kept alive), /a and /b prefix routes`,
          { client: proxies.client, urls: p.urls, proxyPids: p.pids }, { baseline: 'tls-direct', proxies: [p.name], closedLoop: true })),
      );
      await runRounds(scenarios, { rounds, fixedRate, closedLoop, log });
    } finally {
      await proxies.close();
    }
  } finally {
    await mesh.stop();
  }
  finishRun(run);
  const results = scenarios.map((s) => s.result);
  const file = await writeResults(values.quick ? 'waypoint-quick' : 'waypoint', {
    ...run, layout: layout ?? '', options: { rounds, fixedRate, closedLoop, path: PATH }, scenarios: results,
  });
  log(`results: ${file}`);
  console.log(`load average ${run.loadavg.map((l) => l.toFixed(1)).join(' → ')}, ${run.node}, medians of ${rounds} round(s)\n`);
  console.log(['Mesh, 1000 rps (ms)', '', renderMeshTable(results), '', 'Proxy core', '', renderProxyTable(results), '',
    'Baselines (ms)', '', renderBaselineTable(results)].join('\n'));
}

await main();
