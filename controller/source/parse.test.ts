import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '#controller/source/parse.ts';

test('a Pod is read with defaults for absent lists and maps', () => {
  const r = parseObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status: { podIP: '10.0.0.1', phase: 'Running' } });
  assert.ok(r.ok);
  assert.deepEqual(r.object, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', labels: {}, annotations: {} },
    spec: {},
    status: { podIP: '10.0.0.1', phase: 'Running', podIPs: [], conditions: [] },
  });
});

test('cluster-scoped kinds have an empty namespace; older apiVersions are normalised', () => {
  const n = parseObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', namespace: 'ignored', labels: { x: 'y' } } });
  assert.ok(n.ok && n.object.metadata.namespace === '');
  const ap = parseObject({ apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'a' } });
  assert.ok(ap.ok && ap.object.kind === 'AuthorizationPolicy');
  assert.equal(ap.object.apiVersion, 'security.istio.io/v1');
  assert.equal(ap.object.spec.action, 'ALLOW');
  assert.deepEqual(ap.object.spec.rules, []);
});

test('Service: clusterIP fills clusterIPs, numeric-string targetPort becomes a number', () => {
  const r = parseObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a' }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: '8080' }, { port: 81, targetPort: 'http' }] } });
  assert.ok(r.ok && r.object.kind === 'Service');
  assert.deepEqual(r.object.spec.clusterIPs, ['10.96.0.1']);
  assert.deepEqual(r.object.spec.ports.map((p) => p.targetPort), [8080, 'http']);
  assert.equal(r.object.spec.selector, undefined);
});

test('rejections say what and where', () => {
  const cases: { doc: unknown; reason: RegExp; name?: string }[] = [
    { doc: 'hello', reason: /not an object/ },
    { doc: { apiVersion: 'v1', metadata: { name: 'x' } }, reason: /missing kind/ },
    { doc: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }, reason: /unsupported kind Deployment/, name: 'd' },
    { doc: { apiVersion: 'v2', kind: 'Pod', metadata: { name: 'p' } }, reason: /unsupported apiVersion v2 for Pod/, name: 'p' },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: {} }, reason: /metadata\.name/ },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Bad_Name' } }, reason: /DNS subdomain/ },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: 1 } } }, reason: /metadata\.labels\.a: expected a string, got number 1/, name: 'p' },
    { doc: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 70000 }] } }, reason: /spec\.ports\[0\]\.port: expected a port number/, name: 's' },
    { doc: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { action: 'MAYBE' } }, reason: /spec\.action/ },
    { doc: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { rules: [{ from: [{ source: { principals: 'x' } }] }] } }, reason: /spec\.rules\[0\]\.from\[0\]\.source\.principals: expected a list/ },
    { doc: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'p' }, spec: { mtls: { mode: 'strict' } } }, reason: /spec\.mtls\.mode/ },
    { doc: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: {} }, reason: /spec\.gatewayClassName/ },
  ];
  for (const c of cases) {
    const r = parseObject(c.doc);
    assert.ok(!r.ok, String(c.reason));
    assert.match(r.reason, c.reason);
    if (c.name !== undefined) assert.equal(r.name, c.name);
  }
});

test('routes keep rules as objects for the waypoint model', () => {
  const r = parseObject({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'a' }, spec: { parentRefs: [{ kind: 'Service', name: 's', port: 80 }], rules: [{ backendRefs: [{ name: 's', port: 80 }] }] } });
  assert.ok(r.ok && r.object.kind === 'HTTPRoute');
  assert.deepEqual(r.object.spec.parentRefs, [{ kind: 'Service', name: 's', port: 80 }]);
  assert.deepEqual(r.object.spec.rules, [{ backendRefs: [{ name: 's', port: 80 }] }]);
});
