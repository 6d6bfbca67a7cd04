import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionBudget, type Release } from './connection-budget.ts';

test('slots up to the maximum are given at once; past it a connection waits for one to close, first come first served', async () => {
  let waits = 0;
  const budget = new ConnectionBudget(2, () => { waits++; });
  const a = await budget.acquire();
  const b = await budget.acquire();
  assert.equal(budget.open, 2);
  const order: string[] = [];
  const c = budget.acquire().then((r) => { order.push('c'); return r; });
  const d = budget.acquire().then((r) => { order.push('d'); return r; });
  assert.equal(budget.waiting, 2);
  assert.equal(waits, 2, 'each wait is announced');
  a();
  const rc = await c;
  assert.deepEqual(order, ['c']);
  assert.equal(budget.open, 2, 'the slot passed on, never more than the maximum');
  b();
  const rd = await d;
  assert.deepEqual(order, ['c', 'd']);
  rc();
  rd();
  assert.equal(budget.open, 0);
  assert.equal(budget.waiting, 0);
});

test('a release frees its slot once, however often it is called', async () => {
  const budget = new ConnectionBudget(1);
  const a = await budget.acquire();
  a();
  a();
  assert.equal(budget.open, 0);
  const b = await budget.acquire();
  const c = budget.acquire();
  b();
  b();
  assert.equal(budget.open, 1);
  (await c)();
  assert.equal(budget.open, 0);
});

test('under churn the number holding a slot never passes the maximum and every connection gets one', async () => {
  const budget = new ConnectionBudget(3);
  let holding = 0;
  let peak = 0;
  const one = async (): Promise<void> => {
    const release: Release = await budget.acquire();
    holding++;
    peak = Math.max(peak, holding);
    await new Promise((r) => setImmediate(r));
    holding--;
    release();
  };
  await Promise.all(Array.from({ length: 50 }, one));
  assert.equal(peak, 3);
  assert.equal(budget.open, 0);
});
