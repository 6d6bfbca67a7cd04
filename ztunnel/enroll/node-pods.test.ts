import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFor, decideNodePod, parseNodeNamespace, parseNodePod, planNodeCapture, sameHold, type NodePod, type RecordOutcome,
} from '#ztunnel/enroll/node-pods.ts';

const pod = (p: Partial<NodePod> = {}): NodePod => ({
  uid: 'u1', namespace: 'shop', name: 'echo', ip: '10.0.1.5', netnsPath: '/var/run/netns/shop.echo', labels: {}, serviceAccount: 'default', ...p,
});

test('pod records: valid ones parse (serviceAccount and labels default), others say why', () => {
  assert.deepEqual(parseNodePod({ uid: 'u1', namespace: 'shop', name: 'echo', ip: '10.0.1.5', netnsPath: '/var/run/netns/shop.echo' }), pod());
  assert.deepEqual(parseNodePod({ ...pod(), labels: { app: 'echo' }, serviceAccount: 'echo' }), pod({ labels: { app: 'echo' }, serviceAccount: 'echo' }));
  const rows: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ ...pod(), uid: '' }, /uid/],
    [{ ...pod(), namespace: 'Shop' }, /namespace/],
    [{ ...pod(), name: 3 }, /name/],
    [{ ...pod(), ip: 'fd00::1' }, /IPv4/],
    [{ ...pod(), ip: undefined }, /IPv4/],
    [{ ...pod(), netnsPath: 'netns/x' }, /absolute/],
    [{ ...pod(), labels: { a: 1 } }, /labels/],
    [{ ...pod(), labels: 'a=b' }, /labels/],
    [{ ...pod(), serviceAccount: '' }, /serviceAccount/],
  ];
  for (const [input, re] of rows) {
    const r = parseNodePod(input);
    assert.equal(typeof r, 'string', JSON.stringify(input));
    assert.match(r as string, re);
  }
});

test('namespace records', () => {
  assert.deepEqual(parseNodeNamespace({ name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } }), { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } });
  assert.deepEqual(parseNodeNamespace({ name: 'shop' }), { name: 'shop', labels: {} });
  assert.match(parseNodeNamespace({ name: 'a/b' }) as string, /DNS label/);
  assert.match(parseNodeNamespace({ name: 'a', labels: [] }) as string, /labels/);
});

test('capture decision: pod label first, then the namespace; unknown namespaces are not ambient', () => {
  const ambient = { 'istio.io/dataplane-mode': 'ambient' };
  const rows: [string, NodePod, Record<string, string> | undefined, boolean, RegExp][] = [
    ['ambient namespace', pod(), ambient, true, /namespace shop is ambient/],
    ['plain namespace', pod(), { team: 'a' }, false, /not ambient/],
    ['unknown namespace', pod(), undefined, false, /not known on this node/],
    ['pod opts out', pod({ labels: { 'istio.io/dataplane-mode': 'none' } }), ambient, false, /opts out/],
    ['pod opts in', pod({ labels: { 'istio.io/dataplane-mode': 'ambient' } }), undefined, true, /pod is labelled/],
    ['other label values follow the namespace', pod({ labels: { 'istio.io/dataplane-mode': 'x' } }), ambient, true, /namespace/],
  ];
  for (const [name, p, ns, capture, re] of rows) {
    const d = decideNodePod(p, ns);
    assert.equal(d.capture, capture, name);
    assert.match(d.reason, re, name);
  }
});

test('plan: config-listed pods are left to the config; the rest are held or skipped', () => {
  const records = [
    pod({ uid: 'listed' }),
    pod({ uid: 'new', ip: '10.0.1.6' }),
    pod({ uid: 'legacy', namespace: 'legacy' }),
    pod({ uid: 'out', labels: { 'istio.io/dataplane-mode': 'none' } }),
  ];
  const labels = (ns: string): Record<string, string> | undefined => (ns === 'shop' ? { 'istio.io/dataplane-mode': 'ambient' } : ns === 'legacy' ? {} : undefined);
  const plan = planNodeCapture(records, labels, (uid) => uid === 'listed');
  assert.deepEqual([...plan.hold.values()], [{ uid: 'new', namespace: 'shop', name: 'echo', ip: '10.0.1.6', netnsPath: '/var/run/netns/shop.echo' }]);
  assert.deepEqual([...plan.skip.keys()], ['legacy', 'out']);
  const h = plan.hold.get('new')!;
  assert.equal(sameHold(h, { ...h }), true);
  assert.equal(sameHold(h, { ...h, netnsPath: '/proc/1/ns/net' }), false);
  assert.equal(sameHold(h, { ...h, ip: '10.0.1.7' }), false);
});

test('acks: a definite answer, or none while the pod is still on its way', () => {
  const base: RecordOutcome = { enrolled: false, held: false, configOut: false, skipped: undefined };
  const rows: [string, RecordOutcome, boolean | undefined, RegExp?][] = [
    ['enrolled', { ...base, enrolled: true }, true, /proxied/],
    ['held', { ...base, held: true }, true, /fail closed/],
    ['config says out', { ...base, configOut: true }, false, /config/],
    ['skipped by the node', { ...base, skipped: 'namespace x is not ambient' }, false, /not ambient/],
    ['pending', base, undefined],
  ];
  for (const [name, o, captured, re] of rows) {
    const a = ackFor('u', o);
    assert.equal(a?.captured, captured, name);
    if (re !== undefined) assert.match(a?.reason ?? '', re, name);
  }
});
