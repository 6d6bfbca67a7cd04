import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePpid, processTree, subtree } from './process-tree.ts';

test('parsePpid reads field 4, whatever the command name holds', () => {
  const cases: [string, number][] = [
    ['4430 (cat) R 4428 4428 30211 0 -1 4194304', 4428],
    ['17 (nginx: worker process) S 16 16 16 0 -1', 16],
    ['9 (a) (b)) S 1 9 9 0 -1', 1],
  ];
  for (const [line, want] of cases) assert.equal(parsePpid(line), want, line);
  assert.throws(() => parsePpid('garbage'));
});

test('subtree lists root first, then children and grandchildren, and skips other branches', () => {
  const parents = new Map([[10, 1], [11, 10], [12, 10], [13, 11], [20, 1], [21, 20]]);
  assert.deepEqual(subtree(10, parents), [10, 11, 12, 13]);
  assert.deepEqual(subtree(21, parents), [21]);
  assert.deepEqual(subtree(99, parents), [99]);
});

test('processTree finds this process at its root', async () => {
  const tree = await processTree(process.pid);
  assert.equal(tree[0], process.pid);
});
