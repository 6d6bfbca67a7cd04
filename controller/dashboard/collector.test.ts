import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { configSync, DashboardCollector } from '#controller/dashboard/collector.ts';
import type { ProxyTarget } from '#controller/dashboard/targets.ts';
import type { PushClientInfo } from '#controller/push/server.ts';
import { tcpLabels } from '#core/telemetry/labels.ts';
import { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';

/** A fake proxy: /metrics from a real ztunnel registry, /healthz/ready, and a switch to hang. */
async function fakeProxy(): Promise<{ metrics: ZtunnelMetrics; url: string; setHanging(h: boolean): void; close(): Promise<void> }> {
  const metrics = new ZtunnelMetrics({ tag: 't1' });
  metrics.readFrom({ enrolledPods: () => 1, pendingPods: () => 0, hbonePool: () => ({ sessions: 0, streams: 0 }) });
  let hanging = false;
  const server = http.createServer((req, res) => {
    if (hanging) return; // accepted, never answered: what a stuck proxy looks like
    if (req.url === '/metrics') void metrics.registry.render().then((t) => res.end(t));
    else res.end('ready\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    metrics, url: `http://127.0.0.1:${port}`, setHanging: (h) => { hanging = h; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const target = (id: string, url: string): ProxyTarget => ({
  kind: 'ztunnel', id: `ztunnel/${id}`, name: id, node: id, pod: `ztunnel-${id}`, address: '127.0.0.1', metricsUrl: `${url}/metrics`, readyUrl: `${url}/healthz/ready`,
});

const closers: (() => Promise<void>)[] = [];
after(async () => { for (const c of closers) await c(); });

test('two scrapes give rates; a target that left is dropped', async () => {
  const p = await fakeProxy();
  closers.push(() => p.close());
  let targets = [target('node1', p.url), target('gone', 'http://127.0.0.1:1')];
  const c = new DashboardCollector({ targets: () => targets, pushClients: () => [] }, { timeoutMs: 500 });
  const first = await c.scrapeOnce();
  assert.deepEqual(first.nodes.map((n) => [n.node, n.health.up]), [['node1', true], ['gone', false]]);
  assert.equal(first.nodes[0]?.version, 't1');
  assert.equal(first.nodes[0]?.health.ready, true);
  assert.match(first.nodes[1]?.health.lastError ?? '', /fetch failed|ECONNREFUSED/);
  p.metrics.opened.inc(tcpLabels({ reporter: 'source', mtls: true }), 4);
  targets = [target('node1', p.url)];
  const second = await c.scrapeOnce();
  assert.equal(second.nodes.length, 1);
  assert.equal(second.nodes[0]?.connections.opened, 4);
  assert.ok((second.nodes[0]?.connections.openedPerSecond ?? 0) > 0);
  assert.equal(second.history.times.length, 2);
  assert.equal(second.history.openedPerSecond['ztunnel/node1']?.length, 2);
  assert.equal(second.history.openedPerSecond['ztunnel/gone'], undefined, 'an all-null series ages out');
  await c.stop();
});

test('a proxy that stops answering shows as down within 10 s with the default timings, and comes back', async () => {
  const p = await fakeProxy();
  closers.push(() => p.close());
  const c = new DashboardCollector({ targets: () => [target('node1', p.url)], pushClients: () => [] });
  const waitFor = async (up: boolean): Promise<number> => {
    const started = Date.now();
    while (c.snapshot().nodes[0]?.health.up !== up) {
      if (Date.now() - started > 10_000) assert.fail(`not ${up ? 'up' : 'down'} within 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Date.now() - started;
  };
  await waitFor(true);
  p.setHanging(true);
  const downAfter = await waitFor(false);
  assert.ok(downAfter < 10_000);
  assert.ok(c.snapshot().nodes[0]?.health.downSince !== undefined);
  p.setHanging(false);
  await waitFor(true);
  assert.equal(c.snapshot().nodes[0]?.health.downSince, undefined);
  await c.stop();
});

test('config sync state from the push server, table', () => {
  const zt = target('node1', 'http://x');
  const wp: ProxyTarget = { ...zt, kind: 'waypoint', id: 'waypoint/shop/wp-1', name: 'shop/wp', serviceAccount: 'wp' };
  const client = (c: Partial<PushClientInfo> & Pick<PushClientInfo, 'client'>): PushClientInfo =>
    ({ id: 'x', connected: true, remote: undefined, version: 4, inFlightVersion: undefined, resources: 1, ...c });
  const cases: [ProxyTarget, PushClientInfo[], string, number | null][] = [
    [zt, [], 'unknown', null],
    [zt, [client({ client: { kind: 'ztunnel', node: 'node1' } })], 'synced', 4],
    [zt, [client({ client: { kind: 'ztunnel', node: 'node1' }, inFlightVersion: 5 })], 'pending', 4],
    [zt, [client({ client: { kind: 'ztunnel', node: 'node1' }, connected: false })], 'disconnected', 4],
    [zt, [client({ client: { kind: 'ztunnel', node: 'node2' } })], 'unknown', null],
    [wp, [client({ client: { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/shop/sa/wp' } })], 'synced', 4],
    [wp, [client({ client: { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/other/sa/wp' } })], 'unknown', null],
  ];
  for (const [t, clients, state, version] of cases) {
    assert.deepEqual(configSync(t, clients), { state, version }, `${t.id} ${JSON.stringify(clients.map((x) => x.client))}`);
  }
});
