import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { MemoryTrim } from '#ztunnel/memory-trim.ts';

test('one trim per quiet spell after activity; none while idle or busy', async () => {
  let events = 0;
  let trims = 0;
  const t = new MemoryTrim({ activity: () => Promise.resolve(events), trim: () => { trims++; return true; } });
  // The first look has nothing to compare with; an idle node that never had traffic since is
  // trimmed once (what start-up allocated and freed), then never again while idle.
  assert.equal(await t.check(), false);
  assert.equal(await t.check(), true);
  assert.equal(await t.check(), false);
  assert.equal(await t.check(), false);
  // Busy: the count moves between looks.
  for (let i = 0; i < 3; i++) {
    events += 10;
    assert.equal(await t.check(), false);
  }
  // Quiet again: one trim, then none.
  assert.equal(await t.check(), true);
  assert.equal(await t.check(), false);
  assert.equal(trims, 2);
  assert.equal(t.trims, 2);
  // A count that cannot be read skips the look.
  const failing = new MemoryTrim({ activity: () => Promise.reject(new Error('no metrics')), trim: () => assert.fail('trimmed') });
  assert.equal(await failing.check(), false);
  // A trim that throws (no addon) is given up, not thrown into the timer.
  let calls = 0;
  const broken = new MemoryTrim({ activity: () => Promise.resolve(0), trim: () => { calls++; throw new Error('addon missing'); } });
  assert.equal(await broken.check(), false);
  assert.equal(await broken.check(), false);
  assert.equal(calls, 1);
});

test('the addon gives a freed heap back: RSS falls by most of it after trimMemory', () => {
  // A child with gc exposed (single-threaded, so the buffers' memory is freed when gc() returns): 128 MiB of 64 KiB buffers (below glibc's mmap threshold, so on the
  // heap), dropped and collected, stay mapped until the trim.
  const script = `
    const { nativeBinding } = await import(${JSON.stringify(new URL('./native/addon.ts', import.meta.url).href)});
    let held = [];
    for (let i = 0; i < 2048; i++) held.push(Buffer.alloc(64 * 1024, 1));
    held = [];
    globalThis.gc();
    const before = process.memoryUsage.rss();
    const released = nativeBinding().trimMemory();
    console.log(JSON.stringify({ before, after: process.memoryUsage.rss(), released }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--single-threaded-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { before, after, released } = JSON.parse(r.stdout) as { before: number; after: number; released: boolean };
  assert.equal(released, true);
  assert.ok(before - after > 64 * 1024 * 1024, `RSS ${Math.round(before / 2 ** 20)} → ${Math.round(after / 2 ** 20)} MiB`);
});
