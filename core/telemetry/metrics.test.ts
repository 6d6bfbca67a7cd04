import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '#core/telemetry/metrics.ts';

test('counters, gauges and histograms render in the Prometheus text format', () => {
  const r = new Registry();
  const c = r.counter('istio_tcp_connections_opened_total', 'Opened connections.', ['reporter', 'response_flags']);
  c.inc({ reporter: 'source', response_flags: '-' });
  c.inc({ reporter: 'source', response_flags: '-' }, 2);
  c.inc({ reporter: 'destination', response_flags: 'DENY' });
  const g = r.gauge('weft_enrolled_pods', 'Pods enrolled.');
  g.set({}, 4);
  const h = r.histogram('lat_ms', 'Latency.', ['route'], [1, 10]);
  h.observe({ route: 'a"b' }, 0.5);
  h.observe({ route: 'a"b' }, 5);
  h.observe({ route: 'a"b' }, 50);
  const text = r.render();
  assert.match(text, /^istio_tcp_connections_opened_total\{reporter="source",response_flags="-"\} 3$/m);
  assert.match(text, /^istio_tcp_connections_opened_total\{reporter="destination",response_flags="DENY"\} 1$/m);
  assert.match(text, /^# TYPE weft_enrolled_pods gauge$/m);
  assert.match(text, /^weft_enrolled_pods 4$/m);
  assert.match(text, /^lat_ms_bucket\{route="a\\"b",le="1"\} 1$/m);
  assert.match(text, /^lat_ms_bucket\{route="a\\"b",le="10"\} 2$/m);
  assert.match(text, /^lat_ms_bucket\{route="a\\"b",le="\+Inf"\} 3$/m);
  assert.match(text, /^lat_ms_sum\{route="a\\"b"\} 55.5$/m);
  assert.equal(c.get({ reporter: 'source', response_flags: '-' }), 3);
});

test('registering a name twice is refused', () => {
  const r = new Registry();
  r.counter('x_total', 'x');
  assert.throws(() => r.counter('x_total', 'x'), /registered twice/);
});

test('a gauge with a collect function reads live state at each scrape, with no timer', () => {
  const r = new Registry();
  let pods = 0;
  r.gauge('weft_live_pods', 'Pods now.', [], (g) => g.set({}, pods));
  assert.match(r.render(), /^weft_live_pods 0$/m);
  pods = 3;
  assert.match(r.render(), /^weft_live_pods 3$/m);
});
