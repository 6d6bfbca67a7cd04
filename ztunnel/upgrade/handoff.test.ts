// The hand-off protocol over a real Unix socket in a temp dir, between a listener with a
// recording predecessor and requestHandoff: the full exchange, a successor that dies before
// "ready" (the predecessor resumes and can hand off again), garbage on the socket, a stale
// socket file and none at all. No root needed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { HANDOFF_SOCKET, HandoffListener, parseHandoffMessage, requestHandoff, type Predecessor } from './handoff.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function socketPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-handoff-'));
  dirs.push(dir);
  return join(dir, HANDOFF_SOCKET);
}

/** A predecessor that records each step; `drained` resolves when drain() is called. */
function recorder(): Predecessor & { steps: string[]; drained: Promise<void>; resumed: () => Promise<void> } {
  const steps: string[] = [];
  let onDrain!: () => void;
  const drained = new Promise<void>((r) => { onDrain = r; });
  const waiting: (() => void)[] = [];
  return {
    steps, drained,
    async release() { steps.push('release'); },
    async resume() { steps.push('resume'); for (const w of waiting.splice(0)) w(); },
    drain() { steps.push('drain'); onDrain(); },
    resumed: () => new Promise<void>((r) => { if (steps.includes('resume')) r(); else waiting.push(r); }),
  };
}

/** A listener at a fresh path with a recording predecessor, closed after run. */
async function withListener(run: (path: string, old: ReturnType<typeof recorder>) => Promise<void>): Promise<void> {
  const path = await socketPath();
  const old = recorder();
  const listener = await HandoffListener.listen(path, old, silentLogger);
  try {
    await run(path, old);
  } finally {
    await listener.close();
  }
}

test('parseHandoffMessage accepts only the protocol\'s lines', () => {
  assert.deepEqual(parseHandoffMessage('{"type":"takeover","pid":42}'), { type: 'takeover', pid: 42 });
  for (const line of ['', 'takeover', '{"type":"takeover"}', '{"type":"kill","pid":1}', '{"type":"ready","pid":-1}', '{"type":"ready","pid":1.5}', '[]', 'null']) {
    assert.equal(parseHandoffMessage(line), undefined, line);
  }
});

test('no socket, or a stale one: nobody to take over from', async () => {
  const path = await socketPath();
  assert.equal(await requestHandoff(path, silentLogger), undefined);
  await writeFile(path, '');
  assert.equal(await requestHandoff(path, silentLogger), undefined);
});

test('takeover, released, ready, draining: the predecessor releases, then drains', () => withListener(async (path, old) => {
  const taken = await requestHandoff(path, silentLogger, 5000);
  assert.ok(taken !== undefined);
  assert.equal(taken.pid, process.pid);
  assert.deepEqual(old.steps, ['release']);
  await taken.ready();
  await old.drained;
  assert.deepEqual(old.steps, ['release', 'drain']);
  // Handed over: the predecessor no longer listens, so the successor can.
  assert.equal(await requestHandoff(path, silentLogger), undefined);
}));

test('a successor that goes away before ready: the predecessor resumes and hands off later', () => withListener(async (path, old) => {
  const first = await requestHandoff(path, silentLogger, 5000);
  assert.ok(first !== undefined);
  first.close();
  await old.resumed();
  assert.deepEqual(old.steps, ['release', 'resume']);
  // Listening again: a second successor takes over.
  let second: Awaited<ReturnType<typeof requestHandoff>>;
  for (;;) {
    second = await requestHandoff(path, silentLogger, 5000);
    if (second !== undefined) break;
    await new Promise((r) => setImmediate(r)); // the listener is being re-opened
  }
  await second.ready();
  await old.drained;
  assert.deepEqual(old.steps, ['release', 'resume', 'release', 'drain']);
}));

test('garbage on the socket ends that connection and changes nothing', () => withListener(async (path, old) => {
  for (const junk of ['hello\n', `${'x'.repeat(10_000)}`, '{"type":"ready","pid":1}\n']) {
    const s = net.connect(path);
    s.on('error', () => undefined);
    await once(s, 'connect');
    s.write(junk);
    await once(s, 'close');
  }
  assert.deepEqual(old.steps, []);
  const taken = await requestHandoff(path, silentLogger, 5000);
  assert.ok(taken !== undefined, 'still serving hand-offs');
  await taken.ready();
  await old.drained;
}));
