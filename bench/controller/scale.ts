// Controller scale benchmark: a synthetic mesh (default 10,000 pods, 1,000 services, 100
// nodes). Measures the model build, a full push to one client per node (real WebSockets over
// loopback TLS, clients in a child process), the time from one pod change to every client
// having applied it (p50/p99), the controller's CPU and its memory.
// Two client kinds, each in a fresh controller process (so one run's memory high-water mark
// does not show in the other's):
// - lean: clients that read only each frame's version and ACK: the controller-side numbers;
// - real: ConfigClients that parse and validate everything: end to end, but on this machine
//   100 clients parse on the controller's two cores (a real deployment has them elsewhere).
// Both kinds ask for deflated frames (one deflated copy per distinct frame, shared by all
// clients) unless --compression none, which keeps the stream to JSON text, for comparison.
// Usage: node bench/controller/scale.ts [--pods N] [--services N] [--nodes N] [--changes N] [--clients both|lean|real]
//   [--compression deflate|none]
//   [--profile DIR]: CPU profiles of the full push alone (controller and client process) in DIR.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync } from 'node:zlib';
import { buildModel, ModelBuilder } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { viewFor } from '#controller/model/view.ts';
import { modelOf, pushHarness } from '#controller/push/testing.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import { podObject, syntheticCluster } from './synthetic.ts';
import type { SyntheticSize } from './synthetic.ts';

const { values } = parseArgs({ options: {
  pods: { type: 'string', default: '10000' }, services: { type: 'string', default: '1000' },
  nodes: { type: 'string', default: '100' }, changes: { type: 'string', default: '50' },
  clients: { type: 'string', default: 'both' }, profile: { type: 'string' },
  compression: { type: 'string', default: 'deflate' },
} });
if (values.compression !== 'deflate' && values.compression !== 'none') throw new Error('--compression is deflate or none');
const compression = values.compression === 'deflate';
const size: SyntheticSize = { pods: Number(values.pods), services: Number(values.services), nodes: Number(values.nodes), namespaces: 20 };
const changes = Number(values.changes);
if (values.clients === 'both') {
  // Each kind in its own process; this one only merges their results.
  const phases: Record<string, unknown> = {};
  let common: Record<string, unknown> = {};
  for (const kind of ['lean', 'real']) {
    const args = ['--pods', values.pods, '--services', values.services, '--nodes', values.nodes, '--changes', values.changes, '--clients', kind, '--compression', values.compression,
      ...(values.profile === undefined ? [] : ['--profile', values.profile])];
    const child = fork(import.meta.filename, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const [result] = await once(child, 'message') as [Record<string, unknown>];
    await once(child, 'exit');
    const { [kind]: phaseResult, ...rest } = result;
    phases[kind] = phaseResult;
    common = rest;
  }
  // Other work on the machine shows up directly in the latencies: keep it with the numbers.
  const merged = { ...common, ...phases, loadAverage1mAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
  console.log(JSON.stringify(merged, null, 2));
  await mkdir(join(import.meta.dirname, '..', 'results'), { recursive: true });
  await writeFile(join(import.meta.dirname, '..', 'results', 'controller-scale.json'), JSON.stringify(merged, null, 2) + '\n');
  process.exit(0);
}
const kinds = values.clients === 'lean' ? ['lean'] as const : ['real'] as const;
const options = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const ms = (x: number): number => Math.round(x * 10) / 10;
const mb = (x: number): number => Math.round(x / 1024 / 1024);
const cpuMs = (since: NodeJS.CpuUsage): number => { const u = process.cpuUsage(since); return ms((u.user + u.system) / 1000); };

const objects = syntheticCluster(size);
// The first build in the process: nothing to reuse, and V8 has not optimised the builder yet.
let t0 = performance.now();
const model: MeshModel = buildModel(objects, options);
const firstBuildMs = ms(performance.now() - t0);
console.error(`model: ${model.resources.size} resources, first build ${firstBuildMs} ms`);

// Deflate, measured on one ztunnel snapshot: what the push's one shared deflated copy saves on
// the wire and costs (level 1 is what it uses), synchronously and off the event loop.
const snapshot = Buffer.from(JSON.stringify({ type: 'snapshot', version: 1, resources: [...viewFor(model, { kind: 'ztunnel', node: 'node-0' }).values()] }));
const deflate = [1, 6].map((level) => {
  const t = performance.now();
  const bytes = deflateRawSync(snapshot, { level }).length;
  return { level, bytes, ms: ms(performance.now() - t) };
});
const deflateAsyncStart = performance.now();
await promisify(deflateRaw)(snapshot, { level: 1 });
const deflateLevel1AsyncMs = ms(performance.now() - deflateAsyncStart);
const kb = (x: number): number => Math.round(x / 1024);
console.error(`snapshot ${kb(snapshot.length)} KB; deflate ${deflate.map((d) => `level ${d.level}: ${kb(d.bytes)} KB in ${d.ms} ms`).join(', ')}; level 1 off the loop ${deflateLevel1AsyncMs} ms`);

// The live set, as opposed to the peak (which mostly measures how much garbage V8 lets pile up).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function liveMb(): { rss: number; heap: number; external: number } {
  gc();
  const m = process.memoryUsage();
  return { rss: mb(m.rss), heap: mb(m.heapUsed), external: mb(m.external) };
}

// Memory: sampled, since the peak is transient (socket buffers during a full push).
let rssPeak = 0;
let heapPeak = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  rssPeak = Math.max(rssPeak, m.rss);
  heapPeak = Math.max(heapPeak, m.heapUsed);
}, 20);
sampler.unref();

