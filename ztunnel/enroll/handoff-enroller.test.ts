// The enroller's part in an upgrade hand-off, against fake capture and listeners (no
// namespaces, no root): frozen, it leaves config changes to the successor; resumed, it catches
// up; drained, every pod's listeners get the drain time and capture stays for the successor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '#core/log.ts';
import { Enroller, type CaptureOps } from '#ztunnel/enroll/enroller.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { wl, workload } from '#ztunnel/state/testing.ts';

test('freeze, unfreeze and drain', async () => {
  const calls: string[] = [];
  const installed = new Set<string>();
  const capture: CaptureOps = {
    async installCapture(p) { calls.push(`install ${p}`); installed.add(p); },
    async removeCapture(p) { calls.push(`remove ${p}`); installed.delete(p); },
    async captureInstalled(p) { return installed.has(p); },
    async findPodNetns({ ip }) { return `/ns/${ip}`; },
  };
  const state = new ProxyState();
  const enroller = new Enroller({
    node: 'node1', state, capture, logger: silentLogger, retryMs: 60_000, netnsId: async () => 1,
    openListeners: async (pod) => {
      calls.push(`listen ${pod.ip}`);
      return { close: async (drainMs) => { calls.push(`close ${pod.ip} drain=${drainMs ?? 0}`); } };
    },
  });
  const one = workload({ name: 'one', addresses: ['10.0.1.1'] });
  const two = workload({ name: 'two', addresses: ['10.0.1.2'] });
  state.applyUpdate({ snapshot: true, version: '1', updated: [wl(one)], removed: [] });
  await enroller.start();
  assert.deepEqual(calls, ['listen 10.0.1.1', 'install /ns/10.0.1.1']);

  await enroller.freeze();
  calls.length = 0;
  state.applyUpdate({ snapshot: true, version: '2', updated: [wl(two)], removed: [] });
  await enroller.settled();
  assert.deepEqual(calls, [], 'frozen: the successor acts on config');
  assert.deepEqual(enroller.pods().map((p) => p.ip), ['10.0.1.1']);

  enroller.unfreeze();
  await enroller.settled();
  assert.deepEqual(calls, ['remove /ns/10.0.1.1', 'close 10.0.1.1 drain=0', 'listen 10.0.1.2', 'install /ns/10.0.1.2']);

  calls.length = 0;
  await enroller.drain(7000);
  assert.deepEqual(calls, ['close 10.0.1.2 drain=7000'], 'listeners drain; capture stays');
  assert.deepEqual(enroller.pods(), []);
  state.applyUpdate({ snapshot: true, version: '3', updated: [wl(one)], removed: [] });
  await enroller.settled();
  assert.deepEqual(calls, ['close 10.0.1.2 drain=7000'], 'drained: nothing more');
  await enroller.close({ removeCapture: true });
  assert.deepEqual([...installed], ['/ns/10.0.1.2'], 'closing a drained enroller leaves capture alone');
});
