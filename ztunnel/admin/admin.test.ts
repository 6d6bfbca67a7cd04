import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { readiness } from '#ztunnel/admin/readiness.ts';
import { startAdmin } from '#core/admin/server.ts';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

test('readiness needs listeners, config and a certificate per enrolled identity', () => {
  const base = { listenersBound: true, hasConfig: true, enrollmentCaughtUp: true, identities: [ID], certificates: [{ identity: ID, state: 'ready' as const }] };
  assert.deepEqual(readiness(base), { ready: true, reasons: [] });
  assert.deepEqual(readiness({ ...base, certificates: [{ identity: ID, state: 'renewing' }] }).ready, true);
  assert.deepEqual(readiness({ ...base, enrollmentCaughtUp: false }).reasons, ['enrolling pods of the latest config']);
  const r = readiness({ listenersBound: false, hasConfig: false, enrollmentCaughtUp: false, identities: [ID, ID], certificates: [{ identity: ID, state: 'pending' }] });
  assert.equal(r.ready, false);
  assert.deepEqual(r.reasons, ['listeners not bound yet', 'no config received yet', `no certificate yet for ${ID}`]);
});

test('admin, metrics and readiness endpoints over HTTP', async () => {
  const registry = new Registry();
  registry.counter('istio_build_test_total', 'x').inc({});
  let ready = false;
  let quit = 0;
  const lines: string[] = [];
  const logger = new Logger({ level: 'warn', sink: { write: (l) => lines.push(l) } });
  const admin = await startAdmin({
    configDump: () => ({ workloads: [{ name: 'w' }] }),
    certificates: () => [{ identity: ID, state: 'ready' }],
    readiness: () => ({ ready, reasons: ready ? [] : ['no config received yet'] }),
    registry, logger, quit: () => { quit += 1; },
  }, { admin: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }, readiness: { host: '127.0.0.1', port: 0 } });
  try {
    const get = (port: number, path: string, init?: RequestInit): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, init);
    assert.deepEqual(await (await get(admin.ports.admin, '/config_dump')).json(), { workloads: [{ name: 'w' }] });
    assert.deepEqual(await (await get(admin.ports.admin, '/certs')).json(), [{ identity: ID, state: 'ready' }]);
    const metrics = await get(admin.ports.metrics, '/stats/prometheus');
    assert.match(metrics.headers.get('content-type') ?? '', /version=0.0.4/);
    assert.match(await metrics.text(), /istio_build_test_total 1/);
    assert.match(await (await get(admin.ports.metrics, '/metrics')).text(), /istio_build_test_total 1/);
    const notReady = await get(admin.ports.readiness, '/healthz/ready');
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /no config/);
    ready = true;
    assert.equal((await get(admin.ports.readiness, '/healthz/ready')).status, 200);
    assert.equal((await get(admin.ports.admin, '/logging?level=nope')).status, 400);
    assert.equal((await get(admin.ports.admin, '/logging?level=info')).status, 200);
    assert.ok(lines.some((l) => l.includes('log level changed')), 'level change took effect');
    assert.equal((await get(admin.ports.admin, '/quitquitquit')).status, 405);
    assert.equal((await get(admin.ports.admin, '/quitquitquit', { method: 'POST' })).status, 200);
    assert.equal(quit, 1);
    assert.equal((await get(admin.ports.admin, '/nope')).status, 404);
  } finally {
    await admin.close();
  }
});