/** A request to the client process answered with its CPU time so far (ms), after profiling is started or stopped. */
function askClients(child: ChildProcess, profile?: { start: boolean; file: string }): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown): void => {
      if (typeof m !== 'object' || m === null || !('cpuMs' in m) || typeof m.cpuMs !== 'number') return;
      child.off('message', onMessage);
      resolve(m.cpuMs);
    };
    child.on('message', onMessage);
    child.send({ cpu: true, ...(profile === undefined ? {} : { profile }) });
  });
}

/** Profiles this process from start() until the returned function writes the profile to `file`. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await writeFile(file, JSON.stringify(profile));
  };
}

async function phase(lean: boolean): Promise<Record<string, unknown>> {
  rssPeak = 0;
  heapPeak = 0;
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const h = await pushHarness({ modelViews: true });
  h.push.setModel(modelOf([]));
  const child = fork(join(import.meta.dirname, 'clients.ts'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen = new Array<number>(size.nodes).fill(0);
  let bytes = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  child.on('message', (m: unknown) => {
    if (typeof m !== 'object' || m === null || !('i' in m) || typeof m.i !== 'number') return;
    seen[m.i] = (seen[m.i] ?? 0) + 1;
    if ('bytes' in m && typeof m.bytes === 'number') bytes += m.bytes;
    if (waiter !== undefined && seen.every((n) => n >= (waiter?.target ?? Infinity))) waiter.resolve();
  });
  const allReached = (target: number): Promise<void> => {
    if (seen.every((n) => n >= target)) return Promise.resolve();
    return new Promise((resolve) => { waiter = { target, resolve }; });
  };
  const nodes = Array.from({ length: size.nodes }, (_, n) => ({ node: `node-${n}`, token: h.tokens.mint({ kind: 'ztunnel', node: `node-${n}` }) }));
  const connectStart = performance.now();
  child.send({ url: h.url, rootsPem: h.rootsPem, nodes, lean, compression });
  await allReached(1);
  const connectMs = performance.now() - connectStart;
  const name = lean ? 'lean' : 'real';
  console.error(`[${name}] ${size.nodes} clients connected and subscribed in ${ms(connectMs)} ms`);

  const liveBeforeFull = liveMb();
  console.error(`[${name}] before the full push (after GC): ${JSON.stringify(liveBeforeFull)} MB`);
  bytes = 0;
  const profileDir = values.profile;
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
  const profileFile = (who: string): string => join(profileDir ?? '.', `full-push-${name}-${who}.cpuprofile`);
  const stopProfile = profileDir === undefined ? undefined : await startProfile();
  const clientCpuBefore = await askClients(child, profileDir === undefined ? undefined : { start: true, file: profileFile('clients') });
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  let t = performance.now();
  h.push.setModel(model);
  const fullPushSyncMs = performance.now() - t;
  await allReached(2);
  const fullPushMs = performance.now() - t;
  const fullPushCpuMs = cpuMs(cpu);
  const fullPushElu = performance.eventLoopUtilization(elu);
  const fullPushBytes = bytes;
  const fullPushClientCpuMs = ms(await askClients(child, profileDir === undefined ? undefined : { start: false, file: profileFile('clients') }) - clientCpuBefore);
  await stopProfile?.(profileFile('controller'));
  const fullRss = rssPeak;
  const liveAfterFull = liveMb();
  console.error(`[${name}] full push: ${ms(fullPushMs)} ms (setModel ${ms(fullPushSyncMs)} ms, controller CPU ${fullPushCpuMs} ms, client process CPU ${fullPushClientCpuMs} ms, event loop busy ${ms(fullPushElu.active)} ms, peak RSS ${mb(fullRss)} MB)`);

  // The informer cache is updated in place, as a Kubernetes informer's store is.
  const pods = new Map(objects.pods);
  const current: ClusterObjects = { ...objects, pods };
  const endToEnd: number[] = [];
  const pushOnly: number[] = [];
  const rebuild: number[] = [];
  const setModelMs: number[] = [];
  const changeCpu: number[] = [];
  rssPeak = 0;
  for (let c = 0; c < changes; c++) {
    const i = (c * 7919) % size.pods;
    const p = podObject(i, size);
    const changed = { ...p, status: { ...p.status, podIP: `10.250.${c >> 8}.${c & 255}`, podIPs: [{ ip: `10.250.${c >> 8}.${c & 255}` }] } };
    pods.set(`${p.metadata.namespace}/${p.metadata.name}`, changed);
    t = performance.now();
    const next = buildModel(current, options);
    const built = performance.now();
    const cpuChange = process.cpuUsage();
    h.push.setModel(next);
    setModelMs.push(performance.now() - built);
    await allReached(3 + c);
    const done = performance.now();
    changeCpu.push(cpuMs(cpuChange));
    endToEnd.push(done - t);
    rebuild.push(built - t);
    pushOnly.push(done - built);
  }
  const changesRss = rssPeak;
  console.error(`[${name}] one change incl. rebuild p50/p99: ${ms(percentile(endToEnd, 50))} / ${ms(percentile(endToEnd, 99))} ms; push part ${ms(percentile(pushOnly, 50))} / ${ms(percentile(pushOnly, 99))} ms; rebuild p50 ${ms(percentile(rebuild, 50))} ms; peak RSS ${mb(changesRss)} MB`);
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  await h.close();
  return {
    loadAverage1mAtStart: loadAtStart,
    connectAndEmptySnapshotMs: ms(connectMs),
    fullPushMs: ms(fullPushMs),
    fullPushSetModelMs: ms(fullPushSyncMs),
    fullPushControllerCpuMs: fullPushCpuMs,
    /** The one process holding all the clients, on the same two cores. */
    fullPushClientProcessCpuMs: fullPushClientCpuMs,
    fullPushEventLoopBusyMs: ms(fullPushElu.active),
    ...(lean ? { fullPushBytesReceived: fullPushBytes } : {}),
    change: {
      count: changes,
      endToEndP50Ms: ms(percentile(endToEnd, 50)), endToEndP99Ms: ms(percentile(endToEnd, 99)),
      rebuildP50Ms: ms(percentile(rebuild, 50)), rebuildP99Ms: ms(percentile(rebuild, 99)),
      setModelP50Ms: ms(percentile(setModelMs, 50)), setModelP99Ms: ms(percentile(setModelMs, 99)),
      pushToAllP50Ms: ms(percentile(pushOnly, 50)), pushToAllP90Ms: ms(percentile(pushOnly, 90)), pushToAllP99Ms: ms(percentile(pushOnly, 99)),
      controllerCpuP50Ms: ms(percentile(changeCpu, 50)),
    },
    controllerRssPeakDuringFullPushMb: mb(fullRss),
    controllerRssPeakDuringChangesMb: mb(changesRss),
    controllerBeforeFullPushGcMb: liveBeforeFull,
    controllerAfterFullPushGcMb: liveAfterFull,
    controllerRssPeakMb: mb(Math.max(fullRss, changesRss)),
    controllerHeapPeakMb: mb(heapPeak),
    /** The process's high-water mark, model builds included. */
    controllerMaxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

const phases: Record<string, unknown> = {};
for (const k of kinds) phases[k] = await phase(k === 'lean');

// Full builds, measured last so their garbage does not show in the phases' memory: a fresh
// builder has nothing to reuse (buildModel's shared builder would reuse everything here).
const buildTimes: number[] = [];
for (let i = 0; i < 8; i++) {
  t0 = performance.now();
  new ModelBuilder().build(objects, options);
  buildTimes.push(performance.now() - t0);
}
const fullBuildMs = ms(percentile(buildTimes, 50));
console.error(`full build p50 ${fullBuildMs} ms`);
const result = {
  size, resources: model.resources.size,
  buildModelMs: fullBuildMs,
  firstBuildModelMs: firstBuildMs,
  snapshotBytes: snapshot.length,
  deflate,
  deflateLevel1AsyncMs,
  compression: values.compression,
  ...phases,
};
if (process.send !== undefined) {
  process.send(result, () => process.exit(0));
} else {
  console.log(JSON.stringify(result, null, 2));
  await mkdir(join(import.meta.dirname, '..', 'results'), { recursive: true });
  await writeFile(join(import.meta.dirname, '..', 'results', 'controller-scale.json'), JSON.stringify(result, null, 2) + '\n');
}
