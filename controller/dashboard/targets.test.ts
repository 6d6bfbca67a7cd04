import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyTargets } from '#controller/dashboard/targets.ts';
import { gateway, objectsFrom, pod, service } from '#controller/testdata/objects.ts';

const node = (name: string, addresses: { type: string; address: string }[]): unknown =>
  ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses } });

test('a ztunnel per node at its InternalIP, a waypoint per pod its Service selects', () => {
  const objects = objectsFrom([
    node('node2', [{ type: 'Hostname', address: 'node2' }, { type: 'InternalIP', address: '192.168.1.12' }]),
    node('node1', [{ type: 'InternalIP', address: '192.168.1.11' }]),
    node('bare', [{ type: 'Hostname', address: 'bare' }]),
    gateway('shop', 'waypoint'),
    gateway('shop', 'ingress', { className: 'istio' }),
    service('shop', 'waypoint', { selector: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } }),
    pod('shop', 'waypoint-abc', { labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, ip: '10.0.2.9', node: 'node2' }),
    pod('shop', 'waypoint-old', { labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, ip: '10.0.2.8', phase: 'Succeeded' }),
    pod('shop', 'ingress-1', { labels: { 'gateway.networking.k8s.io/gateway-name': 'ingress' }, ip: '10.0.2.7' }),
    pod('other', 'waypoint-x', { labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, ip: '10.0.3.1' }),
  ]);
  const t = proxyTargets(objects);
  assert.deepEqual(t.map((x) => [x.id, x.metricsUrl]), [
    ['waypoint/shop/waypoint-abc', 'http://10.0.2.9:15020/metrics'],
    ['ztunnel/node1', 'http://192.168.1.11:15020/metrics'],
    ['ztunnel/node2', 'http://192.168.1.12:15020/metrics'],
  ]);
  const wp = t[0];
  assert.equal(wp?.name, 'shop/waypoint');
  assert.equal(wp?.node, 'node2');
  assert.equal(wp?.readyUrl, 'http://10.0.2.9:15021/healthz/ready');
  assert.equal(t[1]?.pod, 'ztunnel-node1');
});

test('before its Service exists, a waypoint pod is found by the gateway-name label', () => {
  const objects = objectsFrom([
    gateway('shop', 'wp'),
    pod('shop', 'wp-1', { labels: { 'gateway.networking.k8s.io/gateway-name': 'wp' }, ip: 'fd00::5' }),
    pod('shop', 'noip', { labels: { 'gateway.networking.k8s.io/gateway-name': 'wp' }, ip: '' }),
  ]);
  assert.deepEqual(proxyTargets(objects).map((x) => x.metricsUrl), ['http://[fd00::5]:15020/metrics']);
});
