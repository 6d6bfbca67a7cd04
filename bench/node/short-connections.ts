// Short connections through the mesh, round after round: what each new inbound connection
// costs the destination ztunnel as the caller's closed connections pile up in TIME_WAIT.
// A client pod on node1 opens N connections per round (up to --concurrency at once) to the
// echo app's TCP port in a pod on node2; each sends a few bytes, reads them back and closes
// first (so the destination ztunnel's transparent socket to the app, bound to the client's
// address, is the one left in TIME_WAIT). Per round: the wall time to get through the N
// connections, connect-to-echo times, failures, the destination ztunnel's CPU seconds, and
// TIME_WAIT sockets in the destination pod. Beside it, a neighbour pod on node1 runs 100 new
// connections per second to the same app (bench/node/neighbour-loop.ts) and counts the ones
// that fail or get no echo within 1 s.
//   node_modules/.bin/node bench/node/short-connections.ts [--connections 5000] [--rounds 10] [--concurrency 50] [--label NAME]
// Writes bench/results/short-connections[-NAME].json and prints a markdown table. Needs root.
// WEFT_ZTUNNEL_NODE_OPTIONS passes node flags to the ztunnels, as for run.ts.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sampleProcess } from '#bench/lib/proc-stats.ts';
import { echoExchange } from '#bench/node/echo-exchange.ts';
import { finishRun, startRun, writeResults } from '#bench/lib/results.ts';
import {
  lastNeighbourCounts, neighbourDelta, openTimes, renderRounds, type RoundResult,
} from '#bench/node/short-connections-report.ts';
import { ECHO_TCP_PORT, startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import { ztunnelNodeArgs } from '#bench/node/modes/weft.ts';
import type { LocalPod } from '#local/pod.ts';

const NEIGHBOUR_LOOP = fileURLToPath(new URL('./neighbour-loop.ts', import.meta.url));
const NAMESPACE = 'bench';
/** A connection that has not finished its exchange by then counts as failed. */
const CONNECTION_TIMEOUT_MS = 10_000;

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '50' },
    'neighbour-rps': { type: 'string', default: '100' },
    label: { type: 'string' },
  },
});
const options = {
  connections: Number(values.connections),
  rounds: Number(values.rounds),
  concurrency: Number(values.concurrency),
  neighbourRps: Number(values['neighbour-rps']),
  neighbourTimeoutMs: 1000,
};
for (const [k, v] of Object.entries(options)) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${k} must be a positive integer, got ${String(v)}`);
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** One short connection: connect, a few bytes echoed, client closes first. Resolves with ms to the echo. */
function shortConnection(client: LocalPod, host: string, port: number): Promise<number> {
  return echoExchange(client, host, port, CONNECTION_TIMEOUT_MS);
}

async function timeWaitCount(pod: LocalPod): Promise<number> {
  const r = await pod.exec(['ss', '-Htan', 'state', 'time-wait']);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

async function main(): Promise<void> {
  const run = startRun();
  const mesh = await LocalMesh.start({ name: 'shortconn', nodes: 2, nodeArgs: ztunnelNodeArgs() });
  mesh.installSignalHandlers();
  const rounds: RoundResult[] = [];
  const errors = new Map<string, number>();
  try {
    const [client, neighbour, server] = await Promise.all([
      mesh.cluster.addPod({ namespace: NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }),
      mesh.cluster.addPod({ namespace: NAMESPACE, name: 'neighbour', node: 'node1', serviceAccount: 'neighbour', labels: { app: 'neighbour' } }),
      mesh.cluster.addPod({ namespace: NAMESPACE, name: 'server', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } }),
    ]);
    // The client's own connections also end in TIME_WAIT (in its pod): a wide port range there
    // keeps the client from running out of ports before the destination shows its cost.
    await client.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    await startEcho(server);
    await mesh.enrollNamespace(NAMESPACE);
    await Promise.all([client, neighbour, server].map((p) => mesh.waitForEnrollment(p)));
    await mesh.settle();
    // One exchange so the HBONE session between the nodes is up before the clock starts.
    await shortConnection(client, server.ip, ECHO_TCP_PORT);
    const destination = mesh.ztunnel('node2').process.pid;

    const loop = neighbour.spawn([
      process.execPath, NEIGHBOUR_LOOP, '--host', server.ip, '--port', String(ECHO_TCP_PORT),
      '--rps', String(options.neighbourRps), '--timeout-ms', String(options.neighbourTimeoutMs), '--seconds', '1800',
    ], { label: 'neighbour-loop' });
    await loop.waitForLine('ready');
    try {
      for (let round = 1; round <= options.rounds; round++) {
        const cpuBefore = await sampleProcess(destination);
        const neighbourBefore = lastNeighbourCounts(loop.stdout);
        const started = performance.now();
        const opened: number[] = [];
        let failed = 0;
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < options.connections) {
            next++;
            try {
              opened.push(await shortConnection(client, server.ip, ECHO_TCP_PORT));
            } catch (err) {
              failed++;
              const key = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
              errors.set(key, (errors.get(key) ?? 0) + 1);
            }
          }
        };
        await Promise.all(Array.from({ length: options.concurrency }, worker));
        const seconds = (performance.now() - started) / 1000;
        const cpuAfter = await sampleProcess(destination);
        const r: RoundResult = {
          round, connections: options.connections, seconds, failed, openMs: openTimes(opened),
          destinationCpuSeconds: cpuAfter.cpuSeconds - cpuBefore.cpuSeconds,
          timeWait: await timeWaitCount(server),
          neighbour: neighbourDelta(neighbourBefore, lastNeighbourCounts(loop.stdout)),
        };
        rounds.push(r);
        log(`round ${round}: ${seconds.toFixed(1)} s, ${failed} failed, open p50 ${r.openMs.p50.toFixed(1)} ms p99 ${r.openMs.p99.toFixed(1)} ms, `
          + `destination CPU ${r.destinationCpuSeconds.toFixed(1)} s, TIME_WAIT ${r.timeWait}, neighbour ${r.neighbour.failed}/${r.neighbour.sent} failed`);
      }
    } finally {
      await loop.stop(3000);
    }
  } finally {
    await mesh.stop();
  }
  finishRun(run);
  const name = values.label === undefined ? 'short-connections' : `short-connections-${values.label}`;
  const file = await writeResults(name, {
    ...run,
    layout: 'client and neighbour pods on node1, echo app (TCP) in a pod on node2, both ztunnels as processes (LocalMesh)',
    options,
    errors: Object.fromEntries(errors),
    rounds,
  });
  log(`results: ${file}`);
  console.log(`load average ${run.loadavg.map((l) => l.toFixed(1)).join(' → ')}, ${run.node}\n`);
  console.log(renderRounds(rounds));
}

await main();
