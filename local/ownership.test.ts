import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// RUN_DIR is read when the module loads, so point it at a scratch folder first.
const dir = await mkdtemp(join(tmpdir(), 'weft-run-'));
process.env['WEFT_RUN_DIR'] = dir;
const own = await import('./ownership.ts');

test.after(() => rm(dir, { recursive: true, force: true }));

test('a live process is alive; a recycled pid with another start time is not', () => {
  const me = own.selfOwner();
  assert.ok(own.isAlive(me.pid, me.pidStart));
  assert.ok(!own.isAlive(me.pid, '1'));
  assert.ok(!own.isAlive(2 ** 22 + 1, me.pidStart));
});

test('a name is claimed once; indexes go lowest first and dead claims are taken over', async () => {
  const record = { name: 'c1', prefix: 'c1', ...own.selfOwner(), index: -1, manifestDir: null, startedAt: new Date(0).toISOString() };
  assert.equal(await own.claimName(record), true);
  assert.equal(await own.claimName(record), false);
  assert.deepEqual(await own.readOwner('c1'), record);
  assert.equal(await own.claimIndex('c1'), 0);
  assert.equal(await own.claimIndex('c2'), 1);
  // index 2 held by a process that is gone
  await writeFile(join(dir, 'index-2.json'), JSON.stringify({ name: 'dead', pid: 2 ** 22 + 1, pidStart: '5' }));
  assert.equal(await own.claimIndex('c3'), 2);
  await own.releaseIndexes('c1');
  assert.equal(await own.claimIndex('c4'), 0);
  assert.deepEqual((await own.listOwners()).map((o) => o.name), ['c1']);
  await own.releaseName('c1');
  assert.equal(await own.readOwner('c1'), undefined);
});
