import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition } from '#controller/dashboard/exposition.ts';
import { Registry } from '#core/telemetry/metrics.ts';

test('exposition lines, table', () => {
  const cases: { line: string; want: { name: string; labels: Record<string, string>; value: number } | undefined }[] = [
    { line: 'up 1', want: { name: 'up', labels: {}, value: 1 } },
    { line: 'a_total{x="1",y="two"} 3.5', want: { name: 'a_total', labels: { x: '1', y: 'two' }, value: 3.5 } },
    { line: 'a{x="q\\"u\\\\o\\nte"} 2', want: { name: 'a', labels: { x: 'q"u\\o\nte' }, value: 2 } },
    { line: 'a{x="has } brace",} 4 1700000000000', want: { name: 'a', labels: { x: 'has } brace' }, value: 4 } },
    { line: 'h_bucket{le="+Inf"} 7', want: { name: 'h_bucket', labels: { le: '+Inf' }, value: 7 } },
    { line: 'g -Inf', want: { name: 'g', labels: {}, value: -Infinity } },
    { line: 'g{} 1e3', want: { name: 'g', labels: {}, value: 1000 } },
    { line: 'broken{x="1" 1', want: undefined },
    { line: 'nolabelvalue{x=1} 1', want: undefined },
    { line: 'novalue', want: undefined },
    { line: 'bad value', want: undefined },
    { line: '9name 1', want: undefined },
  ];
  for (const c of cases) {
    const page = parseExposition(c.line);
    if (c.want === undefined) {
      assert.equal(page.samples.length, 0, c.line);
      assert.equal(page.skipped, 1, c.line);
    } else {
      assert.deepEqual(page.samples, [c.want], c.line);
      assert.equal(page.skipped, 0, c.line);
    }
  }
});

test('comments and blank lines are not samples; a bad line does not hide the rest', () => {
  const page = parseExposition('# HELP a x\n# TYPE a counter\n\na 1\nbroken{\nb 2\n');
  assert.deepEqual(page.samples.map((s) => s.name), ['a', 'b']);
  assert.equal(page.skipped, 1);
});

test('a page rendered by the metrics registry reads back', async () => {
  const r = new Registry();
  r.counter('istio_tcp_connections_opened_total', 'x', ['reporter']).inc({ reporter: 'source' }, 2);
  r.histogram('lat_ms', 'y', ['code'], [1, 10]).observe({ code: '200' }, 5);
  const page = parseExposition(await r.render());
  assert.equal(page.skipped, 0);
  assert.equal(page.samples.find((s) => s.name === 'istio_tcp_connections_opened_total')?.value, 2);
  assert.equal(page.samples.find((s) => s.name === 'lat_ms_bucket' && s.labels['le'] === '10')?.value, 1);
  assert.ok(page.samples.some((s) => s.name === 'process_resident_memory_bytes'));
});
