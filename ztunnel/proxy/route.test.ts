import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayAddress } from '#core/config/model.ts';
import { roundRobinPicker, randomPicker, type EndpointPicker } from '#ztunnel/proxy/pick.ts';
import { routeOutbound, type OutboundRoute } from '#ztunnel/proxy/route.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { service, svc, wl, workload } from '#ztunnel/state/testing.ts';

const ECHO = 'default/echo.default.svc.cluster.local';
const wp: GatewayAddress = { address: '10.0.9.9', hbonePort: 15008, identity: 'spiffe://cluster.local/ns/default/sa/waypoint' };
const client = workload({ name: 'client', addresses: ['10.0.1.2'], serviceAccount: 'sleep' });
const waypointPod = workload({ name: 'waypoint', addresses: ['10.0.9.9'], serviceAccount: 'waypoint' });
const echo1 = workload({ name: 'echo-1', addresses: ['10.0.2.2'], serviceAccount: 'echo', services: { [ECHO]: { '80': 8080, '9000': 9000 } } });
const echo2 = workload({ name: 'echo-2', addresses: ['10.0.2.3'], serviceAccount: 'echo', services: { [ECHO]: { '80': 8081 } } });
const sick = workload({ name: 'echo-3', addresses: ['10.0.2.4'], status: 'UNHEALTHY', services: { [ECHO]: { '80': 8080 } } });
const legacy = workload({ name: 'legacy', addresses: ['10.0.3.3'], tunnelProtocol: 'NONE', services: { 'default/legacy.default.svc.cluster.local': { '80': 8080 } } });
const waypointed = workload({ name: 'wp-pod', addresses: ['10.0.4.4'], waypoint: wp });
const echoSvc = service({ name: 'echo', addresses: ['10.96.0.10'], ports: [{ servicePort: 80, targetPort: 8080 }, { servicePort: 9000, targetPort: 9000 }] });
const emptySvc = service({ name: 'empty', addresses: ['10.96.0.11'] });
const legacySvc = service({ name: 'legacy', addresses: ['10.96.0.12'] });
const wpSvc = service({ name: 'reviews', addresses: ['10.96.0.13'], waypoint: wp });

const state = new ProxyState();
state.applyUpdate({
  snapshot: true, version: 1, removed: [],
  updated: [wl(client), wl(waypointPod), wl(echo1), wl(echo2), wl(sick), wl(legacy), wl(waypointed), svc(echoSvc), svc(emptySvc), svc(legacySvc), svc(wpSvc)],
});

const first: EndpointPicker = (c) => c[0];
const byName = (name: string): EndpointPicker => (c) => c.find((w) => w.name === name);

function summary(r: OutboundRoute): unknown {
  switch (r.kind) {
    case 'hbone': return [r.kind, r.endpoint.workload.name, `${r.hboneAddress.host}:${r.hboneAddress.port}`, r.authority, r.destinationIdentity, r.service?.name];
    case 'waypoint': return [r.kind, `${r.hboneAddress.host}:${r.hboneAddress.port}`, r.authority, r.destinationIdentity, r.service?.name ?? r.workload?.name];
    case 'direct-tcp': return [r.kind, `${r.endpoint.address}:${r.endpoint.targetPort}`, r.service?.name];
    case 'passthrough': return [r.kind, `${r.target.host}:${r.target.port}`];
    case 'unreachable': return [r.kind, r.service.name];
  }
}

