import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateResources } from './validate.ts';
import { sampleWorkload, workloadResource } from './testing.ts';

const telemetry = (value: unknown, key = 'shop/waypoint'): unknown => ({ kind: 'telemetry', key, value });

test('telemetry resources and a workload\'s access-log flag pass the validator as sent', () => {
  const items = [
    telemetry({ waypoint: 'shop/waypoint', accessLog: false, tracing: { randomSamplingPercentage: 12.5, disableSpanReporting: false } }),
    telemetry({ waypoint: 'web/wp' }, 'web/wp'),
    telemetry({ waypoint: 'api/wp', tracing: { exporter: { provider: 'otel', url: 'http://collector.obs:4318/v1/traces', headers: { authorization: 'Bearer x', 'x-empty': '' }, timeoutMs: 5000 } } }, 'api/wp'),
    telemetry({ waypoint: 'obs/wp', tracing: { exporter: { provider: 'otel-grpc', protocol: 'grpc', url: 'http://collector.obs:4317' } } }, 'obs/wp'),
    workloadResource({ ...sampleWorkload(), accessLog: false }),
  ];
  assert.deepEqual(validateResources(JSON.parse(JSON.stringify(items)) as unknown[]), { valid: items, rejected: [] });
});

test('bad telemetry is rejected with its path, the rest applies', () => {
  const cases: [unknown, RegExp][] = [
    [telemetry({ waypoint: 'shop/waypoint', tracing: { randomSamplingPercentage: 101 } }), /value\.tracing\.randomSamplingPercentage: must be a number from 0 to 100/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { randomSamplingPercentage: '5' } }), /randomSamplingPercentage/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { disableSpanReporting: 'yes' } }), /value\.tracing\.disableSpanReporting: must be a boolean/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'grpc://collector:4317' } } }), /value\.tracing\.exporter\.url: must be an http:\/\/ or https:\/\/ URL/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { url: 'http://collector:4318/v1/traces' } } }), /value\.tracing\.exporter\.provider/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://collector:4317', protocol: 'zipkin' } } }), /value\.tracing\.exporter\.protocol: must be grpc/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://c/v1/traces', headers: { 'x tenant': 'a' } } } }), /exporter\.headers: "x tenant" is not a valid HTTP header name/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://c:4317', protocol: 'grpc', headers: { 'token-bin': 'a' } } } }), /exporter\.headers: "token-bin" is not a valid gRPC metadata key/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://c/v1/traces', headers: { a: 'x\r\nb: y' } } } }), /exporter\.headers\["a"\]: must be printable ASCII/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://c/v1/traces', headers: { a: 1 } } } }), /value\.tracing\.exporter\.headers\["a"\]: must be a string/],
    [telemetry({ waypoint: 'shop/waypoint', tracing: { exporter: { provider: 'otel', url: 'http://c/v1/traces', timeoutMs: 0 } } }), /timeoutMs: must be a positive whole number/],
    [telemetry({ waypoint: 'shop/waypoint', accessLog: 'off' }), /value\.accessLog: must be a boolean/],
    [telemetry({ waypoint: 'waypoint' }, 'waypoint'), /value\.waypoint: must be <namespace>\/<name>/],
    [telemetry({ waypoint: 'shop/other' }), /key: must equal value\.waypoint/],
    [workloadResource({ ...sampleWorkload(), accessLog: 'no' as unknown as boolean }), /value\.accessLog: must be a boolean/],
  ];
  for (const [item, reason] of cases) {
    const r = validateResources([item, telemetry({ waypoint: 'ok/wp' }, 'ok/wp')]);
    assert.equal(r.valid.length, 1, String(reason));
    assert.match(r.rejected[0]?.reason ?? '', reason);
  }
});
