import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enrollmentTargets, netnsVanished, planEnrollment, sameTarget } from '#ztunnel/enroll/plan.ts';
import { workload } from '#ztunnel/state/testing.ts';

test('targets: this node, HBONE, IPv4', () => {
  const ws = [
    workload({ name: 'a', addresses: ['10.0.1.2'], node: 'n1', serviceAccount: 'sa-a' }),
    workload({ name: 'b', addresses: ['10.0.1.3'], node: 'n2' }),
    workload({ name: 'c', addresses: ['10.0.1.4'], node: 'n1', tunnelProtocol: 'NONE' }),
    workload({ name: 'd', addresses: ['fd00::1'], node: 'n1' }),
    workload({ name: 'e', addresses: ['fd00::2', '10.0.1.6'], node: 'n1' }),
  ];
  const t = enrollmentTargets(ws, 'n1');
  assert.deepEqual([...t.values()], [
    { uid: 'uid-default-a', ip: '10.0.1.2', identity: 'spiffe://cluster.local/ns/default/sa/sa-a' },
    { uid: 'uid-default-e', ip: '10.0.1.6', identity: 'spiffe://cluster.local/ns/default/sa/default' },
  ]);
});

test('plan: enroll new, unenroll gone, re-enroll changed', () => {
  const t = (uid: string, ip: string, identity = 'id'): [string, { uid: string; ip: string; identity: string }] => [uid, { uid, ip, identity }];
  const current = new Map([t('keep', '1.1.1.1'), t('gone', '1.1.1.2'), t('moved', '1.1.1.3'), t('renamed', '1.1.1.4')]);
  const desired = new Map([t('keep', '1.1.1.1'), t('moved', '1.1.1.9'), t('renamed', '1.1.1.4', 'other'), t('new', '1.1.1.5')]);
  const plan = planEnrollment(current, desired);
  assert.deepEqual(plan.unenroll, ['gone', 'moved', 'renamed']);
  assert.deepEqual(plan.enroll.map((e) => e.uid), ['moved', 'renamed', 'new']);
  assert.deepEqual(planEnrollment(desired, desired), { enroll: [], unenroll: [] });
});

test('a namespace vanished when its path no longer names the one enrolled', () => {
  const rows: [number | undefined, number | undefined, boolean][] = [
    [100, 100, false],
    [100, undefined, true], // deleted
    [100, 101, true], // a new namespace under the same name
    [undefined, undefined, false], // never known: cannot tell
    [undefined, 5, false],
  ];
  for (const [at, now, want] of rows) assert.equal(netnsVanished(at, now), want, `${at} → ${now}`);
});

test('sameTarget compares address and identity', () => {
  const t = { uid: 'u', ip: '10.0.0.2', identity: 'spiffe://cluster.local/ns/a/sa/x' };
  assert.equal(sameTarget(t, { ...t }), true);
  assert.equal(sameTarget(t, { ...t, ip: '10.0.0.3' }), false);
  assert.equal(sameTarget(t, { ...t, identity: 'spiffe://cluster.local/ns/a/sa/y' }), false);
});
