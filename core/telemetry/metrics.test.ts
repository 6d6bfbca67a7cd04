import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, PROMETHEUS_CONTENT_TYPE, Registry } from '#core/telemetry/metrics.ts';

test('counters, gauges and histograms render in the Prometheus text format', async () => {
  const r = new Registry({ processMetrics: false });
  const c = r.counter('istio_tcp_connections_opened_total', 'Opened connections.', ['reporter', 'response_flags']);
  c.inc({ reporter: 'source', response_flags: '-' });
  c.inc({ reporter: 'source', response_flags: '-' }, 2);
  c.inc({ reporter: 'destination', response_flags: 'DENY' });
  const g = r.gauge('weft_enrolled_pods', 'Pods enrolled.');
  g.set({}, 4);
  const h = r.histogram('lat_ms', 'Latency.', ['route'], [10, 1]);
  h.observe({ route: 'a"b' }, 0.5);
  h.observe({ route: 'a"b' }, 5);
  h.observe({ route: 'a"b' }, 50);
  const text = await r.render();
  assert.match(text, /^istio_tcp_connections_opened_total\{reporter="source",response_flags="-"\} 3$/m);
  assert.match(text, /^istio_tcp_connections_opened_total\{reporter="destination",response_flags="DENY"\} 1$/m);
  assert.match(text, /^# TYPE weft_enrolled_pods gauge$/m);
  assert.match(text, /^weft_enrolled_pods 4$/m);
  assert.match(text, /^lat_ms_bucket\{le="1",route="a\\"b"\} 1$/m);
  assert.match(text, /^lat_ms_bucket\{le="10",route="a\\"b"\} 2$/m);
  assert.match(text, /^lat_ms_bucket\{le="\+Inf",route="a\\"b"\} 3$/m);
  assert.match(text, /^lat_ms_sum\{route="a\\"b"\} 55.5$/m);
  assert.equal(await c.value({ reporter: 'source', response_flags: '-' }), 3);
  assert.equal(await c.value({ reporter: 'source', response_flags: 'DENY' }), 0);
  assert.equal(await h.count({ route: 'a"b' }), 3);
  assert.equal(r.contentType, PROMETHEUS_CONTENT_TYPE);
  assert.match(PROMETHEUS_CONTENT_TYPE, /version=0\.0\.4/);
});

test('a child bound to one label set adds to the same series as inc(labels)', async () => {
  const r = new Registry({ processMetrics: false });
  const c = r.counter('x_total', 'x', ['a', 'b']);
  const child = c.child({ a: '1', b: '2' });
  child.inc();
  child.inc(5);
  c.inc({ a: '1', b: '2' });
  assert.equal(await c.value({ a: '1', b: '2' }), 7);
  const h = r.histogram('y_ms', 'y', ['a'], [1]);
  const hc = h.child({ a: 'q' });
  hc.observe(0.5);
  hc.observe(2);
  assert.equal(await h.count({ a: 'q' }), 2);
  // Adds between two scrapes all arrive; a series shows from its first add, even of 0.
  child.inc(3);
  assert.equal(await c.value({ a: '1', b: '2' }), 10);
  c.inc({ a: 'z', b: 'z' }, 0);
  assert.match(await r.render(), /^x_total\{a="z",b="z"\} 0$/m);
  assert.throws(() => c.inc({ a: '1', b: '2' }, -1), /cannot add -1/);
  assert.throws(() => child.inc(Number.NaN), /cannot add NaN/);
  c.remove({ a: '1', b: '2' });
  assert.doesNotMatch(await r.render(), /^x_total\{a="1"/m);
});

test('registering a name twice is refused', () => {
  const r = new Registry({ processMetrics: false });
  r.counter('x_total', 'x');
  assert.throws(() => r.counter('x_total', 'x'), /registered twice/);
  assert.throws(() => r.gauge('x_total', 'x'), /registered twice/);
});

test('a gauge with a collect function reads live state at each scrape, with no timer', async () => {
  const r = new Registry({ processMetrics: false });
  let pods = 0;
  r.gauge('weft_live_pods', 'Pods now.', [], (g) => g.set({}, pods));
  assert.match(await r.render(), /^weft_live_pods 0$/m);
  pods = 3;
  assert.match(await r.render(), /^weft_live_pods 3$/m);
  // A labelled gauge rebuilt from scratch: series that left the state leave the page.
  let certs: Record<string, number> = { a: 1, b: 2 };
  r.gauge('weft_certs', 'c', ['identity'], (g) => {
    g.reset();
    for (const [identity, v] of Object.entries(certs)) g.set({ identity }, v);
  });
  assert.match(await r.render(), /^weft_certs\{identity="b"\} 2$/m);
  certs = { a: 1 };
  assert.doesNotMatch(await r.render(), /identity="b"/);
});

test('the default process and nodejs metrics are on unless turned off', async () => {
  const text = await new Registry().render();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.doesNotMatch(await new Registry({ processMetrics: false }).render(), /process_cpu/);
});

test('children of several counters bound at once add to each counter\'s own series, whatever their label names', async () => {
  const r = new Registry({ processMetrics: false });
  const names = ['a', 'b'] as const;
  const opened = r.counter('opened_total', 'o', names);
  const bytes = r.counter('bytes_total', 'b', ['a', 'b']);
  const other = r.counter('other_total', 'x', ['b', 'a']);
  const [o, b, x] = Counter.children([opened, bytes, other], { a: '1', b: '2' });
  assert.ok(o !== undefined && b !== undefined && x !== undefined);
  o.inc();
  b.inc(100);
  b.inc(20);
  x.inc(7);
  opened.inc({ a: '1', b: '2' });
  assert.equal(await opened.value({ a: '1', b: '2' }), 2);
  assert.equal(await bytes.value({ a: '1', b: '2' }), 120);
  assert.equal(await other.value({ a: '1', b: '2' }), 7);
  // The same label set bound again shares the series.
  const [again] = Counter.children([bytes], { a: '1', b: '2' });
  again?.inc(1);
  assert.equal(await bytes.value({ a: '1', b: '2' }), 121);
  assert.deepEqual(Counter.children([], { a: '1' }), []);
});
