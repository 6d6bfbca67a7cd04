import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectMemo } from '#controller/model/object-memo.ts';

test('ObjectMemo: reuse for the same object and inputs; remake otherwise; forget what a build did not ask for', () => {
  let made = 0;
  const memo = new ObjectMemo<{ v: number }, string, { v: number; input: string }>((a, b) => a === b, (o, input) => {
    made++;
    return { v: o.v, input };
  });
  const a = { v: 1 };
  const b = { v: 2 };
  memo.begin();
  const ra = memo.get('a', a, 'x', undefined);
  memo.get('b', b, 'x', undefined);
  memo.end();
  assert.equal(made, 2);

  const cases: { name: string; key: string; object: { v: number }; input: string; reused: boolean }[] = [
    { name: 'same object, same inputs', key: 'a', object: a, input: 'x', reused: true },
    { name: 'same key, equal content but a new object', key: 'a', object: { v: 1 }, input: 'x', reused: false },
    { name: 'same object, other inputs', key: 'a', object: a, input: 'y', reused: false },
  ];
  for (const c of cases) {
    memo.begin();
    const before: number = made;
    const r = memo.get(c.key, c.object, c.input, undefined);
    memo.end();
    assert.equal(made === before, c.reused, c.name);
    assert.deepEqual(r, { v: c.object.v, input: c.input }, c.name);
  }
  assert.notEqual(memo.get('a', a, 'x', undefined), ra, 'the entry was replaced');
  // 'b' was not asked for in the builds above: gone.
  assert.equal(memo.size, 1);
});
