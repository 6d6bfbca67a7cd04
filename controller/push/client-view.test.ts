import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '#core/config/model.ts';
import { authorizationResource, sampleAuthorization, sampleWorkload, workloadResource } from '#core/config/testing.ts';
import { diffGenerations } from '#controller/model/generation.ts';
import { ViewIndex } from '#controller/model/view-index.ts';
import { ChangeLog } from './change-log.ts';
import { ClientView, diffClientViews } from './client-view.ts';
import type { View } from './diff.ts';

// A small deterministic generator (LCG), so failures reproduce.
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

function randomGeneration(next: () => number): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (let i = 0; i < 12; i++) {
    if (next() < 0.25) continue;
    const node = `n${Math.floor(next() * 3)}`;
    const w = workloadResource(sampleWorkload({
      uid: `w${i}`, node, namespace: next() < 0.5 ? 'a' : 'b', addresses: [`10.0.0.${Math.floor(next() * 3)}`],
      authorizationPolicies: next() < 0.3 ? ['a/sel'] : [],
    }));
    out.set(`workload/w${i}`, w);
  }
  const policies: [string, 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR', string][] = [['global', 'GLOBAL', 'istio-system'], ['ns', 'NAMESPACE', 'b'], ['sel', 'WORKLOAD_SELECTOR', 'a']];
  for (const [name, scope, namespace] of policies) {
    if (next() < 0.3) continue;
    const a = authorizationResource(sampleAuthorization({ name, scope, namespace, dryRun: next() < 0.5 }));
    out.set(`authorization/${a.key}`, a);
  }
  return out;
}

function materialize(v: ClientView): Map<string, Resource> {
  return new Map([...v.resources()].map((r) => [`${r.kind}/${r.key}`, r]));
}

function apply(held: Map<string, Resource>, d: { updated: Resource[]; removed: { kind: string; key: string }[] }): Map<string, Resource> {
  const out = new Map(held);
  for (const r of d.removed) {
    assert.ok(out.delete(`${r.kind}/${r.key}`), `removed ${r.key} was held`);
  }
  for (const r of d.updated) out.set(`${r.kind}/${r.key}`, r);
  return out;
}

test('diffClientViews takes any held view to any later one, with and without the change log', () => {
  const next = rng(7);
  const log = new ChangeLog(4);
  const views: ClientView[][] = [];
  let previous: View | undefined;
  for (let g = 1; g <= 30; g++) {
    const change = diffGenerations(previous, randomGeneration(next));
    previous = change.resources;
    log.record(g, change);
    const index = new ViewIndex(change.resources);
    views.push(['n0', 'n1', 'n2'].map((node) => {
      const o = index.overlay({ kind: 'ztunnel', node });
      return new ClientView(g, index.resources, index.sharedSize, o.resources, o.signature);
    }));
    for (let back = 0; back < Math.min(g, 6); back++) {
      for (let node = 0; node < 3; node++) {
        const from = views[g - 1 - back]?.[node];
        const to = views[g - 1]?.[node];
        assert.ok(from !== undefined && to !== undefined);
        for (const useLog of [true, false]) {
          const d = diffClientViews(from, to, (since) => (useLog ? log.since(since) : undefined));
          assert.deepEqual(apply(materialize(from), d), materialize(to), `gen ${g - back}→${g} node n${node} log=${useLog}`);
          assert.ok(d.updated.every((r) => !materialize(from).has(`${r.kind}/${r.key}`) || materialize(from).get(`${r.kind}/${r.key}`) !== r), 'only what changed');
        }
      }
    }
  }
});

test('computed views (custom viewFor) diff as whole maps', () => {
  const w = workloadResource(sampleWorkload({ uid: 'x' }));
  const from = ClientView.computed(1, new Map([['workload/x', w]]));
  const to = ClientView.computed(2, new Map());
  assert.deepEqual(diffClientViews(from, to, () => undefined), { updated: [], removed: [{ kind: 'workload', key: 'x' }] });
  assert.equal(to.signature, '');
  assert.equal(from.signature, 'workload/x');
  assert.equal(from.size, 1);
});
