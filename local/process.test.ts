import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { LocalProcess } from './process.ts';
import { readFileSync } from 'node:fs';
import { runChecked, runCommand } from './run.ts';

/** A killed orphan may linger as a zombie until init reaps it; that is dead enough. */
function goneOrZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

test('runCommand collects output and exit code, feeds stdin, never throws on failure', async () => {
  const res = await runCommand('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'hello' });
  assert.deepEqual(res, { code: 3, stdout: 'hello', stderr: 'err\n' });
  const timed = await runCommand('sleep', ['5'], { timeoutMs: 50 });
  assert.equal(timed.code, 124);
  await assert.rejects(runChecked('sh', ['-c', 'echo nope >&2; exit 1']), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_EXEC') && /nope/.test(e.message));
  await assert.rejects(runCommand('/nonexistent/program', []), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_EXEC'));
});

test('LocalProcess: waits for a line, stop() kills the whole process group', async (t) => {
  // The shell starts a child that would outlive it; stop() must take both.
  const proc = new LocalProcess('sh', ['-c', 'sleep 30 & echo child $!; echo ready; wait'], 'test');
  t.after(() => proc.killSync());
  assert.equal(await proc.waitForLine('ready', 5000), 'ready');
  const child = Number(/child (\d+)/.exec(proc.stdout)?.[1]);
  assert.ok(child > 0);
  const exit = await proc.stop(200);
  assert.equal(exit.signal, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(goneOrZombie(child), `child ${child} still runs`);
  assert.deepEqual(await proc.stop(), exit);
});

test('LocalProcess: waitForLine fails clearly when the program exits first', async () => {
  const proc = new LocalProcess('sh', ['-c', 'echo boom >&2; exit 2'], 'failing');
  await assert.rejects(proc.waitForLine('ready', 5000), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_PROCESS_EXITED') && /boom/.test(e.message));
  assert.deepEqual(await proc.exited, { code: 2, signal: null });
});
