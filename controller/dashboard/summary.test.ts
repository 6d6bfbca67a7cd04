import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition } from '#controller/dashboard/exposition.ts';
import { histogramQuantile, nodeCard, ratePerSecond, trafficEdges, waypointCard, type TargetState } from '#controller/dashboard/summary.ts';
import type { ProxyTarget } from '#controller/dashboard/targets.ts';
import { tcpLabels } from '#core/telemetry/labels.ts';
import { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';
import { WaypointMetrics } from '#waypoint/telemetry/metrics.ts';
import type { Workload } from '#core/config/model.ts';
import { sampleWorkload } from '#core/config/testing.ts';

const up = { up: true, ready: true, lastSeen: 0 };
const synced = { state: 'synced' as const, version: 3 };
const zt: ProxyTarget = { kind: 'ztunnel', id: 'ztunnel/node1', name: 'node1', node: 'node1', pod: 'ztunnel-node1', address: '10.0.0.1', metricsUrl: '', readyUrl: '' };
const wpt: ProxyTarget = { kind: 'waypoint', id: 'waypoint/ns/wp-1', name: 'ns/wp', node: 'node2', pod: 'wp-1', address: '10.1.0.9', metricsUrl: '', readyUrl: '' };

const wl = (name: string, namespace: string): Workload =>
  sampleWorkload({ uid: name, name, namespace, workloadName: name, canonicalName: name, serviceAccount: name });

test('rates, table', () => {
  const cases: [number | null, number | null, number, number | null][] = [
    [10, 4, 2, 3], [4, 4, 2, 0], [3, 10, 2, null], [null, 1, 2, null], [5, null, 2, null], [5, 1, 0, null],
  ];
  for (const [cur, prev, s, want] of cases) assert.equal(ratePerSecond(cur, prev, s), want, `${cur} ${prev} ${s}`);
});

test('histogram quantiles interpolate inside the bucket, table', () => {
  const b = [{ le: 1, count: 0 }, { le: 10, count: 50 }, { le: 100, count: 100 }, { le: Infinity, count: 100 }];
  const cases: [number, number | null][] = [[0.5, 10], [0.25, 5.5], [0.99, 98.2], [1, 100]];
  for (const [q, want] of cases) {
    const got = histogramQuantile(q, b);
    assert.ok(got !== null && want !== null && Math.abs(got - want) < 1e-9, `q=${q}: ${got}`);
  }
  assert.equal(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), null);
  assert.equal(histogramQuantile(0.99, [{ le: 5, count: 1 }, { le: Infinity, count: 10 }]), 5, '+Inf answers the highest finite bound');
});

test('a node card from two scrapes of a real ztunnel registry', async () => {
  const m = new ZtunnelMetrics({ tag: '1.2.3' });
  m.readFrom({
    enrolledPods: () => 2, pendingPods: () => 1, hbonePool: () => ({ sessions: 1, streams: 4 }),
    certificates: () => [{ identity: 'spiffe://cluster.local/ns/a/sa/b', notAfter: new Date(1_800_000_000_000) }],
  });
  const l = tcpLabels({ reporter: 'source', source: wl('client', 'a'), destination: wl('echo', 'b'), mtls: true });
  m.opened.inc(l, 4);
  m.sentBytes.inc(l, 1000);
  const first = { at: 10_000, samples: parseExposition(await m.registry.render()).samples };
  m.opened.inc(l, 6);
  m.closed.inc(l, 3);
  m.closed.inc({ ...l, response_flags: 'CONNECT' }, 1);
  m.failed.inc({ ...l, response_flags: 'DENY' }, 2);
  m.sentBytes.inc(l, 3000);
  const second = { at: 12_000, samples: parseExposition(await m.registry.render()).samples };

  const card = nodeCard({ target: zt, health: up, prev: first, cur: second }, synced);
  assert.equal(card.version, '1.2.3');
  assert.equal(card.enrolledPods, 2);
  assert.equal(card.pendingPods, 1);
  assert.deepEqual(card.connections, { open: 6, opened: 10, openedPerSecond: 3 });
  assert.equal(card.bytes.sentPerSecond, 1500);
  assert.equal(card.bytes.sent, 4000);
  assert.deepEqual(card.failures, [{ flag: 'DENY', count: 2 }, { flag: 'CONNECT', count: 1 }]);
  assert.deepEqual(card.hbone, { sessions: 1, streams: 4 });
  assert.deepEqual(card.certificates, [{ identity: 'spiffe://cluster.local/ns/a/sa/b', expiresAt: 1_800_000_000_000 }]);
  assert.ok(card.memoryBytes !== null && card.memoryBytes > 0);
  assert.equal(card.config, synced);

  const once = nodeCard({ target: zt, health: up, cur: first }, synced);
  assert.equal(once.connections.openedPerSecond, null, 'no rate from one scrape');
  const down = nodeCard({ target: zt, health: { up: false, ready: false, lastSeen: 1, downSince: 5 }, prev: first, cur: second }, synced);
  assert.equal(down.connections.open, null, 'a down proxy shows no stale numbers');
  assert.equal(down.health.up, false);
});

