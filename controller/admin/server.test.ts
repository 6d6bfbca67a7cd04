import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { Registry } from '#core/telemetry/metrics.ts';
import { startAdminServer } from '#controller/admin/server.ts';
import { DashboardCollector } from '#controller/dashboard/collector.ts';

let server: Server;
let bare: Server;
let url: string;
let bareUrl: string;
const collector = new DashboardCollector({ targets: () => [], pushClients: () => [] });

before(async () => {
  const metrics = new Registry();
  metrics.counter('weft_test_total', 'x').inc({});
  const base = { healthy: () => true, model: () => undefined, status: () => ({ ok: true }), metrics };
  ({ server, url } = await startAdminServer({ ...base, dashboard: collector }, '127.0.0.1', 0));
  ({ server: bare, url: bareUrl } = await startAdminServer(base, '127.0.0.1', 0));
});

after(async () => {
  await collector.stop();
  await Promise.all([server, bare].map((s) => new Promise<void>((r) => s.close(() => r()))));
});

test('metrics are rendered by prom-client, default process metrics included', async () => {
  const r = await fetch(`${url}/metrics`);
  assert.match(r.headers.get('content-type') ?? '', /version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /^weft_test_total 1$/m);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
});

test('the dashboard page, its assets and the snapshot API', async () => {
  const page = await fetch(`${url}/dashboard`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  for (const asset of ['/dashboard/app.js', '/dashboard/uplot.js', '/dashboard/style.css', '/dashboard/uplot.css']) {
    assert.ok(html.includes(asset), `the page loads ${asset}`);
    const r = await fetch(`${url}${asset}`);
    assert.equal(r.status, 200, asset);
    assert.ok((await r.text()).length > 100, asset);
  }
  const app = await (await fetch(`${url}/dashboard/app.js`)).text();
  assert.doesNotMatch(app, /import type|: DashboardSnapshot\b/, 'types are stripped for the browser');
  assert.match(app, /from 'uplot'/);
  const snap = await (await fetch(`${url}/api/dashboard`)).json() as { nodes: unknown[]; history: { times: unknown[] } };
  assert.deepEqual(snap.nodes, []);
  assert.ok(Array.isArray(snap.history.times));
  assert.equal((await fetch(`${url}/dashboard/nope.js`)).status, 404);
});

test('without a dashboard source the routes are not there', async () => {
  assert.equal((await fetch(`${bareUrl}/dashboard`)).status, 404);
  assert.equal((await fetch(`${bareUrl}/api/dashboard`)).status, 404);
  assert.equal((await fetch(`${bareUrl}/healthz`)).status, 200);
});

test('the mesh model is served to this host only', async () => {
  const { fromThisHost } = await import('#controller/admin/server.ts');
  const own = (): ReadonlySet<string> => new Set(['192.168.200.1', 'fd00::1']);
  const rows: [string | undefined, boolean][] = [
    ['127.0.0.1', true], ['127.0.0.53', true], ['::1', true], ['::ffff:127.0.0.1', true],
    ['192.168.200.1', true], ['::ffff:192.168.200.1', true], ['fd00::1', true],
    ['10.224.1.2', false], ['192.168.200.11', false], ['::ffff:10.224.1.2', false], [undefined, false],
  ];
  for (const [remote, want] of rows) assert.equal(fromThisHost(remote, own), want, String(remote));
});