const rows: [string, { host: string; port: number }, EndpointPicker, unknown, typeof client?][] = [
  ['VIP → endpoint, servicePort → targetPort', { host: '10.96.0.10', port: 80 }, first,
    ['hbone', 'echo-1', '10.0.2.2:15008', '10.0.2.2:8080', 'spiffe://cluster.local/ns/default/sa/echo', 'echo']],
  ['VIP → endpoint port map wins', { host: '10.96.0.10', port: 80 }, byName('echo-2'),
    ['hbone', 'echo-2', '10.0.2.3:15008', '10.0.2.3:8081', 'spiffe://cluster.local/ns/default/sa/echo', 'echo']],
  ['VIP → service port falls back to service targetPort', { host: '10.96.0.10', port: 9000 }, byName('echo-2'),
    ['hbone', 'echo-2', '10.0.2.3:15008', '10.0.2.3:9000', 'spiffe://cluster.local/ns/default/sa/echo', 'echo']],
  ['VIP undeclared port keeps the port', { host: '10.96.0.10', port: 7777 }, first,
    ['hbone', 'echo-1', '10.0.2.2:15008', '10.0.2.2:7777', 'spiffe://cluster.local/ns/default/sa/echo', 'echo']],
  ['unhealthy endpoints are never picked', { host: '10.96.0.10', port: 80 }, byName('echo-3'), ['unreachable', 'echo']],
  ['VIP without endpoints', { host: '10.96.0.11', port: 80 }, first, ['unreachable', 'empty']],
  ['pod IP → that workload', { host: '10.0.2.3', port: 8080 }, first,
    ['hbone', 'echo-2', '10.0.2.3:15008', '10.0.2.3:8080', 'spiffe://cluster.local/ns/default/sa/echo', undefined]],
  ['unknown → passthrough', { host: '93.184.216.34', port: 443 }, first, ['passthrough', '93.184.216.34:443']],
  ['non-mesh endpoint → direct TCP', { host: '10.96.0.12', port: 80 }, first, ['direct-tcp', '10.0.3.3:8080', 'legacy']],
  ['non-mesh pod IP → direct TCP', { host: '10.0.3.3', port: 8080 }, first, ['direct-tcp', '10.0.3.3:8080', undefined]],
  ['service waypoint, authority = VIP:port', { host: '10.96.0.13', port: 80 }, first,
    ['waypoint', '10.0.9.9:15008', '10.96.0.13:80', wp.identity, 'reviews']],
  ['workload waypoint for a pod IP', { host: '10.0.4.4', port: 8080 }, first,
    ['waypoint', '10.0.9.9:15008', '10.0.4.4:8080', wp.identity, 'wp-pod']],
  ['the waypoint itself skips its waypoint', { host: '10.0.4.4', port: 8080 }, first,
    ['hbone', 'wp-pod', '10.0.4.4:15008', '10.0.4.4:8080', 'spiffe://cluster.local/ns/default/sa/default', undefined], waypointPod],
];

test('routeOutbound decisions', () => {
  for (const [name, originalDst, pick, want, source] of rows) {
    assert.deepEqual(summary(routeOutbound(state, { sourceWorkload: source ?? client, originalDst }, pick)), want, name);
  }
});

test('waypoint pod reaching a waypointed service VIP goes to an endpoint', () => {
  const s = new ProxyState();
  const backend = workload({ name: 'reviews-1', addresses: ['10.0.5.5'], services: { 'default/reviews.default.svc.cluster.local': { '80': 9080 } } });
  s.applyUpdate({ snapshot: true, version: 1, removed: [], updated: [wl(waypointPod), wl(backend), svc(wpSvc)] });
  const r = routeOutbound(s, { sourceWorkload: waypointPod, originalDst: { host: '10.96.0.13', port: 80 } }, first);
  assert.deepEqual(summary(r), ['hbone', 'reviews-1', '10.0.5.5:15008', '10.0.5.5:9080', 'spiffe://cluster.local/ns/default/sa/default', 'reviews']);
});

test('round robin rotates over healthy endpoints; random stays within them', () => {
  const rr = roundRobinPicker();
  const picks = Array.from({ length: 4 }, () => {
    const r = routeOutbound(state, { sourceWorkload: client, originalDst: { host: '10.96.0.10', port: 80 } }, rr);
    return r.kind === 'hbone' ? r.endpoint.workload.name : r.kind;
  });
  assert.deepEqual(picks, ['echo-1', 'echo-2', 'echo-1', 'echo-2']);
  for (let i = 0; i < 20; i++) {
    const r = routeOutbound(state, { sourceWorkload: client, originalDst: { host: '10.96.0.10', port: 80 } }, randomPicker);
    assert.ok(r.kind === 'hbone' && ['echo-1', 'echo-2'].includes(r.endpoint.workload.name));
  }
});
