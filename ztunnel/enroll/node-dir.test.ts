// The node folder end to end on real files (no root): what a CNI plugin writes, what ztunnel's
// watch reads and answers, and the marker that makes pod creation wait for the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import {
  nodeDirServed, readNodeDir, recordFileName, removeNodePod, waitForAck, writeNodeNamespace, writeNodePod,
} from '#ztunnel/enroll/node-dir.ts';
import type { NodePod } from '#ztunnel/enroll/node-pods.ts';
import { NodeDirWatch } from '#ztunnel/enroll/node-watch.ts';

const pod = (uid: string, ip: string): NodePod => ({
  uid, namespace: 'shop', name: `p-${ip.split('.').at(-1) ?? ''}`, ip, netnsPath: `/var/run/netns/${uid}`, labels: { app: 'x' }, serviceAccount: 'default',
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('file names never escape the folder or hide', () => {
  assert.equal(recordFileName('1f0c-uid'), '1f0c-uid.json');
  assert.equal(recordFileName('Kubernetes//Pod/shop/echo'), 'Kubernetes%2F%2FPod%2Fshop%2Fecho.json');
  assert.equal(recordFileName('..'), '%2E..json');
});

test('records round-trip; bad files are reported and skipped; temp files are ignored', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-node-dir-'));
  try {
    await writeNodePod(dir, pod('a', '10.0.1.2'));
    await writeNodeNamespace(dir, { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } });
    await writeFile(join(dir, 'pods', 'broken.json'), '{"uid":');
    await writeFile(join(dir, 'pods', 'wrong.json'), JSON.stringify({ uid: 'w', namespace: 'shop', name: 'w', ip: 'nope', netnsPath: '/x' }));
    await writeFile(join(dir, 'pods', '.half.json.1234.tmp'), '{');
    const c = await readNodeDir(dir);
    assert.deepEqual(c.pods, [pod('a', '10.0.1.2')]);
    assert.deepEqual(c.namespaces.get('shop')?.labels, { 'istio.io/dataplane-mode': 'ambient' });
    assert.deepEqual(c.problems.map((p) => p.file.split('/').at(-1)).sort(), ['broken.json', 'wrong.json']);
    assert.match(c.problems.find((p) => p.file.endsWith('wrong.json'))?.reason ?? '', /IPv4/);
    assert.deepEqual((await readNodeDir(join(dir, 'missing'))).pods, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the watch takes the node, follows records, writes and drops acks, and gives the node up only when leaving', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-node-watch-'));
  try {
    assert.equal(await nodeDirServed(dir), false);
    await writeNodePod(dir, pod('a', '10.0.1.2'));
    const w = await NodeDirWatch.open({ dir, node: 'node1', logger: silentLogger, rescanMs: 60_000, debounceMs: 5 });
    let changes = 0;
    w.onChange(() => changes++);
    assert.equal(await nodeDirServed(dir), true);
    assert.deepEqual(w.pods().map((p) => p.uid), ['a']);
    assert.equal(w.namespaceLabels('shop'), undefined);

    await writeNodePod(dir, pod('b', '10.0.1.3'));
    await until('the new pod', () => w.pods().length === 2);
    await writeNodeNamespace(dir, { name: 'shop', labels: { team: 'x' } });
    await until('the namespace', () => w.namespaceLabels('shop')?.['team'] === 'x');
    assert.ok(changes >= 2);

    // Whoever created pod b waits for its ack.
    const waiting = waitForAck(dir, 'b', 2000, { pollMs: 5 });
    await w.syncAcks([{ uid: 'a', captured: true, reason: 'r1' }, { uid: 'b', captured: false, reason: 'namespace shop is not ambient' }]);
    assert.deepEqual(await waiting, { uid: 'b', captured: false, reason: 'namespace shop is not ambient' });
    assert.equal(await waitForAck(dir, 'nobody', 30, { pollMs: 5 }), undefined);
    assert.equal(await waitForAck(dir, 'nobody', 60_000, { givenUp: () => true }), undefined);

    await removeNodePod(dir, 'b');
    await until('the pod to go', () => w.pods().length === 1);
    await w.syncAcks([{ uid: 'a', captured: true, reason: 'r1' }]);
    assert.deepEqual(await readdir(join(dir, 'acks')), [recordFileName('a')]);

    await w.close();
    assert.equal(await nodeDirServed(dir), true, 'a ztunnel that stops without leaving keeps the node');
    const again = await NodeDirWatch.open({ dir, node: 'node1', logger: silentLogger, rescanMs: 60_000 });
    await again.close({ leaving: true });
    assert.equal(await nodeDirServed(dir), false);
    assert.deepEqual(await readdir(join(dir, 'acks')), [], 'a ztunnel leaving the node withdraws its acks');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
