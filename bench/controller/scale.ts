// Controller scale benchmark: a synthetic mesh (default 10,000 pods, 1,000 services, 100
// nodes). Measures the model build, a full push to one ConfigClient per node (real
// WebSockets over loopback TLS, clients in a child process), the time from one pod change to
// every client having applied it (p50/p99), and the controller's memory.
// Usage: node bench/controller/scale.ts [--pods N] [--services N] [--nodes N] [--changes N]
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildModel } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { viewFor } from '#controller/model/view.ts';
import { modelOf, pushHarness } from '#controller/push/testing.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import { podObject, syntheticCluster } from './synthetic.ts';
import type { SyntheticSize } from './synthetic.ts';

const { values } = parseArgs({ options: {
  pods: { type: 'string', default: '10000' }, services: { type: 'string', default: '1000' },
  nodes: { type: 'string', default: '100' }, changes: { type: 'string', default: '50' },
} });
const size: SyntheticSize = { pods: Number(values.pods), services: Number(values.services), nodes: Number(values.nodes), namespaces: 20 };
const changes = Number(values.changes);
const options = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const ms = (x: number): number => Math.round(x * 10) / 10;
const mb = (x: number): number => Math.round(x / 1024 / 1024);

const objects = syntheticCluster(size);
const buildTimes: number[] = [];
let model: MeshModel = buildModel(objects, options);
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  model = buildModel(objects, options);
  buildTimes.push(performance.now() - t);
}
console.error(`model: ${model.resources.size} resources, build ${ms(percentile(buildTimes, 50))} ms`);

const h = await pushHarness({ viewFor: (m, c) => viewFor(m, c) });
h.push.setModel(modelOf([]));
const child = fork(join(import.meta.dirname, 'clients.ts'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const seen = new Array<number>(size.nodes).fill(0);
let waiter: { target: number; resolve: () => void } | undefined;
child.on('message', (m: unknown) => {
  if (typeof m !== 'object' || m === null || !('i' in m) || typeof m.i !== 'number') return;
  seen[m.i] = (seen[m.i] ?? 0) + 1;
  if (waiter !== undefined && seen.every((n) => n >= (waiter?.target ?? Infinity))) waiter.resolve();
});
function allReached(target: number): Promise<void> {
  if (seen.every((n) => n >= target)) return Promise.resolve();
  return new Promise((resolve) => { waiter = { target, resolve }; });
}
const nodes = Array.from({ length: size.nodes }, (_, n) => ({ node: `node-${n}`, token: h.tokens.mint({ kind: 'ztunnel', node: `node-${n}` }) }));
const connectStart = performance.now();
child.send({ url: h.url, rootsPem: h.rootsPem, nodes });
await allReached(1);
const connectMs = performance.now() - connectStart;
console.error(`${size.nodes} clients connected and subscribed in ${ms(connectMs)} ms`);

let t = performance.now();
h.push.setModel(model);
const fullPushSyncMs = performance.now() - t;
await allReached(2);
const fullPushMs = performance.now() - t;
console.error(`full push to ${size.nodes} clients: ${ms(fullPushMs)} ms (server-side synchronous part ${ms(fullPushSyncMs)} ms)`);
const rssAfterFull = process.memoryUsage().rss;

let current: ClusterObjects = objects;
const endToEnd: number[] = [];
const pushOnly: number[] = [];
const rebuild: number[] = [];
const setModelMs: number[] = [];
for (let c = 0; c < changes; c++) {
  const i = (c * 7919) % size.pods;
  const p = podObject(i, size);
  const changed = { ...p, status: { ...p.status, podIP: `10.250.${c >> 8}.${c & 255}`, podIPs: [{ ip: `10.250.${c >> 8}.${c & 255}` }] } };
  current = { ...current, pods: new Map(current.pods).set(`${p.metadata.namespace}/${p.metadata.name}`, changed) };
  t = performance.now();
  const next = buildModel(current, options);
  const built = performance.now();
  h.push.setModel(next);
  setModelMs.push(performance.now() - built);
  await allReached(3 + c);
  const done = performance.now();
  endToEnd.push(done - t);
  rebuild.push(built - t);
  pushOnly.push(done - built);
}
const rss = Math.max(rssAfterFull, process.memoryUsage().rss);
const result = {
  size, resources: model.resources.size,
  buildModelMs: ms(percentile(buildTimes, 50)),
  connectAndEmptySnapshotMs: ms(connectMs),
  fullPushMs: ms(fullPushMs),
  fullPushServerSyncMs: ms(fullPushSyncMs),
  change: {
    count: changes,
    endToEndP50Ms: ms(percentile(endToEnd, 50)), endToEndP99Ms: ms(percentile(endToEnd, 99)),
    rebuildP50Ms: ms(percentile(rebuild, 50)),
    setModelP50Ms: ms(percentile(setModelMs, 50)),
    pushToAllP50Ms: ms(percentile(pushOnly, 50)), pushToAllP99Ms: ms(percentile(pushOnly, 99)),
  },
  controllerRssMb: mb(rss),
  controllerHeapMb: mb(process.memoryUsage().heapUsed),
};
console.log(JSON.stringify(result, null, 2));
await mkdir(join(import.meta.dirname, '..', 'results'), { recursive: true });
await writeFile(join(import.meta.dirname, '..', 'results', 'controller-scale.json'), JSON.stringify(result, null, 2) + '\n');
child.send('stop');
await new Promise((r) => child.once('exit', r));
await h.close();
