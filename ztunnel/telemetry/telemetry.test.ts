import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessLog } from '#core/telemetry/access-log.ts';
import { sourceBaggage } from '#ztunnel/telemetry/baggage.ts';
import { serviceOfWorkload, tcpLabels } from '#core/telemetry/labels.ts';
import { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';
import { service, workload } from '#ztunnel/state/testing.ts';

const ECHO = 'default/echo.default.svc.cluster.local';
const client = workload({ name: 'sleep', namespace: 'foo', addresses: ['10.0.1.2'], canonicalRevision: 'v2' });
const echo = workload({ name: 'echo-1', workloadName: 'echo', canonicalName: 'echo', addresses: ['10.0.2.2'], services: { [ECHO]: { '80': 8080 } } });
const echoSvc = service({ name: 'echo', addresses: ['10.96.0.10'] });

test('labels carry Istio names and values', () => {
  const l = tcpLabels({
    reporter: 'source', source: client, sourcePrincipal: 'spiffe://cluster.local/ns/foo/sa/default',
    destination: echo, destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/default', service: echoSvc, mtls: true,
  });
  assert.equal(l.reporter, 'source');
  assert.equal(l.source_workload, 'sleep');
  assert.equal(l.source_workload_namespace, 'foo');
  assert.equal(l.source_version, 'v2');
  assert.equal(l.source_cluster, 'Kubernetes');
  assert.equal(l.destination_service, 'echo.default.svc.cluster.local');
  assert.equal(l.destination_service_name, 'echo');
  assert.equal(l.destination_service_namespace, 'default');
  assert.equal(l.destination_workload, 'echo');
  assert.equal(l.destination_app, 'echo');
  assert.equal(l.request_protocol, 'tcp');
  assert.equal(l.response_flags, '-');
  assert.equal(l.connection_security_policy, 'mutual_tls');
  const bare = tcpLabels({ reporter: 'destination', mtls: false, responseFlags: 'DENY' });
  assert.equal(bare.source_workload, 'unknown');
  assert.equal(bare.connection_security_policy, 'none');
  assert.equal(bare.response_flags, 'DENY');
});

test('a pod IP destination still names its service', () => {
  const lookup = (k: string): typeof echoSvc | undefined => (k === ECHO ? echoSvc : undefined);
  assert.equal(serviceOfWorkload(echo, 8080, lookup)?.name, 'echo');
  assert.equal(serviceOfWorkload(echo, 9999, lookup)?.name, 'echo', 'only service');
  assert.equal(serviceOfWorkload(client, 8080, lookup), undefined);
});

test('metrics render with Istio names, istio_build included', async () => {
  const m = new ZtunnelMetrics({ tag: 'test' });
  const l = tcpLabels({ reporter: 'source', source: client, destination: echo, service: echoSvc, mtls: true });
  m.opened.inc(l);
  m.sentBytes.inc(l, 42);
  const text = await m.registry.render();
  assert.match(text, /istio_build\{component="ztunnel",tag="test"\} 1/);
  assert.match(text, /istio_tcp_connections_opened_total\{reporter="source",source_workload="sleep",.*destination_service="echo.default.svc.cluster.local".*\} 1/);
  assert.match(text, /istio_tcp_sent_bytes_total\{.*\} 42/);
  assert.match(text, /# TYPE istio_xds_connection_terminations_total counter/);
});

test('access log batches JSON lines and flushes on close', () => {
  const chunks: string[] = [];
  const log = new AccessLog({ sink: { write: (c: string) => chunks.push(c) }, flushMs: 60_000, maxQueue: 2 });
  const entry = { direction: 'outbound' as const, src: { addr: '10.0.1.2:5000' }, dst: { addr: '10.0.2.2:8080', service: 'echo' }, bytesSent: 1, bytesReceived: 2, durationMs: 3, responseFlags: '-' };
  log.log(entry);
  log.log(entry);
  log.log(entry);
  assert.equal(chunks.length, 0, 'nothing written on the hot path');
  log.close();
  assert.equal(chunks.length, 1);
  const lines = (chunks[0] ?? '').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(log.dropped, 1);
  assert.equal(lines[0]?.['bytesReceived'], 2);
});

test('baggage names the source workload with Istio keys', () => {
  assert.equal(sourceBaggage(client), 'k8s.cluster.name=Kubernetes,k8s.namespace.name=foo,k8s.deployment.name=sleep,service.name=sleep,service.version=v2');
  assert.equal(sourceBaggage({ ...client, canonicalRevision: '', canonicalName: 'a b' }), 'k8s.cluster.name=Kubernetes,k8s.namespace.name=foo,k8s.deployment.name=sleep,service.name=a%20b');
});
