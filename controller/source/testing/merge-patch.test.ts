import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePatch } from '#controller/source/testing/merge-patch.ts';

test('merge patch follows RFC 7386', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [['a'], { a: 'b' }, { a: 'b' }],
    [{ a: 'foo' }, 'bar', 'bar'],
    [undefined, { conditions: [{ type: 'Accepted' }] }, { conditions: [{ type: 'Accepted' }] }],
  ];
  for (const [target, patch, want] of cases) assert.deepEqual(mergePatch(target, patch), want, JSON.stringify([target, patch]));
});
