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
