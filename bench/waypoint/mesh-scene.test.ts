import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathRoute, waypointGateway } from './mesh-scene.ts';

test('pathRoute sends /a to echo-a and /b to echo-b on the parent Service, the prefix replaced by /', () => {
  assert.deepEqual(pathRoute('wpbench', 'routed'), {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'paths', namespace: 'wpbench' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'routed', port: 80 }],
      rules: ['a', 'b'].map((x) => ({
        matches: [{ path: { type: 'PathPrefix', value: `/${x}` } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
        backendRefs: [{ name: `echo-${x}`, port: 80 }],
      })),
    },
  });
});

test('waypointGateway is an istio-waypoint Gateway for services with an HBONE listener', () => {
  const gw = waypointGateway('wpbench') as { metadata: { labels: Record<string, string> }; spec: { gatewayClassName: string; listeners: { port: number; protocol: string }[] } };
  assert.equal(gw.spec.gatewayClassName, 'istio-waypoint');
  assert.equal(gw.metadata.labels['istio.io/waypoint-for'], 'service');
  assert.deepEqual(gw.spec.listeners.map((l) => [l.port, l.protocol]), [[15008, 'HBONE']]);
});
