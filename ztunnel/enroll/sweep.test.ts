// The sweep rules as a table, the ledger's folder, and a restart of the enroller against fake
// capture (no namespaces, no root): pods still wanted are adopted without a second install,
// the pod that left while no enroller ran is swept, and nothing is swept before config.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { Enroller, type CaptureOps } from '#ztunnel/enroll/enroller.ts';
import { DirLedger, type CapturedRecord } from '#ztunnel/enroll/ledger.ts';
import { planSweep } from '#ztunnel/enroll/sweep.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { wl, workload } from '#ztunnel/state/testing.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

const rec = (uid: string, netnsPath: string, netnsId: number | undefined): CapturedRecord => ({ uid, ip: '10.0.0.1', netnsPath, netnsId });

test('planSweep sweeps only records nobody stands behind whose namespace is still theirs', () => {
  const records = [rec('kept', '/ns/a', 1), rec('gone', '/ns/b', 2), rec('left', '/ns/c', 3), rec('renamed', '/ns/d', 4), rec('shared', '/ns/e', 5), rec('unknown', '/ns/f', undefined)];
  const plan = planSweep({
    records,
    keep: new Set(['kept']),
    inUse: new Set([5]),
    now: new Map<string, number | undefined>([['/ns/a', 1], ['/ns/b', undefined], ['/ns/c', 3], ['/ns/d', 40], ['/ns/e', 5], ['/ns/f', 6]]),
  });
  assert.deepEqual(plan.sweep.map((r) => r.uid), ['left']);
  assert.deepEqual(plan.forget.map((r) => r.uid), ['gone', 'renamed', 'shared', 'unknown']);
});

test('the ledger keeps records across opens and drops unreadable ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ledger-'));
  dirs.push(dir);
  const a = await DirLedger.open(dir, silentLogger);
  await a.put(rec('ns/pod a', '/ns/a', 1));
  await a.put(rec('b', '/ns/b', 2));
  await a.remove('b');
  await writeFile(join(dir, 'captured', 'junk.json'), '{');
  const b = await DirLedger.open(dir, silentLogger);
  assert.deepEqual(b.records(), [rec('ns/pod a', '/ns/a', 1)]);
  assert.deepEqual((await readdir(join(dir, 'captured'))).sort(), ['ns%2Fpod%20a.json']);
});

test('a restarted enroller adopts the pods still wanted and sweeps the one that left meanwhile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ledger-'));
  dirs.push(dir);
  const installed = new Set<string>();
  const calls: string[] = [];
  const where = new Map([['10.0.1.1', '/ns/one'], ['10.0.1.2', '/ns/two']]);
  const inodes = new Map([['/ns/one', 11], ['/ns/two', 12]]);
  const capture: CaptureOps = {
    async installCapture(p) { calls.push(`install ${p}`); installed.add(p); },
    async removeCapture(p) { calls.push(`remove ${p}`); installed.delete(p); },
    async captureInstalled(p) { return installed.has(p); },
    async findPodNetns({ ip }) { return where.get(ip); },
  };
  const one = workload({ name: 'one', addresses: ['10.0.1.1'] });
  const two = workload({ name: 'two', addresses: ['10.0.1.2'] });
  const start = async (state: ProxyState) => {
    const enroller = new Enroller({
      node: 'node1', state, capture, logger: silentLogger, retryMs: 60_000, ledger: await DirLedger.open(dir, silentLogger),
      netnsId: async (p) => inodes.get(p),
      openListeners: async () => ({ close: async () => undefined }),
    });
    await enroller.start();
    return enroller;
  };

  const first = new ProxyState();
  first.applyUpdate({ snapshot: true, version: '1', updated: [wl(one), wl(two)], removed: [] });
  const e1 = await start(first);
  assert.deepEqual(calls, ['install /ns/one', 'install /ns/two']);
  await e1.close();
  assert.deepEqual([...installed].sort(), ['/ns/one', '/ns/two'], 'capture stays while no enroller runs');

  // Pod two leaves the mesh while nothing runs; the next enroller has no config at first.
  calls.length = 0;
  const second = new ProxyState();
  const e2 = await start(second);
  try {
    assert.deepEqual(calls, [], 'nothing is swept before config arrives');
    second.applyUpdate({ snapshot: true, version: '2', updated: [wl(one)], removed: [] });
    await e2.settled();
    assert.deepEqual(calls, ['remove /ns/two'], 'pod one adopted without a second install; pod two swept');
    assert.deepEqual(e2.pods().map((p) => [p.uid, p.adopted]), [[one.uid, true]]);
    assert.equal(e2.swept, 1);
    assert.deepEqual((await DirLedger.open(dir, silentLogger)).records().map((r) => r.uid), [one.uid]);
  } finally {
    await e2.close();
  }
});
