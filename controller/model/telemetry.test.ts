import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '#controller/source/parse.ts';
import type { Telemetry } from '#controller/source/types.ts';
import { ambient, gateway, ns, objectsFrom, pod, telemetry } from '#controller/testdata/objects.ts';
import { compileTelemetry, type TelemetryContext } from '#controller/model/telemetry.ts';
import { otlpExporter, parseMeshConfig } from '#controller/model/mesh-config.ts';
import { ModelBuilder } from '#controller/model/build.ts';
import { ViewIndex } from '#controller/model/view-index.ts';

function tel(namespace: string, name: string, spec: Record<string, unknown>): Telemetry {
  const r = parseObject(telemetry(namespace, name, spec));
  assert.ok(r.ok && r.object.kind === 'Telemetry', r.ok ? '' : r.reason);
  return r.object;
}

const WAYPOINTS = ['shop/waypoint', 'shop/other', 'web/waypoint'];
const ctx: TelemetryContext = { rootNamespace: 'istio-system', isWaypoint: (k) => WAYPOINTS.includes(k), waypoints: () => WAYPOINTS };
const off = { accessLogging: [{ disabled: true }] };
const on = { accessLogging: [{ disabled: false }] };

test('access logging: workload selector over namespace over root, per pod', () => {
  const c = compileTelemetry([
    tel('istio-system', 'mesh-default', off),
    tel('shop', 'ns', on),
    tel('shop', 'quiet-db', { selector: { matchLabels: { app: 'db' } }, ...off }),
  ], ctx);
  const cases: [string, Record<string, string>, boolean | undefined][] = [
    ['shop', { app: 'web' }, true], // namespace beats root
    ['shop', { app: 'db' }, false], // selector beats namespace
    ['web', { app: 'web' }, false], // root only
    ['istio-system', {}, false], // the root namespace's own pods
  ];
  for (const [namespace, labels, want] of cases) assert.equal(c.accessLogFor(namespace, labels), want, `${namespace} ${JSON.stringify(labels)}`);
  assert.deepEqual(c.conditions.map((x) => `${x.namespace}/${x.name} ${x.type}=${x.status}`).sort(), [
    'istio-system/mesh-default Accepted=True', 'shop/ns Accepted=True', 'shop/quiet-db Accepted=True',
  ]);
});

test('no Telemetry, or none that sets access logging: the proxy default stands', () => {
  assert.equal(compileTelemetry([], ctx).accessLogFor('shop', {}), undefined);
  const c = compileTelemetry([tel('shop', 'sampling', { tracing: [{ randomSamplingPercentage: 10 }] })], ctx);
  assert.equal(c.accessLogFor('shop', {}), undefined);
  // A selector Telemetry that does not match leaves the namespace's setting.
  const d = compileTelemetry([tel('shop', 'ns', off), tel('shop', 'web', { selector: { matchLabels: { app: 'web' } }, ...on })], ctx);
  assert.equal(d.accessLogFor('shop', { app: 'db' }), false);
  assert.equal(d.accessLogFor('shop', { app: 'web' }), true);
});

test('fields merge level by level: a namespace Telemetry with tracing only keeps the mesh-wide access logging', () => {
  const c = compileTelemetry([
    tel('istio-system', 'mesh-default', { ...off, tracing: [{ randomSamplingPercentage: 5 }] }),
    tel('shop', 'tracing', { tracing: [{ randomSamplingPercentage: 50 }] }),
    tel('shop', 'waypoint', { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], tracing: [{ randomSamplingPercentage: 100 }] }),
  ], ctx);
  assert.deepEqual(c.waypoints, [
    { waypoint: 'shop/waypoint', accessLog: false, tracing: { randomSamplingPercentage: 100 } },
    { waypoint: 'shop/other', accessLog: false, tracing: { randomSamplingPercentage: 50 } },
    { waypoint: 'web/waypoint', accessLog: false, tracing: { randomSamplingPercentage: 5 } },
  ]);
  // targetRefs never select pods.
  assert.equal(c.accessLogFor('shop', { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }), false);
});

test('two Telemetry at one level: the first by name wins; the last usable entry of a list wins', () => {
  const c = compileTelemetry([tel('shop', 'b', on), tel('shop', 'a', off)], ctx);
  assert.equal(c.accessLogFor('shop', {}), false);
  const d = compileTelemetry([tel('shop', 'a', { accessLogging: [{ disabled: true }, { providers: [{ name: 'envoy' }] }] })], ctx);
  assert.equal(d.accessLogFor('shop', {}), true);
});

