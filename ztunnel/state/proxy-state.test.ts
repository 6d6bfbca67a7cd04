import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyState, type StateChange } from '#ztunnel/state/proxy-state.ts';
import { applyConfigFile } from '#ztunnel/state/load-file.ts';
import { authz, policy, service, svc, wl, workload } from '#ztunnel/state/testing.ts';

const a = workload({ name: 'a', addresses: ['10.0.1.2'], services: { 'default/echo.default.svc.cluster.local': { '80': 8080 } } });
const b = workload({ name: 'b', namespace: 'other', addresses: ['10.0.2.2'], authorizationPolicies: ['other/sel'] });
const echo = service({ name: 'echo', addresses: ['10.96.0.10'] });

test('applies a snapshot and indexes by uid, address, key and VIP', () => {
  const s = new ProxyState();
  assert.equal(s.hasConfig, false);
  const { rejected } = s.applyUpdate({ snapshot: true, version: 1, updated: [wl(a), wl(b), svc(echo)], removed: [] });
  assert.deepEqual(rejected, []);
  assert.equal(s.hasConfig, true);
  assert.equal(s.version, '1');
  assert.deepEqual(s.workload(a.uid), a);
  assert.deepEqual(s.workloadByAddress('10.0.2.2'), b);
  assert.deepEqual(s.serviceByVip('10.96.0.10'), echo);
  assert.deepEqual(s.service('default/echo.default.svc.cluster.local'), echo);
  assert.deepEqual(s.endpointsOf("default/echo.default.svc.cluster.local"), [a]);
});

test('rejects malformed resources and keeps the valid ones (the NACK list)', () => {
  const s = new ProxyState();
  const bad = { kind: 'workload', key: 'x', value: { ...a, uid: 'x', addresses: ['not-an-ip'] } };
  const badKey = { kind: 'service', key: 'wrong', value: echo };
  const custom = { kind: 'authorization', key: 'default/c', value: { ...policy({ name: 'c' }), action: 'CUSTOM' } };
  const unknown = { kind: 'gateway', key: 'g', value: {} };
  const { rejected } = s.applyUpdate({ snapshot: false, version: 'v2', updated: [bad, badKey, custom, unknown, wl(b)], removed: [] });
  assert.deepEqual(rejected.map((r) => [r.kind, r.key]), [['workload', 'x'], ['service', 'wrong'], ['authorization', 'default/c'], ['gateway', 'g']]);
  assert.match(rejected[0]?.reason ?? '', /addresses/);
  assert.match(rejected[1]?.reason ?? '', /key: must equal/);
  assert.match(rejected[2]?.reason ?? '', /action/);
  assert.deepEqual(s.workload(b.uid), b);
  assert.equal(s.workload('x'), undefined);
});

test('deltas update and remove; a snapshot drops what it does not list', () => {
  const s = new ProxyState();
  s.applyUpdate({ snapshot: true, version: 1, updated: [wl(a), wl(b), svc(echo)], removed: [] });
  const moved = { ...a, addresses: ['10.0.1.9'] };
  s.applyUpdate({ snapshot: false, version: 2, updated: [wl(moved)], removed: [{ kind: 'workload', key: b.uid }] });
  assert.equal(s.workloadByAddress('10.0.1.2'), undefined);
  assert.deepEqual(s.workloadByAddress('10.0.1.9'), moved);
  assert.equal(s.workload(b.uid), undefined);
  s.applyUpdate({ snapshot: true, version: 3, updated: [svc(echo)], removed: [] });
  assert.deepEqual(s.workloads(), []);
  assert.deepEqual(s.endpointsOf('default/echo.default.svc.cluster.local'), []);
  assert.deepEqual(s.serviceByVip('10.96.0.10'), echo);
});

test('IP reuse: removing the old owner keeps the new owner indexed', () => {
  const s = new ProxyState();
  const newer = workload({ name: 'c', addresses: ['10.0.1.2'] });
  s.applyUpdate({ snapshot: true, version: 1, updated: [wl(a), wl(newer)], removed: [] });
  s.applyUpdate({ snapshot: false, version: 2, updated: [], removed: [{ kind: 'workload', key: a.uid }] });
  assert.deepEqual(s.workloadByAddress('10.0.1.2'), newer);
});

test('policy selection: global, own namespace, and selected by the workload', () => {
  const s = new ProxyState();
  const g = policy({ name: 'g', namespace: 'istio-system', scope: 'GLOBAL' });
  const nsOther = policy({ name: 'ns', namespace: 'other' });
  const nsDefault = policy({ name: 'ns', namespace: 'default' });
  const sel = policy({ name: 'sel', namespace: 'other', scope: 'WORKLOAD_SELECTOR' });
  const selUnused = policy({ name: 'unused', namespace: 'other', scope: 'WORKLOAD_SELECTOR' });
  s.applyUpdate({ snapshot: true, version: 1, updated: [g, nsOther, nsDefault, sel, selUnused].map(authz), removed: [] });
  assert.deepEqual(s.policiesFor(b).map((p) => `${p.namespace}/${p.name}`).sort(), ['istio-system/g', 'other/ns', 'other/sel']);
  assert.deepEqual(s.policiesFor(a).map((p) => `${p.namespace}/${p.name}`).sort(), ['default/ns', 'istio-system/g']);
});

test('listeners see each applied change', () => {
  const s = new ProxyState();
  const seen: StateChange[] = [];
  const off = s.onChange((c) => seen.push(c));
  s.applyUpdate({ snapshot: true, version: 1, updated: [wl(a)], removed: [] });
  s.applyUpdate({ snapshot: true, version: 2, updated: [], removed: [] });
  off();
  s.applyUpdate({ snapshot: true, version: 3, updated: [wl(a)], removed: [] });
  assert.deepEqual(seen, [
    { version: '1', updated: [{ kind: 'workload', key: a.uid }], removed: [] },
    { version: '2', updated: [], removed: [{ kind: 'workload', key: a.uid }] },
  ]);
});

test('loads a local config file as a snapshot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-state-'));
  try {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ resources: [wl(a), svc(echo), { kind: 'workload', key: 'bad', value: {} }] }));
    const s = new ProxyState();
    const rejected = await applyConfigFile(s, file);
    assert.deepEqual(rejected.map((r) => r.key), ['bad']);
    assert.equal(s.workload(a.uid)?.name, 'a');
    await writeFile(file, '{"nope": 1}');
    await assert.rejects(applyConfigFile(s, file), /no "resources" list/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
