import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { startAdmin } from './server.ts';

test('/logging?level= changes the level of child loggers made before the change', async () => {
  const lines: string[] = [];
  const root = new Logger({ level: 'info', sink: { write: (l) => lines.push(l) } });
  const inbound = root.child({ component: 'inbound' });
  const stream = inbound.child({ connection: 1 });
  const admin = await startAdmin({
    configDump: () => ({}), certificates: () => [], readiness: () => ({ ready: true, reasons: [] }),
    registry: new Registry(), logger: root, quit: () => undefined,
  }, { admin: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }, readiness: { host: '127.0.0.1', port: 0 } });
  try {
    const get = async (path: string): Promise<{ status: number; body: unknown }> => {
      const r = await fetch(`http://127.0.0.1:${admin.ports.admin}${path}`);
      return { status: r.status, body: await r.json() };
    };
    assert.deepEqual((await get('/logging')).body, { level: 'info', levels: ['debug', 'info', 'warn', 'error', 'off'] });
    stream.debug('before');
    assert.equal((await get('/logging?level=debug')).status, 200);
    stream.debug('after');
    inbound.debug('after, one level up');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['log level changed', 'after', 'after, one level up']);
    assert.equal(((await get('/logging')).body as { level?: unknown }).level, 'debug');
    assert.equal(stream.level, 'debug');
    assert.equal((await get('/logging?level=off')).status, 200);
    inbound.error('silenced');
    assert.equal(lines.length, 3);
    for (const bad of ['nope', 'toString', '__proto__']) assert.equal((await get(`/logging?level=${bad}`)).status, 400, bad);
    assert.equal(root.level, 'off');
  } finally {
    await admin.close();
  }
});