test('disableSpanReporting and sampling reach the waypoint; nothing applies to waypoints no Telemetry covers', () => {
  const c = compileTelemetry([tel('web', 'quiet', { tracing: [{ disableSpanReporting: true }] })], ctx);
  assert.deepEqual(c.waypoints, [{ waypoint: 'web/waypoint', tracing: { disableSpanReporting: true } }]);
});

test('what weft cannot use is named in the condition, and the rest applies', () => {
  const c = compileTelemetry([
    tel('shop', 'mixed', {
      metrics: [{ overrides: [{ disabled: true }] }],
      accessLogging: [{ providers: [{ name: 'stackdriver' }], disabled: true }, { disabled: true, filter: { expression: 'response.code >= 400' } }],
      tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 0 }, { randomSamplingPercentage: 250 }, { randomSamplingPercentage: 20, customTags: {} }],
    }),
    tel('shop', 'service-target', { targetRefs: [{ kind: 'Service', name: 'web' }], ...off }),
    tel('shop', 'not-a-waypoint', { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'ingress' }], ...off }),
    tel('web', 'both', { selector: { matchLabels: { app: 'x' } }, targetRefs: [{ kind: 'Gateway', name: 'waypoint' }], ...on }),
  ], ctx);
  const byName = new Map(c.conditions.map((x) => [x.name, x]));
  const mixed = byName.get('mixed');
  assert.equal(mixed?.status, 'False');
  assert.equal(mixed.reason, 'UnsupportedValue');
  for (const part of [
    'spec.metrics: not supported by weft',
    'spec.accessLogging[1].filter: not supported by weft',
    'spec.tracing[1].randomSamplingPercentage: expected a percentage from 0 to 100, got number 250',
    'spec.tracing[2].customTags: not supported by weft',
    'spec.accessLogging[0].providers: provider "stackdriver" unknown (weft has envoy)',
    'spec.tracing[0].providers: provider "zipkin" unknown (weft has otel, opentelemetry)',
    'weft ignores these and applies the rest',
  ]) assert.ok(mixed.message.includes(part), `${part} in: ${mixed.message}`);
  // The unknown provider's entry is ignored (access log stays off by the second entry, sampling 20 not 0).
  assert.equal(c.accessLogFor('shop', {}), false);
  assert.deepEqual(c.waypoints.find((w) => w.waypoint === 'shop/other'), { waypoint: 'shop/other', accessLog: false, tracing: { randomSamplingPercentage: 20 } });
  assert.match(byName.get('service-target')?.message ?? '', /spec\.targetRefs\[0\]: only a Gateway \(gateway\.networking\.k8s\.io\) can be a target, got Service/);
  assert.match(byName.get('not-a-waypoint')?.message ?? '', /Gateway shop\/ingress is not a waypoint/);
  assert.match(byName.get('both')?.message ?? '', /spec\.selector: cannot be used together with targetRefs/);
  // With targetRefs only, it covers the waypoint, not the pods its selector names.
  assert.equal(c.accessLogFor('web', { app: 'x' }), undefined);
  assert.deepEqual(c.waypoints.find((w) => w.waypoint === 'web/waypoint'), { waypoint: 'web/waypoint', accessLog: true });
});

