// Trace header parsing and injection, the span attributes, the tracing flags, and one span
// exported through the SDK's OTLP/HTTP exporter to the in-repo receiver on loopback.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OtlpGrpcReceiver } from '#test/waypoint/otlp-grpc-receiver.ts';
import { OtlpReceiver } from '#test/waypoint/otlp-receiver.ts';
import { parseWaypointConfig } from '#waypoint/config.ts';
import type { HeaderMap } from '#waypoint/request/plan-types.ts';
import {
  WaypointTracing, incomingTrace, injectTrace, parseB3Single, parseTraceparent, spanAttributes, spanName, upstreamCluster,
  type RequestSummary, type TraceParent,
} from '#waypoint/telemetry/traces.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  const cases: [string, string | undefined, Partial<TraceParent> | undefined][] = [
    ['sampled', `00-${T}-${S}-01`, { traceId: T, spanId: S, sampled: true, format: 'w3c' }],
    ['not sampled', `00-${T}-${S}-00`, { sampled: false }],
    ['upper case is read', `00-${T.toUpperCase()}-${S}-01`, { traceId: T }],
    ['a later version may add fields', `01-${T}-${S}-01-extra`, { traceId: T }],
    ['version 00 has exactly four fields', `00-${T}-${S}-01-extra`, undefined],
    ['version ff is invalid', `ff-${T}-${S}-01`, undefined],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${S}-01`, undefined],
    ['all-zero span id', `00-${T}-${'0'.repeat(16)}-01`, undefined],
    ['short trace id', `00-${T.slice(2)}-${S}-01`, undefined],
    ['not hex', `00-${T.replace('4', 'x')}-${S}-01`, undefined],
    ['absent', undefined, undefined],
    ['garbage', 'hello', undefined],
  ];
  for (const [name, value, want] of cases) {
    test(name, () => {
      const got = parseTraceparent(value);
      if (want === undefined) assert.equal(got, undefined);
      else {
        assert.ok(got);
        for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof TraceParent], v, k);
      }
    });
  }
});

describe('B3', () => {
  const cases: [string, string, Partial<TraceParent> | undefined][] = [
    ['128-bit, sampled', `${T}-${S}-1`, { traceId: T, spanId: S, sampled: true, format: 'b3-single' }],
    ['64-bit trace id is padded', `a3ce929d0e0e4736-${S}-0`, { traceId: `${'0'.repeat(16)}a3ce929d0e0e4736`, sampled: false }],
    ['debug samples', `${T}-${S}-d`, { sampled: true }],
    ['no decision', `${T}-${S}`, { sampled: undefined }],
    ['with parent span id', `${T}-${S}-1-${S}`, { spanId: S }],
    ['a lone decision has no parent', '0', undefined],
  ];
  for (const [name, value, want] of cases) {
    test(name, () => {
      const got = parseB3Single(value);
      if (want === undefined) assert.equal(got, undefined);
      else {
        assert.ok(got);
        for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof TraceParent], v, k);
      }
    });
  }

  test('multi-header form, x-b3-flags: 1 forces sampling', () => {
    const h: Record<string, string> = { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '0', 'x-b3-flags': '1' };
    assert.deepEqual(incomingTrace((n) => h[n]), { traceId: T, spanId: S, sampled: true, format: 'b3-multi' });
  });

  test('traceparent wins over B3', () => {
    const h: Record<string, string> = { traceparent: `00-${T}-${S}-01`, b3: `${'1'.repeat(32)}-${S}-1` };
    assert.equal(incomingTrace((n) => h[n])?.traceId, T);
  });
});

describe('injectTrace', () => {
  const span = { traceId: T, spanId: 'b7ad6b7169203331', sampled: true };
  test('traceparent always, B3 rewritten in the form it came', () => {
    const w3c: HeaderMap = { traceparent: `00-${T}-${S}-01` };
    injectTrace(w3c, span, 'w3c');
    assert.deepEqual(w3c, { traceparent: `00-${T}-b7ad6b7169203331-01` });
    const single: HeaderMap = { b3: `${T}-${S}-1` };
    injectTrace(single, span, 'b3-single');
    assert.equal(single['b3'], `${T}-b7ad6b7169203331-1`);
    const multi: HeaderMap = { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-parentspanid': '1111111111111111', 'x-b3-flags': '1' };
    injectTrace(multi, { ...span, sampled: false }, 'b3-multi');
    assert.deepEqual(multi, { 'x-b3-traceid': T, 'x-b3-spanid': 'b7ad6b7169203331', 'x-b3-sampled': '0', traceparent: `00-${T}-b7ad6b7169203331-00` });
  });
});

const summary: RequestSummary = {
  method: 'GET', url: 'http://echo.shop.svc.cluster.local/a?b=1', protocol: 'http', status: 503, flags: 'UH',
  requestId: 'rid', userAgent: 'curl/8', sourceAddress: '10.0.0.5',
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/sleep', destinationPrincipal: undefined,
  service: { hostname: 'echo.shop.svc.cluster.local', port: 80, namespace: 'shop' }, upstreamHost: undefined,
  requestBytes: 10, responseBytes: 20, grpcStatus: undefined,
};

describe('span attributes', () => {
  test("Envoy's and Istio's tags", () => {
    const a = spanAttributes(summary, { namespace: 'shop', name: 'waypoint', meshId: 'cluster.local' });
    assert.equal(a['upstream_cluster'], 'outbound|80||echo.shop.svc.cluster.local');
    assert.equal(a['http.method'], 'GET');
    assert.equal(a['http.url'], 'http://echo.shop.svc.cluster.local/a?b=1');
    assert.equal(a['http.status_code'], '503');
    assert.equal(a['response_flags'], 'UH');
    assert.equal(a['error'], 'true');
    assert.equal(a['guid:x-request-id'], 'rid');
    assert.equal(a['source.principal'], 'spiffe://cluster.local/ns/shop/sa/sleep');
    assert.equal('destination.principal' in a, false);
    assert.equal(a['istio.namespace'], 'shop');
  });
  test('no Service: passthrough', () => {
    assert.equal(upstreamCluster(undefined), 'PassthroughCluster');
    assert.equal(spanName(undefined, '10.0.0.9:8080'), '10.0.0.9:8080/*');
    assert.equal(spanName(summary.service, 'echo'), 'echo.shop.svc.cluster.local:80/*');
  });
});

describe('tracing flags', () => {
  const base = ['--namespace', 'shop', '--name', 'waypoint', '--controller', 'https://10.0.0.1:15012', '--token-file', '/t', '--root-cert', '/r'];
  test('off by default, 1 % sampling', () => {
    const c = parseWaypointConfig(base, {});
    assert.equal(c.otlpEndpoint, undefined);
    assert.equal(c.traceSamplingPercentage, 1);
  });
  test('flag and environment', () => {
    const c = parseWaypointConfig([...base, '--trace-sampling-percentage', '12.5'], { WEFT_OTLP_ENDPOINT: 'http://collector:4318/v1/traces' });
    assert.equal(c.otlpEndpoint, 'http://collector:4318/v1/traces');
    assert.equal(c.traceSamplingPercentage, 12.5);
  });
  for (const [flag, value] of [['--otlp-endpoint', 'collector:4318'], ['--trace-sampling-percentage', '101'], ['--trace-sampling-percentage', '-1']] as const) {
    test(`${flag} ${value} is refused`, () => {
      assert.throws(() => parseWaypointConfig([...base, flag, value], {}), { code: 'WEFT_ERR_WAYPOINT_CONFIG' });
    });
  }
});

describe('WaypointTracing', () => {
  test('continues the caller’s trace, points the backend at its span, and exports over OTLP/HTTP', async () => {
    const receiver = await OtlpReceiver.start('127.0.0.1');
    const tracing = new WaypointTracing({ endpoint: receiver.url, samplingPercentage: 0, namespace: 'shop', name: 'waypoint', batchDelayMs: 50 });
    try {
      const incoming: Record<string, string> = { traceparent: `00-${T}-${S}-01` };
      const span = tracing.start((n) => incoming[n], 'echo.shop.svc.cluster.local:80/*');
      const out: HeaderMap = {};
      span.inject(out);
      assert.equal(out['traceparent'], `00-${T}-${span.spanId}-01`);
      span.end({ ...summary, status: 200, flags: '-' });
      // Not sampled by the caller, and 0 % for new traces: nothing is exported for these.
      const unsampled = tracing.start((n) => ({ traceparent: `00-${T}-${S}-00` } as Record<string, string>)[n], 'x');
      assert.equal(unsampled.sampled, false);
      unsampled.end(summary);
      const fresh = tracing.start(() => undefined, 'y');
      assert.equal(fresh.sampled, false);
      fresh.end(summary);
      await tracing.close();
      assert.deepEqual(receiver.rejected, []);
      assert.equal(receiver.spans.length, 1);
      const [got] = receiver.spans;
      assert.ok(got);
      assert.equal(got.traceId, T);
      assert.equal(got.parentSpanId, S);
      assert.equal(got.spanId, span.spanId);
      assert.equal(got.name, 'echo.shop.svc.cluster.local:80/*');
      assert.equal(got.kind, 2, 'SPAN_KIND_SERVER');
      assert.equal(got.attributes['upstream_cluster'], 'outbound|80||echo.shop.svc.cluster.local');
      assert.equal(got.attributes['http.status_code'], '200');
      assert.equal(got.resource['service.name'], 'waypoint.shop');
      assert.ok(got.endTimeUnixNano >= got.startTimeUnixNano);
    } finally {
      await tracing.close();
      await receiver.close();
    }
  });

  test('an undecided B3 parent is continued at the configured rate', async () => {
    const receiver = await OtlpReceiver.start('127.0.0.1');
    const tracing = new WaypointTracing({ endpoint: receiver.url, samplingPercentage: 100, namespace: 'shop', name: 'waypoint', random: () => 0.5 });
    try {
      const span = tracing.start((n) => ({ b3: `${T}-${S}` } as Record<string, string>)[n], 'x');
      assert.equal(span.traceId, T);
      assert.equal(span.sampled, true);
      const out: HeaderMap = { b3: `${T}-${S}` };
      span.inject(out);
      assert.equal(out['b3'], `${T}-${span.spanId}-1`);
    } finally {
      await tracing.close();
      await receiver.close();
    }
  });
  test('pushed settings change the sampling rate and span reporting live, and a cleared setting returns to the default', async () => {
    const receiver = await OtlpReceiver.start('127.0.0.1');
    const tracing = new WaypointTracing({ endpoint: receiver.url, samplingPercentage: 0, namespace: 'shop', name: 'waypoint', batchDelayMs: 10 });
    const summary: RequestSummary = {
      method: 'GET', url: 'http://echo/', protocol: 'http', status: 200, flags: '-', requestId: undefined, userAgent: undefined, sourceAddress: '10.0.0.1',
      sourcePrincipal: undefined, destinationPrincipal: undefined, service: undefined, upstreamHost: undefined, requestBytes: 0, responseBytes: 0, grpcStatus: undefined,
    };
    try {
      assert.equal(tracing.start(() => undefined, 'a').sampled, false, 'the configured 0 %');
      tracing.configure({ randomSamplingPercentage: 100 });
      assert.equal(tracing.samplingPercentage, 100);
      const sampled = tracing.start(() => undefined, 'b');
      assert.equal(sampled.sampled, true);
      sampled.end(summary);
      // Not reported: still sampled and propagated, never sent.
      tracing.configure({ randomSamplingPercentage: 100, disableSpanReporting: true });
      const quiet = tracing.start(() => undefined, 'c');
      assert.equal(quiet.sampled, true);
      const out: HeaderMap = {};
      quiet.inject(out);
      assert.match(String(out['traceparent']), new RegExp(`^00-${quiet.traceId}-${quiet.spanId}-01$`));
      quiet.end(summary);
      tracing.configure({});
      assert.equal(tracing.samplingPercentage, 0);
      assert.equal(tracing.start(() => undefined, 'd').sampled, false);
      await tracing.close();
      assert.deepEqual(receiver.spans.map((s) => s.traceId), [sampled.traceId]);
    } finally {
      await tracing.close();
      await receiver.close();
    }
  });

  test('a pushed exporter takes the spans from the next request on, the configured one returns when it is cleared, and none means no tracing', async () => {
    const configured = await OtlpReceiver.start('127.0.0.1');
    const pushed = await OtlpReceiver.start('127.0.0.1');
    const tracing = new WaypointTracing({ endpoint: configured.url, samplingPercentage: 100, namespace: 'shop', name: 'waypoint', batchDelayMs: 10 });
    const none = new WaypointTracing({ endpoint: undefined, samplingPercentage: 100, namespace: 'shop', name: 'waypoint', batchDelayMs: 10 });
    const send = (t: WaypointTracing): string => {
      const span = t.start(() => undefined, 'x');
      span.end(summary);
      return span.traceId;
    };
    try {
      const first = send(tracing);
      tracing.configure({ exporter: { provider: 'otel', url: pushed.url, headers: { 'x-tenant': 'shop' }, timeoutMs: 2000 } });
      assert.deepEqual(tracing.exporter, { provider: 'otel', url: pushed.url, headers: { 'x-tenant': 'shop' }, timeoutMs: 2000 });
      const second = send(tracing);
      tracing.configure({});
      assert.equal(tracing.exporter?.url, configured.url);
      const third = send(tracing);

      assert.equal(none.active, false, 'no endpoint and nothing pushed');
      none.configure({ exporter: { provider: 'otel', url: pushed.url } });
      assert.equal(none.active, true);
      const fourth = send(none);
      none.configure({});
      assert.equal(none.active, false, 'cleared: back to no exporter');

      await Promise.all([tracing.close(), none.close()]);
      assert.deepEqual(configured.spans.map((s) => s.traceId).sort(), [first, third].sort());
      assert.deepEqual(pushed.spans.map((s) => s.traceId).sort(), [second, fourth].sort());
      assert.deepEqual([...configured.rejected, ...pushed.rejected], []);
    } finally {
      await Promise.all([tracing.close(), none.close()]);
      await Promise.all([configured.close(), pushed.close()]);
    }
  });

  test('a pushed OTLP/gRPC exporter sends protobuf spans over gRPC, its headers as metadata, with Istio attributes intact', async () => {
    const collector = await OtlpGrpcReceiver.start('127.0.0.1');
    const tracing = new WaypointTracing({ endpoint: undefined, samplingPercentage: 100, namespace: 'shop', name: 'waypoint', batchDelayMs: 10 });
    try {
      tracing.configure({ exporter: { provider: 'otel-grpc', protocol: 'grpc', url: collector.url, headers: { 'x-tenant': 'shop' } } });
      const span = tracing.start((n) => (n === 'traceparent' ? `00-${T}-${S}-01` : undefined), 'echo.shop.svc.cluster.local:80/*');
      span.end(summary);
      await tracing.close();
      assert.deepEqual(collector.rejected, []);
      const [got] = collector.spans;
      assert.ok(got !== undefined, 'the span arrived');
      assert.equal(got.traceId, T);
      assert.equal(got.parentSpanId, S);
      assert.equal(got.spanId, span.spanId);
      assert.equal(got.name, 'echo.shop.svc.cluster.local:80/*');
      assert.equal(got.kind, 2, 'SERVER');
      assert.ok(got.endTimeUnixNano >= got.startTimeUnixNano && got.startTimeUnixNano > 0n);
      assert.equal(got.resource['service.name'], 'waypoint.shop');
      assert.equal(got.attributes['http.status_code'], String(summary.status));
      assert.equal(got.statusCode, 2, 'a 503 is an error span');
      assert.equal(collector.headers[0]?.['x-tenant'], 'shop');
    } finally {
      await tracing.close();
      await collector.close();
    }
  });
});
