import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Logger, silentLogger, type LogLevelName } from './log.ts';

function recorder(level: LogLevelName): { root: Logger; lines: () => { level: string; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const root = new Logger({ level, sink: { write: (l) => out.push(l) } });
  return { root, lines: () => out.map((l) => JSON.parse(l) as { level: string; msg: string }) };
}

test('a level set on the root reaches children and grandchildren made before the change', () => {
  const { root, lines } = recorder('info');
  const conn = root.child({ component: 'inbound' });
  const stream = conn.child({ stream: 7 });
  stream.debug('hidden');
  root.setLevel('debug');
  stream.debug('shown', { n: 1 });
  conn.debug('shown too');
  assert.deepEqual(lines().map((l) => [l.msg, l['component'], l['stream']]), [['shown', 'inbound', 7], ['shown too', 'inbound', undefined]]);
  root.setLevel('error');
  conn.warn('hidden again');
  assert.equal(lines().length, 2);
  assert.equal(stream.level, 'error');
  assert.equal(stream.enabled('error'), true);
  assert.equal(stream.enabled('warn'), false);
});

test('children made after a change start at the new level', () => {
  const { root, lines } = recorder('warn');
  root.setLevel('debug');
  root.child({ a: 1 }).debug('x');
  assert.equal(lines().length, 1);
});

test('separate roots keep separate levels', () => {
  const a = recorder('info');
  const b = recorder('info');
  a.root.setLevel('off');
  b.root.child({}).info('still on');
  assert.equal(b.lines().length, 1);
  assert.equal(a.root.level, 'off');
});

test('the shared silent logger and its children ignore setLevel', () => {
  const child = silentLogger.child({ component: 'x' });
  child.setLevel('debug');
  silentLogger.setLevel('debug');
  assert.equal(silentLogger.level, 'off');
  assert.equal(child.enabled('error'), false);
});
