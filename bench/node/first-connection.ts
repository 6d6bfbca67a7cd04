// Time to first success of new pods on the embedded cluster (LocalMesh, two nodes): pods are
// created one after another in an enrolled namespace on node1, each with its own service
// account (a new identity, so a new certificate), and each opens one connection to a Service
// whose pod (the echo app) is on node2 the moment the cluster hands the pod over
// (bench/node/fresh-pods.ts). Reports p50/p99/max from the start of pod creation to the first
// echo, split into creation (netns, links, capture and the ztunnel's ack) and connection (the
// hold until the pod's config and certificate are at the ztunnel, then the HBONE round trip).
//   node_modules/.bin/node bench/node/first-connection.ts [--pods 50]
// Writes bench/results/first-connection.json and prints a markdown table. Needs root.
import { parseArgs } from 'node:util';
import { summarize } from '#bench/lib/percentiles.ts';
import { publishRun, startRun } from '#bench/lib/results.ts';
import { markdownTable } from '#bench/lib/table.ts';
import { measureFreshPods } from '#bench/node/fresh-pods.ts';
import { ECHO_TCP_PORT, startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '50' } } });
const pods = Number(values.pods);
if (!Number.isInteger(pods) || pods <= 0) throw new Error(`--pods must be a positive integer, got ${values.pods}`);
const NAMESPACE = 'fresh';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const run = startRun();
  const mesh = await LocalMesh.start({ name: 'perffb', nodes: 2 });
  mesh.installSignalHandlers();
  let results;
  try {
    await mesh.enrollNamespace(NAMESPACE);
    const server = await mesh.cluster.addPod({ namespace: NAMESPACE, name: 'server', node: 'node2', labels: { app: 'server' } });
    await startEcho(server);
    const svc = await mesh.cluster.addService({ namespace: NAMESPACE, name: 'server', selector: { app: 'server' }, ports: [{ port: ECHO_TCP_PORT, targetPort: ECHO_TCP_PORT, name: 'tcp' }] });
    await mesh.waitForEnrollment(server);
    await mesh.settle();
    results = await measureFreshPods(mesh, { namespace: NAMESPACE, count: pods, node: 'node1', target: { host: svc.vip, port: ECHO_TCP_PORT }, timeoutMs: 15_000 }, (r) => {
      log(`${r.pod}: created ${r.createMs.toFixed(0)} ms, first echo ${r.connectMs.toFixed(0)} ms later${r.error === undefined ? '' : `, FAILED ${r.error}`}`);
    });
  } finally {
    await mesh.stop();
  }
  const ok = results.filter((r) => r.error === undefined);
  const total = summarize(ok.map((r) => r.totalMs));
  const create = summarize(ok.map((r) => r.createMs));
  const connect = summarize(ok.map((r) => r.connectMs));
  await publishRun(run, 'first-connection', {
    layout: 'new pods on node1 (one service account each), echo app behind a Service on node2, both ztunnels and the controller as processes (LocalMesh)',
    pods, failed: results.length - ok.length, total, create, connect, results,
  }, markdownTable(['from the start of pod creation', 'p50 (ms)', 'p90', 'p99', 'max'], [
    ['to the first echo', total.p50, total.p90, total.p99, total.max],
    ['pod created (capture acked)', create.p50, create.p90, create.p99, create.max],
    ['then connect to echo', connect.p50, connect.p90, connect.p99, connect.max],
  ], 0), log, `; ${results.length - ok.length} of ${pods} failed`);
}

await main();
