import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Workload, Service } from '#core/config/model.ts';
import { ambient, gateway, ns, objectsFrom, pod, service } from '#controller/testdata/objects.ts';
import { buildModel } from '#controller/model/build.ts';
import type { MeshModel, ResourceCondition } from '#controller/model/types.ts';

const options = { trustDomain: 'td', clusterId: 'c', rootNamespace: 'istio-system' };
const build = (docs: unknown[]): MeshModel => buildModel(objectsFrom(docs), options);
const workload = (m: MeshModel, name: string): Workload | undefined => {
  for (const r of m.resources.values()) if (r.kind === 'workload' && r.value.name === name) return r.value;
  return undefined;
};
const svc = (m: MeshModel, name: string): Service | undefined => {
  for (const r of m.resources.values()) if (r.kind === 'service' && r.value.name === name) return r.value;
  return undefined;
};
const bound = (m: MeshModel, kind: string, name: string): ResourceCondition | undefined => m.conditions.find((c) => c.kind === kind && c.name === name && c.type === 'WaypointBound');

const use = (name: string, extra: Record<string, string> = {}): Record<string, string> => ({ 'istio.io/use-waypoint': name, ...extra });

test('waypoint address: status first, then the Service named after it; identity from the gateway name', () => {
  const fromStatus = build([ns('a', { ...ambient, ...use('wp') }), gateway('a', 'wp', { address: '10.0.9.9', labels: { 'istio.io/waypoint-for': 'all' } }), service('a', 'wp', { ip: '10.96.9.9' }), pod('a', 'p')]);
  assert.deepEqual(workload(fromStatus, 'p')?.waypoint, { address: '10.0.9.9', hbonePort: 15008, identity: 'spiffe://td/ns/a/sa/wp' });
  const fromService = build([ns('a', { ...ambient, ...use('wp') }), gateway('a', 'wp', { labels: { 'istio.io/waypoint-for': 'all' } }), service('a', 'wp', { ip: '10.96.9.9', labels: { 'gateway.networking.k8s.io/gateway-name': 'wp' } }), pod('a', 'p')]);
  assert.equal(workload(fromService, 'p')?.waypoint?.address, '10.96.9.9');
  assert.equal(svc(fromService, 'wp')?.waypoint, undefined, "the waypoint's own service does not loop through it");
  const notProgrammed = fromService.conditions.find((c) => c.kind === 'Gateway');
  assert.equal(notProgrammed?.status, 'True');
});

test('waypoint not yet addressable: no waypoint, conditions on the Gateway and the referrer', () => {
  const m = build([ns('a', ambient), gateway('a', 'wp'), service('a', 's', { labels: use('wp') })]);
  assert.equal(svc(m, 's')?.waypoint, undefined);
  assert.equal(m.conditions.find((c) => c.kind === 'Gateway')?.reason, 'AddressNotAssigned');
  assert.equal(bound(m, 'Service', 's')?.reason, 'WaypointNotReady');
});

test('only gateways of class istio-waypoint are waypoints', () => {
  const m = build([ns('a', ambient), gateway('a', 'ingress', { className: 'istio', address: '1.1.1.1' }), service('a', 's', { labels: use('ingress') })]);
  assert.equal(svc(m, 's')?.waypoint, undefined);
  assert.equal(bound(m, 'Service', 's')?.reason, 'WaypointNotFound');
  assert.equal(m.waypointIdentities.size, 0);
});

test('use-waypoint precedence and waypoint-for', () => {
  const wp = (name: string, waypointFor?: string, namespace = 'a'): unknown =>
    gateway(namespace, name, { address: `10.0.0.${name.length}`, labels: waypointFor === undefined ? {} : { 'istio.io/waypoint-for': waypointFor } });
  const cases: {
    name: string;
    nsLabels: Record<string, string>;
    podLabels?: Record<string, string>;
    svcLabels?: Record<string, string>;
    gateways: unknown[];
    pod?: string;
    svc?: string;
    podCondition?: string;
    svcCondition?: string;
    nsCondition?: string;
  }[] = [
    { name: 'namespace label, waypoint for services (default)', nsLabels: use('wp'), gateways: [wp('wp')], svc: 'wp' },
    { name: 'namespace label, waypoint for workloads', nsLabels: use('wp'), gateways: [wp('wp', 'workload')], pod: 'wp' },
    { name: 'namespace label, waypoint for all', nsLabels: use('wp'), gateways: [wp('wp', 'all')], pod: 'wp', svc: 'wp' },
    { name: 'namespace label, waypoint for none', nsLabels: use('wp'), gateways: [wp('wp', 'none')] },
    { name: 'service label overrides namespace', nsLabels: use('wp'), svcLabels: use('other'), gateways: [wp('wp', 'all'), wp('other')], pod: 'wp', svc: 'other', svcCondition: 'WaypointBound' },
    { name: 'pod label overrides namespace', nsLabels: use('wp'), podLabels: use('other'), gateways: [wp('wp', 'all'), wp('other', 'workload')], pod: 'other', svc: 'wp', podCondition: 'WaypointBound' },
    { name: 'service opts out with none', nsLabels: use('wp'), svcLabels: use('none'), gateways: [wp('wp', 'all')], pod: 'wp' },
    { name: 'pod opts out with none', nsLabels: use('wp'), podLabels: use('none'), gateways: [wp('wp', 'all')], svc: 'wp' },
    { name: 'waypoint in another namespace', nsLabels: use('shared', { 'istio.io/use-waypoint-namespace': 'infra' }), gateways: [wp('shared', 'all', 'infra')], pod: 'shared', svc: 'shared' },
    { name: 'missing waypoint from namespace label', nsLabels: use('ghost'), gateways: [], nsCondition: 'WaypointNotFound' },
    { name: 'missing waypoint from service label', nsLabels: {}, svcLabels: use('ghost'), gateways: [], svcCondition: 'WaypointNotFound' },
    { name: 'service label to a workload-only waypoint', nsLabels: {}, svcLabels: use('wp'), gateways: [wp('wp', 'workload')], svcCondition: 'WaypointForMismatch' },
  ];
  for (const c of cases) {
    const m = build([
      ns('a', { ...ambient, ...c.nsLabels }),
      ns('infra'),
      ...c.gateways,
      pod('a', 'p', { labels: { app: 'x', ...c.podLabels } }),
      service('a', 's', { selector: { app: 'x' }, ...(c.svcLabels === undefined ? {} : { labels: c.svcLabels }) }),
    ]);
    const wpName = (address: string | undefined): string | undefined => address === undefined ? undefined : /\/sa\/(.+)$/.exec(address)?.[1];
    assert.equal(wpName(workload(m, 'p')?.waypoint?.identity), c.pod, `${c.name}: pod waypoint`);
    assert.equal(wpName(svc(m, 's')?.waypoint?.identity), c.svc, `${c.name}: service waypoint`);
    assert.equal(bound(m, 'Pod', 'p')?.reason, c.podCondition, `${c.name}: pod condition`);
    assert.equal(bound(m, 'Service', 's')?.reason, c.svcCondition, `${c.name}: service condition`);
    assert.equal(bound(m, 'Namespace', 'a')?.reason, c.nsCondition, `${c.name}: namespace condition`);
  }
});

test('pods outside the mesh never get a workload waypoint', () => {
  const m = build([ns('a', use('wp')), gateway('a', 'wp', { address: '1.1.1.1', labels: { 'istio.io/waypoint-for': 'all' } }), pod('a', 'p')]);
  assert.equal(workload(m, 'p')?.waypoint, undefined);
});
