import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatusStore } from '#controller/status/store.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

const cond = (status: 'True' | 'False', message = 'm'): ResourceCondition => ({ kind: 'AuthorizationPolicy', namespace: 'a', name: 'p', type: 'Accepted', status, reason: status === 'True' ? 'Accepted' : 'InvalidSpec', message });

test('conditions from the model, sources and NACKs; events only on change; transition times', () => {
  let t = 0;
  const store = new StatusStore({ now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t)) });
  let events = 0;
  store.onChange(() => events++);
  store.setModelConditions([cond('True')]);
  assert.equal(events, 1);
  store.setModelConditions([cond('True')]);
  assert.equal(events, 1, 'same conditions: no event');
  t = 5;
  store.setModelConditions([cond('True', 'other message')]);
  assert.equal(events, 2);
  assert.equal(store.list()[0]?.conditions[0]?.lastTransitionTime, '2026-01-01T00:00:00.000Z', 'a message change is no transition');
  t = 9;
  store.setModelConditions([cond('False')]);
  assert.equal(store.list()[0]?.conditions[0]?.lastTransitionTime, '2026-01-01T00:00:09.000Z');

  store.setSourceRejections([{ file: 'x.yaml', reason: 'document 0: not valid YAML' }, { file: 'y.yaml', kind: 'Pod', namespace: 'a', name: 'p', reason: 'bad' }]);
  store.recordNack({ kind: 'workload', key: 'uid-1' }, 'unknown field', 'ztunnel/node-1');
  const list = store.list();
  assert.deepEqual(list.map((o) => `${o.kind} ${o.namespace}/${o.name} ${o.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`).join(',')}`), [
    'AuthorizationPolicy a/p Accepted=False:InvalidSpec',
    'File /x.yaml Accepted=False:Invalid',
    'Pod a/p Accepted=False:Invalid',
    'workload /uid-1 Applied=False:Rejected',
  ]);
  assert.equal(list[3]?.conditions[0]?.message, 'ztunnel/node-1: unknown field');
  store.clearNack({ kind: 'workload', key: 'uid-1' });
  assert.equal(store.list().length, 3);
  store.setModelConditions([]);
  store.setSourceRejections([]);
  assert.deepEqual(store.list(), []);
});

test('writeLocal writes status.json', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-status-'));
  dirs.push(dir);
  const store = new StatusStore();
  store.setModelConditions([cond('True')]);
  const path = await store.writeLocal(join(dir, 'state'));
  const data = JSON.parse(await readFile(path, 'utf8')) as { objects: { name: string; conditions: { status: string }[] }[] };
  assert.equal(data.objects[0]?.name, 'p');
  assert.equal(data.objects[0].conditions[0]?.status, 'True');
});

test('a failure outranks a success of the same type from another origin; transition times follow the winner', () => {
  let t = 0;
  const store = new StatusStore({ now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t)) });
  const gw = (type: string, status: 'True' | 'False', reason: string): ResourceCondition => ({ kind: 'Gateway', namespace: 'shop', name: 'waypoint', type, status, reason, message: reason });
  const cases: { model: ResourceCondition[]; deploy: ResourceCondition[]; want: string[] }[] = [
    { model: [gw('Programmed', 'True', 'Programmed')], deploy: [gw('Programmed', 'False', 'ApplyFailed')], want: ['Programmed=False:ApplyFailed'] },
    { model: [gw('Programmed', 'False', 'AddressNotAssigned')], deploy: [gw('Programmed', 'False', 'ApplyFailed')], want: ['Programmed=False:ApplyFailed'] },
    { model: [gw('Accepted', 'False', 'InvalidWaypointFor')], deploy: [gw('Accepted', 'True', 'Accepted')], want: ['Accepted=False:InvalidWaypointFor'] },
    { model: [gw('Programmed', 'True', 'Programmed')], deploy: [gw('Accepted', 'True', 'Accepted')], want: ['Programmed=True:Programmed', 'Accepted=True:Accepted'] },
  ];
  for (const c of cases) {
    store.setModelConditions(c.model);
    store.setDeployConditions(c.deploy);
    assert.deepEqual(store.list()[0]?.conditions.map((x) => `${x.type}=${x.status}:${x.reason}`), c.want, JSON.stringify(c));
  }
  store.setModelConditions([gw('Programmed', 'True', 'Programmed')]);
  store.setDeployConditions([gw('Programmed', 'False', 'ApplyFailed')]);
  t = 7;
  // Both origins are re-sent (as every rebuild does): the winner did not change, nor its time.
  store.setModelConditions([gw('Programmed', 'True', 'Programmed')]);
  store.setDeployConditions([gw('Programmed', 'False', 'ApplyFailed')]);
  const before = store.list()[0]?.conditions[0]?.lastTransitionTime;
  assert.equal(before, '2026-01-01T00:00:00.000Z');
  store.setDeployConditions([]);
  assert.equal(store.list()[0]?.conditions[0]?.lastTransitionTime, '2026-01-01T00:00:07.000Z');
});

test('Gateway addresses are listed with the Gateway, alone or beside its conditions, and go when cleared', () => {
  const store = new StatusStore();
  let events = 0;
  store.onChange(() => events++);
  store.setGatewayAddresses(new Map([['shop/waypoint', [{ type: 'IPAddress', value: '10.96.0.20' }]]]));
  assert.deepEqual(store.list(), [{ kind: 'Gateway', namespace: 'shop', name: 'waypoint', conditions: [], addresses: [{ type: 'IPAddress', value: '10.96.0.20' }] }]);
  store.setGatewayAddresses(new Map([['shop/waypoint', [{ type: 'IPAddress', value: '10.96.0.20' }]]]));
  assert.equal(events, 1, 'same addresses: no event');
  store.setDeployConditions([{ kind: 'Gateway', namespace: 'shop', name: 'waypoint', type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm' }]);
  assert.equal(store.list()[0]?.conditions.length, 1);
  assert.equal(store.list()[0]?.addresses?.length, 1);
  store.setGatewayAddresses(new Map());
  assert.equal(store.list()[0]?.addresses, undefined);
});
