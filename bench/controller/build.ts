// Model build benchmark on the synthetic cluster: a full build (a fresh builder, nothing to
// reuse) and a rebuild after one pod change (buildModel's shared builder; unchanged objects keep
// their identity, as the sources keep them), plus the generation diff that follows each rebuild.
// Usage: node bench/controller/build.ts [--pods N] [--services N] [--nodes N] [--changes N]
import { parseArgs } from 'node:util';
import { buildModel, ModelBuilder } from '#controller/model/build.ts';
import { diffGenerations } from '#controller/model/generation.ts';
import type { ClusterObjects } from '#controller/source/types.ts';
import { podObject, syntheticCluster } from './synthetic.ts';
import type { SyntheticSize } from './synthetic.ts';

const { values } = parseArgs({ options: {
  pods: { type: 'string', default: '10000' }, services: { type: 'string', default: '1000' },
  nodes: { type: 'string', default: '100' }, changes: { type: 'string', default: '50' },
} });
const size: SyntheticSize = { pods: Number(values.pods), services: Number(values.services), nodes: Number(values.nodes), namespaces: 20 };
const options = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const ms = (x: number): number => Math.round(x * 10) / 10;

// Full builds: a fresh builder has nothing to reuse. The first ones in a process run before
// V8 has optimised the builder (and while its heap grows); steady state is the p50 after them.
const full: number[] = [];
const fullObjects = syntheticCluster(size);
for (let i = 0; i < 12; i++) {
  const t = performance.now();
  new ModelBuilder().build(fullObjects, options);
  full.push(performance.now() - t);
}

// Warm rebuilds: one pod changes between builds; the rest keep their objects.
const objects = syntheticCluster(size);
const pods = new Map(objects.pods);
const current: ClusterObjects = { ...objects, pods };
let model = buildModel(current, options);
const rebuild: number[] = [];
const diff: number[] = [];
const changed: number[] = [];
for (let c = 0; c < Number(values.changes); c++) {
  const p = podObject((c * 7919) % size.pods, size);
  const ip = `10.250.${c >> 8}.${c & 255}`;
  pods.set(`${p.metadata.namespace}/${p.metadata.name}`, { ...p, status: { ...p.status, podIP: ip, podIPs: [{ ip }] } });
  let t = performance.now();
  const next = buildModel(current, options);
  rebuild.push(performance.now() - t);
  t = performance.now();
  const d = diffGenerations(model.resources, next.resources);
  diff.push(performance.now() - t);
  changed.push(d.changed.length + d.removed.length);
  model = next;
}
const result = {
  size,
  resources: model.resources.size,
  firstFullBuildMs: ms(full[0] ?? NaN),
  fullBuildP50Ms: ms(percentile(full.slice(4), 50)), fullBuildP90Ms: ms(percentile(full.slice(4), 90)),
  rebuildP50Ms: ms(percentile(rebuild, 50)), rebuildP99Ms: ms(percentile(rebuild, 99)),
  diffP50Ms: ms(percentile(diff, 50)), diffP99Ms: ms(percentile(diff, 99)),
  changedPerRebuildMax: Math.max(...changed),
};
console.log(JSON.stringify(result));
