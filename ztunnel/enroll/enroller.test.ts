// The enroller with the node's own pod records, against fake capture, listeners and node
// source (no namespaces, no root): held pods fail closed and keep their capture when their
// config arrives, pods the config drops go back to failing closed, and every recorded pod
// gets the right ack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '#core/log.ts';
import { Enroller, type CaptureOps, type NodePodSource } from '#ztunnel/enroll/enroller.ts';
import type { CaptureAck, NodeNamespace, NodePod } from '#ztunnel/enroll/node-pods.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { wl, workload } from '#ztunnel/state/testing.ts';

const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

class FakeNode implements NodePodSource {
  records: NodePod[] = [];
  namespaces = new Map<string, NodeNamespace>();
  acks = new Map<string, CaptureAck>();
  readonly #listeners = new Set<() => void>();
  pods(): readonly NodePod[] { return this.records; }
  namespaceLabels(name: string): Readonly<Record<string, string>> | undefined { return this.namespaces.get(name)?.labels; }
  onChange(l: () => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  async syncAcks(acks: readonly CaptureAck[]): Promise<void> { this.acks = new Map(acks.map((a) => [a.uid, a])); }
  changed(): void { for (const l of this.#listeners) l(); }
}

/** Capture as a set of namespace paths, with a log of what was done. */
function fakeCapture(): CaptureOps & { installed: Set<string>; calls: string[] } {
  const installed = new Set<string>();
  const calls: string[] = [];
  return {
    installed, calls,
    async installCapture(p) { calls.push(`install ${p}`); installed.add(p); },
    async removeCapture(p) { calls.push(`remove ${p}`); installed.delete(p); },
    async captureInstalled(p) { return installed.has(p); },
    async findPodNetns({ ip }) { calls.push(`find ${ip}`); return undefined; },
  };
}

function setup() {
  const state = new ProxyState();
  const node = new FakeNode();
  const capture = fakeCapture();
  const open = { serving: new Set<string>(), refusing: new Set<string>(), events: [] as string[] };
  const enroller = new Enroller({
    node: 'node1', state, capture, logger: silentLogger, nodePods: node, retryMs: 60_000, netnsId: async () => 1,
    openListeners: async (pod) => {
      open.serving.add(pod.netnsPath);
      open.events.push(`serving open ${pod.netnsPath}`);
      return { close: async () => { open.serving.delete(pod.netnsPath); } };
    },
    openRefusingListeners: async (pod) => {
      open.refusing.add(pod.netnsPath);
      return {
        close: async () => {
          open.refusing.delete(pod.netnsPath);
          open.events.push(`refusing closed ${pod.netnsPath}`);
        },
      };
    },
    onPromoted: (pod) => open.events.push(`promoted ${pod.netnsPath}`),
  });
  let version = 0;
  const config = async (...ws: ReturnType<typeof workload>[]): Promise<void> => {
    state.applyUpdate({ snapshot: true, version: ++version, updated: ws.map(wl), removed: [] });
    await enroller.settled();
  };
  const report = async (): Promise<void> => {
    node.changed();
    await enroller.settled();
  };
  return { state, node, capture, open, enroller, config, report };
}

const record = (p: Partial<NodePod> = {}): NodePod => ({
  uid: 'uid-shop-echo', namespace: 'shop', name: 'echo', ip: '10.0.1.5', netnsPath: '/ns/echo', labels: {}, serviceAccount: 'echo', ...p,
});
const echoWorkload = (p: Partial<ReturnType<typeof workload>> = {}) =>
  workload({ name: 'echo', namespace: 'shop', addresses: ['10.0.1.5'], serviceAccount: 'echo', ...p });

test('a pod the node reports is captured at once and fails closed until its config arrives; capture is kept on promotion', async () => {
  const t = setup();
  t.node.namespaces.set('shop', { name: 'shop', labels: AMBIENT });
  t.node.records = [record()];
  await t.enroller.start();
  try {
    assert.deepEqual(t.enroller.failClosed().map((p) => [p.uid, p.ip]), [['uid-shop-echo', '10.0.1.5']]);
    assert.deepEqual(t.enroller.pods(), []);
    assert.ok(t.capture.installed.has('/ns/echo'));
    assert.deepEqual([...t.open.refusing], ['/ns/echo']);
    assert.equal(t.node.acks.get('uid-shop-echo')?.captured, true);
    assert.match(t.node.acks.get('uid-shop-echo')?.reason ?? '', /fail closed/);

    await t.config(echoWorkload());
    assert.deepEqual(t.enroller.failClosed(), []);
    assert.deepEqual(t.enroller.pods().map((p) => [p.uid, p.netnsPath, p.adopted]), [['uid-shop-echo', '/ns/echo', true]]);
    assert.deepEqual([...t.open.refusing], []);
    assert.deepEqual([...t.open.serving], ['/ns/echo']);
    // Serving listeners bind beside the refusing ones before those close: 15001 is never unbound,
    // and held connections are handed over only once nothing can join the hold any more.
    assert.deepEqual(t.open.events, ['serving open /ns/echo', 'refusing closed /ns/echo', 'promoted /ns/echo']);
    assert.ok(!t.capture.calls.includes('remove /ns/echo'), 'capture stays through the hand-over');
    assert.ok(!t.capture.calls.some((c) => c.startsWith('find ')), 'the node record names the namespace: no search');
    assert.match(t.node.acks.get('uid-shop-echo')?.reason ?? '', /enrolled/);

    // The config drops it while the node still runs it: back to failing closed, capture kept.
    await t.config();
    assert.deepEqual(t.enroller.pods(), []);
    assert.equal(t.enroller.failClosed().length, 1);
    assert.ok(!t.capture.calls.includes('remove /ns/echo'));

    // The pod is deleted: its capture and ack go.
    t.node.records = [];
    await t.report();
    assert.deepEqual(t.enroller.failClosed(), []);
    assert.ok(t.capture.calls.includes('remove /ns/echo'));
    assert.deepEqual([...t.open.refusing], []);
    assert.equal(t.node.acks.size, 0);
  } finally {
    await t.enroller.close();
  }
});

test('namespace labels decide for pods the config does not list; the config decides for those it does', async () => {
  const t = setup();
  t.node.namespaces.set('legacy', { name: 'legacy', labels: {} });
  t.node.records = [
    record({ uid: 'plain', namespace: 'legacy', name: 'plain', ip: '10.0.1.6', netnsPath: '/ns/plain' }),
    record({ uid: 'optin', namespace: 'legacy', name: 'optin', ip: '10.0.1.7', netnsPath: '/ns/optin', labels: AMBIENT }),
    record({ uid: 'nons', namespace: 'unknown', name: 'nons', ip: '10.0.1.8', netnsPath: '/ns/nons' }),
  ];
  await t.enroller.start();
  try {
    assert.deepEqual(t.enroller.failClosed().map((p) => p.uid), ['optin']);
    assert.deepEqual([...t.node.acks.values()].map((a) => [a.uid, a.captured]).sort(), [['nons', false], ['optin', true], ['plain', false]]);
    assert.match(t.node.acks.get('nons')?.reason ?? '', /not known/);

    // The namespace joins the mesh: its pods are captured too.
    t.node.namespaces.set('legacy', { name: 'legacy', labels: AMBIENT });
    await t.report();
    assert.deepEqual(t.enroller.failClosed().map((p) => p.uid).sort(), ['optin', 'plain']);

    // The config says these pods are not in the mesh: it wins, and their capture goes.
    await t.config(
      workload({ uid: 'plain', name: 'plain', namespace: 'legacy', addresses: ['10.0.1.6'], tunnelProtocol: 'NONE' }),
      workload({ uid: 'optin', name: 'optin', namespace: 'legacy', addresses: ['10.0.1.7'], tunnelProtocol: 'NONE' }),
    );
    assert.deepEqual(t.enroller.failClosed(), []);
    assert.ok(t.capture.calls.includes('remove /ns/plain') && t.capture.calls.includes('remove /ns/optin'));
    assert.equal(t.node.acks.get('plain')?.captured, false);
    assert.match(t.node.acks.get('plain')?.reason ?? '', /config/);
  } finally {
    await t.enroller.close();
  }
});

test('a config target is never enrolled into a namespace the node records for another pod at its address', async () => {
  const t = setup();
  t.node.namespaces.set('shop', { name: 'shop', labels: AMBIENT });
  // The config still lists a deleted pod; a new pod got its address.
  t.node.records = [record({ uid: 'newcomer', name: 'newcomer', netnsPath: '/ns/newcomer' })];
  await t.enroller.start();
  try {
    await t.config(echoWorkload({ uid: 'departed', name: 'departed' }));
    assert.deepEqual(t.enroller.pods(), []);
    assert.deepEqual(t.enroller.failClosed().map((p) => p.uid), ['newcomer']);
    const pending = t.enroller.pending().find((p) => p.uid === 'departed');
    assert.match(pending?.reason ?? '', /belongs to pod shop\/newcomer/);
    assert.ok(!t.capture.calls.some((c) => c.startsWith('find ')));
  } finally {
    await t.enroller.close();
  }
});

test('close leaves capture in place unless asked; refusing listeners close either way', async () => {
  const t = setup();
  t.node.namespaces.set('shop', { name: 'shop', labels: AMBIENT });
  t.node.records = [record()];
  await t.enroller.start();
  await t.enroller.close();
  assert.deepEqual([...t.open.refusing], []);
  assert.ok(t.capture.installed.has('/ns/echo'));

  const u = setup();
  u.node.namespaces.set('shop', { name: 'shop', labels: AMBIENT });
  u.node.records = [record()];
  await u.enroller.start();
  await u.enroller.close({ removeCapture: true });
  assert.ok(!u.capture.installed.has('/ns/echo'));
});
