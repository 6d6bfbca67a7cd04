import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpLabels } from '#core/telemetry/labels.ts';
import { pushTypeUrl, ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';
import { accessLogged } from '#ztunnel/telemetry/access-log.ts';

test("Istio's workload manager gauges and weft's own read the same live state at scrape time", async () => {
  const m = new ZtunnelMetrics();
  let enrolled = 0;
  m.readFrom({
    enrolledPods: () => enrolled, pendingPods: () => 1, hbonePool: () => ({ sessions: 2, streams: 5 }),
    certificates: () => [{ identity: 'spiffe://cluster.local/ns/a/sa/b', notAfter: new Date(1_700_000_000_500) }, { identity: 'spiffe://cluster.local/ns/a/sa/none' }],
  });
  enrolled = 3;
  const text = await m.registry.render();
  assert.match(text, /^workload_manager_active_proxy_count 3$/m);
  assert.match(text, /^weft_ztunnel_enrolled_pods 3$/m);
  assert.match(text, /^workload_manager_pending_proxy_count 1$/m);
  assert.match(text, /^weft_ztunnel_hbone_pool_streams 5$/m);
  assert.match(text, /^weft_certificate_expiry_seconds\{identity="spiffe:\/\/cluster.local\/ns\/a\/sa\/b"\} 1700000000$/m);
  assert.doesNotMatch(text, /sa\/none/, 'a certificate not issued yet has no expiry');
  assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
});

test('open sockets per reporter are opened minus closed, read from the counters', async () => {
  const m = new ZtunnelMetrics();
  const src = tcpLabels({ reporter: 'source', mtls: true });
  const dst = tcpLabels({ reporter: 'destination', mtls: true });
  const conn = m.opened.child(src);
  conn.inc();
  conn.inc();
  m.opened.inc(dst, 4);
  m.closed.inc({ ...src, response_flags: 'CONNECT' });
  m.closed.inc(dst, 4);
  const text = await m.registry.render();
  assert.match(text, /^istio_tcp_sockets_open\{reporter="source"\} 1$/m);
  assert.match(text, /^istio_tcp_sockets_open\{reporter="destination"\} 0$/m);
});

test('each pushed message counts once per resource type it carries', async () => {
  const m = new ZtunnelMetrics();
  m.recordPush({ updated: [{ kind: 'workload' }, { kind: 'workload' }, { kind: 'service' }, 'junk'], removed: [{ kind: 'authorization' }] });
  m.recordPush({ updated: [{ kind: 'workload' }], removed: [] });
  assert.equal(await m.xdsMessages.value({ url: pushTypeUrl('workload') }), 2);
  assert.equal(await m.xdsMessages.value({ url: pushTypeUrl('service') }), 1);
  assert.equal(await m.xdsMessages.value({ url: pushTypeUrl('authorization') }), 1);
});

test('a connection counts its open, its bytes and its close once, a flagged close under its flags', async () => {
  const m = new ZtunnelMetrics();
  const l = tcpLabels({ reporter: 'source', mtls: true });
  const a = m.connection(l);
  const b = m.connection(l);
  assert.equal(await m.opened.value(l), 2);
  a.close({ sent: 10, received: 3 }, '-');
  a.close({ sent: 10, received: 3 }, '-');
  b.close({ sent: 1, received: 2 }, 'UC');
  assert.equal(await m.sentBytes.value(l), 11);
  assert.equal(await m.receivedBytes.value(l), 5);
  assert.equal(await m.closed.value(l), 1);
  assert.equal(await m.closed.value({ ...l, response_flags: 'UC' }), 1);
  assert.match(await m.registry.render(), /^istio_tcp_sockets_open\{reporter="source"\} 0$/m);
});

test('ztunnel access-logs a pod unless its Telemetry turned it off', () => {
  assert.equal(accessLogged(undefined), true);
  assert.equal(accessLogged({}), true);
  assert.equal(accessLogged({ accessLog: true }), true);
  assert.equal(accessLogged({ accessLog: false }), false);
});