test('the model carries access logging on Workloads and the waypoint telemetry to that waypoint alone; a change rebuilds the pods it covers', () => {
  const base = [
    ns('shop', ambient), ns('web', ambient),
    pod('shop', 'cart', { ip: '10.0.0.1', labels: { app: 'cart' } }),
    pod('web', 'front', { ip: '10.0.0.2', labels: { app: 'front' } }),
    gateway('shop', 'waypoint', { address: '10.96.1.1' }),
  ];
  const opts = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };
  const builder = new ModelBuilder();
  const accessLogs = (m: ReturnType<ModelBuilder['build']>): Record<string, boolean | undefined> => {
    const out: Record<string, boolean | undefined> = {};
    for (const r of m.resources.values()) if (r.kind === 'workload') out[r.value.name] = r.value.accessLog;
    return out;
  };
  const before = builder.build(objectsFrom(base), opts);
  assert.deepEqual(accessLogs(before), { cart: undefined, front: undefined });
  const after = builder.build(objectsFrom([
    ...base,
    telemetry('shop', 'quiet', off),
    telemetry('shop', 'traced', { targetRefs: [{ kind: 'Gateway', name: 'waypoint' }], tracing: [{ randomSamplingPercentage: 100 }] }),
  ]), opts);
  assert.deepEqual(accessLogs(after), { cart: false, front: undefined });
  assert.deepEqual(after.resources.get('telemetry/shop/waypoint'), {
    kind: 'telemetry', key: 'shop/waypoint', value: { waypoint: 'shop/waypoint', accessLog: false, tracing: { randomSamplingPercentage: 100 } },
  });
  const index = new ViewIndex(after.resources);
  assert.ok(index.overlay({ kind: 'waypoint', identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' }).resources.has('telemetry/shop/waypoint'));
  assert.equal(index.overlay({ kind: 'ztunnel', node: 'node-1' }).resources.has('telemetry/shop/waypoint'), false);
  // Removed again: the pods return to the default.
  assert.deepEqual(accessLogs(builder.build(objectsFrom(base), opts)), { cart: undefined, front: undefined });
});

const MESH_YAML = `
defaultConfig:
  tracing:
    sampling: 2.5
defaultProviders:
  tracing: [otel-http]
extensionProviders:
- name: otel-http
  opentelemetry:
    service: observability/collector.observability.svc.cluster.local
    port: 4318
    http:
      path: v1/traces
      timeout: 3s
      headers:
      - name: X-Tenant
        value: shop
- name: otel-grpc
  opentelemetry: { service: collector.observability, port: 4317 }
- name: zipkin
  zipkin: { service: zipkin.observability, port: 9411 }
- name: file-log
  envoyFileAccessLog: { path: /var/log/access.log }
`;

test('the mesh config: its default provider and sampling reach every waypoint without a Telemetry, and a Telemetry naming a provider picks it', () => {
  const mesh = parseMeshConfig(MESH_YAML);
  assert.deepEqual(mesh.problems, []);
  const collector = { provider: 'otel-http', url: 'http://collector.observability.svc.cluster.local:4318/v1/traces', headers: { 'x-tenant': 'shop' }, timeoutMs: 3000 };
  const bare = compileTelemetry([], { ...ctx, mesh });
  assert.deepEqual(bare.waypoints.map((w) => w.tracing), WAYPOINTS.map(() => ({ randomSamplingPercentage: 2.5, exporter: collector })));
  assert.equal(bare.accessLogFor('shop', {}), undefined, 'no default access log provider: the proxy default stands');
  assert.deepEqual(bare.conditions, [{ kind: 'MeshConfig', namespace: 'istio-system', name: 'istio', type: 'Accepted', status: 'True', reason: 'Accepted', message: 'applied' }]);

  const c = compileTelemetry([
    // The built-in provider: the waypoint's own --otlp-endpoint, not the mesh default.
    tel('shop', 'own', { tracing: [{ providers: [{ name: 'otel' }], randomSamplingPercentage: 100 }] }),
    // No provider named: inherits the mesh default.
    tel('web', 'rate', { tracing: [{ randomSamplingPercentage: 40 }] }),
    tel('istio-system', 'mesh', { tracing: [{ providers: [{ name: 'otel-grpc' }, { name: 'zipkin' }], randomSamplingPercentage: 7 }], accessLogging: [{ providers: [{ name: 'file-log' }] }] }),
  ], { ...ctx, mesh });
  assert.deepEqual(c.waypoints.find((w) => w.waypoint === 'shop/waypoint')?.tracing, { randomSamplingPercentage: 100 });
  // The root namespace's Telemetry names the gRPC provider; web inherits it with its own rate.
  assert.deepEqual(c.waypoints.find((w) => w.waypoint === 'web/waypoint')?.tracing, {
    randomSamplingPercentage: 40, exporter: { provider: 'otel-grpc', protocol: 'grpc', url: 'http://collector.observability:4317' },
  });
  assert.equal(c.accessLogFor('web', {}), true, 'an envoyFileAccessLog provider turns the access log on');
  const root = c.conditions.find((x) => x.name === 'mesh');
  assert.equal(root?.status, 'False');
  assert.doesNotMatch(root?.message ?? '', /otel-grpc/, 'OTLP/gRPC is exported');
  assert.match(root?.message ?? '', /"zipkin" is zipkin; the waypoint traces to opentelemetry providers only/);
  assert.match(root?.message ?? '', /"file-log": weft writes the access log to stdout, not \/var\/log\/access\.log/);
});

test('an opentelemetry provider without http is OTLP/gRPC: grpc.initialMetadata and grpc.timeout reach the exporter; a malformed http drops the provider', () => {
  const mesh = parseMeshConfig(`
extensionProviders:
- name: g
  opentelemetry:
    service: obs/collector.obs.svc
    port: 4317
    grpc: { timeout: 2s, initialMetadata: [{ name: Authorization, value: Bearer t }] }
`);
  assert.deepEqual(mesh.problems, []);
  const p = mesh.extensionProviders.get('g');
  assert.ok(p?.kind === 'opentelemetry');
  assert.deepEqual(otlpExporter(p), { provider: 'g', protocol: 'grpc', url: 'http://collector.obs.svc:4317', headers: { authorization: 'Bearer t' }, timeoutMs: 2000 });

  const bad = parseMeshConfig(`
extensionProviders:
- name: g
  opentelemetry: { service: c, port: 4317, grpc: { initialMetadata: x } }
- name: h
  opentelemetry: { service: c, port: 4318, http: 5 }
- name: i
  opentelemetry: { service: c, port: 4317, grpc: { initialMetadata: [{ name: key-bin, value: a }, { name: ok, value: "a\\nb" }, { name: fine, value: yes }] } }
`);
  assert.deepEqual(bad.problems, [
    'extensionProviders[0].opentelemetry.grpc.initialMetadata: must be a list of {name, value}',
    'extensionProviders[1].opentelemetry.http: must be an object',
    'extensionProviders[2].opentelemetry.grpc.initialMetadata[0].name: "key-bin" cannot be sent as a gRPC metadata key',
    'extensionProviders[2].opentelemetry.grpc.initialMetadata[1].value: must be printable ASCII',
  ]);
  assert.deepEqual([...bad.extensionProviders.keys()], ['g', 'i'], 'a provider whose transport cannot be read is not guessed at');
  const i = bad.extensionProviders.get('i');
  assert.ok(i?.kind === 'opentelemetry');
  assert.deepEqual(otlpExporter(i).headers, { fine: 'yes' }, 'the good metadata still applies');
});

test('a mesh config with faults: the rest applies and the MeshConfig condition names each', () => {
  const mesh = parseMeshConfig(`
defaultProviders: { tracing: [nowhere], accessLogging: [envoy] }
defaultConfig: { tracing: { sampling: 140 } }
extensionProviders:
- name: a
  opentelemetry: { service: c, port: 99999 }
- name: b
- name: ok
  opentelemetry: { service: c, port: 4318, http: { headers: [{ envName: TOKEN }] } }
- name: ok
  zipkin: {}
`);
  assert.deepEqual([...mesh.extensionProviders.keys()], ['ok']);
  assert.equal(mesh.problems.length, 5, mesh.problems.join('\n'));
  const c = compileTelemetry([], { ...ctx, mesh });
  assert.equal(c.accessLogFor('shop', {}), true, 'defaultProviders.accessLogging turns it on mesh-wide');
  assert.deepEqual(c.waypoints[0], { waypoint: 'shop/waypoint', accessLog: true });
  const [cond] = c.conditions;
  assert.equal(cond?.kind, 'MeshConfig');
  assert.equal(cond?.status, 'False');
  for (const want of [/extensionProviders\[0\]\.opentelemetry\.port: must be a port number/, /extensionProviders\[1\]: must configure exactly one kind/,
    /headers\[0\]: weft reads \{name, value\}/, /a provider named "ok" comes earlier/, /sampling: must be a number from 0 to 100/, /defaultProviders\.tracing: provider "nowhere" unknown \(weft has otel, opentelemetry, ok\)/]) {
    assert.match(cond?.message ?? '', want);
  }
  assert.throws(() => parseMeshConfig('- a list'), /must be a YAML mapping/);
  assert.throws(() => parseMeshConfig('a: [unclosed'));
  assert.equal(parseMeshConfig('').extensionProviders.size, 0);
});

test('the model rebuilds the waypoint telemetry when the mesh config changes', () => {
  const objects = objectsFrom([ns('shop', ambient), gateway('shop', 'waypoint', { address: '10.96.1.1' })]);
  const opts = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' };
  const builder = new ModelBuilder();
  assert.equal(builder.build(objects, opts).resources.has('telemetry/shop/waypoint'), false);
  const m = builder.build(objects, { ...opts, mesh: parseMeshConfig(MESH_YAML) });
  const r = m.resources.get('telemetry/shop/waypoint');
  assert.ok(r?.kind === 'telemetry');
  assert.equal(r.value.tracing?.exporter?.provider, 'otel-http');
  assert.ok(m.conditions.some((x) => x.kind === 'MeshConfig' && x.status === 'True'));
  assert.equal(builder.build(objects, { ...opts, mesh: parseMeshConfig('defaultConfig: {}') }).resources.has('telemetry/shop/waypoint'), false);
});