test('a waypoint card: requests per second, window percentiles, error rate by code', async () => {
  const m = new WaypointMetrics({ tag: '9' });
  const base = { ...tcpLabels({ reporter: 'waypoint', source: wl('client', 'a'), destination: wl('echo', 'b'), mtls: true, protocol: 'http' }), grpc_response_status: 'unknown' };
  m.record({ ...base, response_code: '200' }, 3, 10, 10);
  const first = { at: 0, samples: parseExposition(await m.registry.render()).samples };
  for (let i = 0; i < 8; i++) m.record({ ...base, response_code: '200' }, 20, 10, 10);
  m.record({ ...base, response_code: '503' }, 200, 10, 10);
  m.record({ ...base, response_code: '403' }, 1, 10, 10);
  const second = { at: 5000, samples: parseExposition(await m.registry.render()).samples };
  const card = waypointCard({ target: wpt, health: up, prev: first, cur: second }, synced);
  assert.equal(card.version, '9');
  assert.equal(card.requests, 11);
  assert.equal(card.requestsPerSecond, 2);
  assert.equal(card.errorRate, 0.1);
  assert.ok(card.p50Ms !== null && card.p50Ms > 10 && card.p50Ms <= 25, `p50 ${card.p50Ms}`);
  assert.ok(card.p99Ms !== null && card.p99Ms > 100 && card.p99Ms <= 250, `p99 ${card.p99Ms}`);
  assert.deepEqual(card.byCode.map((c) => [c.code, c.total, c.perSecond]), [['200', 9, 1.6], ['403', 1, 0.2], ['503', 1, 0.2]]);
});

test('traffic edges: destination reports win, source-only pairs kept, denials and waypoint 403s counted', async () => {
  const src = new ZtunnelMetrics();
  const dst = new ZtunnelMetrics();
  const client = wl('client', 'a');
  const echo = wl('echo', 'b');
  const outside = wl('legacy', 'c');
  src.opened.inc(tcpLabels({ reporter: 'source', source: client, destination: echo, mtls: true }), 5);
  src.opened.inc(tcpLabels({ reporter: 'source', source: client, destination: outside, mtls: false }), 2);
  dst.opened.inc(tcpLabels({ reporter: 'destination', source: client, destination: echo, mtls: true }), 5);
  dst.failed.inc(tcpLabels({ reporter: 'destination', source: client, destination: echo, mtls: true, responseFlags: 'DENY' }), 1);
  dst.failed.inc(tcpLabels({ reporter: 'destination', source: client, destination: echo, mtls: true, responseFlags: 'CONNECT' }), 7);
  const wp = new WaypointMetrics();
  const base = { ...tcpLabels({ reporter: 'waypoint', source: client, destination: echo, mtls: true, protocol: 'http' }), grpc_response_status: 'unknown' };
  wp.record({ ...base, response_code: '200' }, 1, 1, 1);
  wp.record({ ...base, response_code: '403' }, 1, 1, 1);
  const scrape = async (r: { render(): Promise<string> }): Promise<{ at: number; samples: ReturnType<typeof parseExposition>['samples'] }> =>
    ({ at: 0, samples: parseExposition(await r.render()).samples });
  const states: TargetState[] = [
    { target: zt, health: up, cur: await scrape(src.registry) },
    { target: { ...zt, id: 'ztunnel/node2' }, health: up, cur: await scrape(dst.registry) },
    { target: wpt, health: up, cur: await scrape(wp.registry) },
    { target: { ...zt, id: 'ztunnel/down' }, health: { up: false, ready: null, lastSeen: null }, cur: await scrape(src.registry) },
  ];
  assert.deepEqual(trafficEdges(states).map((e) => [e.reporter, e.source, e.destination, e.mtls, e.allowed, e.denied]), [
    ['ztunnel', 'client.a', 'echo.b', true, 5, 1],
    ['waypoint', 'client.a', 'echo.b', true, 1, 1],
    ['ztunnel', 'client.a', 'legacy.c', false, 2, 0],
  ]);
});
