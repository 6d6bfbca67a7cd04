import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCell, markdownTable } from './table.ts';

test('formatCell', () => {
  const cases: [Parameters<typeof formatCell>[0], number | undefined, string][] = [
    [1.234, undefined, '1.23'],
    [1.234, 0, '1'],
    [Number.NaN, undefined, '–'],
    [undefined, undefined, '–'],
    ['x', undefined, 'x'],
  ];
  for (const [cell, digits, want] of cases) assert.equal(formatCell(cell, digits), want);
});

test('markdownTable pads short rows and escapes pipes', () => {
  assert.equal(markdownTable(['mode', 'Gbit/s', 'note'], [['direct', 9.5], ['a|b', 1, 'ok']]), [
    '| mode | Gbit/s | note |',
    '|---|---|---|',
    '| direct | 9.50 | – |',
    '| a\\|b | 1.00 | ok |',
  ].join('\n'));
});
