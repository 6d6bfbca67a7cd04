// The Prometheus API answer parsers of the test server helper, on answers shaped as the
// server sends them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiData, parseInstant, parseScalarVector, parseTargets } from './prometheus-server.ts';

describe('Prometheus API parsing', () => {
  test('apiData returns data on success and raises the server reason otherwise', () => {
    assert.deepEqual(apiData({ status: 'success', data: { x: 1 } }), { x: 1 });
    assert.throws(() => apiData({ status: 'error', errorType: 'bad_data', error: 'parse error at char 5' }), /bad_data: parse error at char 5/);
    assert.throws(() => apiData('nope'), /not a JSON object/);
  });

  const vector = (result: unknown[]): unknown => ({ resultType: 'vector', result });
  const cases: { name: string; data: unknown; want: number | undefined | RegExp }[] = [
    { name: 'one sample', data: vector([{ metric: {}, value: [1700000000.5, '3'] }]), want: 3 },
    { name: 'fractional', data: vector([{ metric: {}, value: [1, '0.25'] }]), want: 0.25 },
    { name: 'no series yet', data: vector([]), want: undefined },
    { name: 'two samples', data: vector([{ value: [1, '1'] }, { value: [1, '2'] }]), want: /2 samples/ },
    { name: 'matrix', data: { resultType: 'matrix', result: [] }, want: /instant vector/ },
    { name: 'value not a string', data: vector([{ value: [1, 3] }]), want: /without a value/ },
  ];
  for (const c of cases) {
    test(`parseScalarVector: ${c.name}`, () => {
      if (c.want instanceof RegExp) assert.throws(() => parseScalarVector(c.data), c.want);
      else assert.equal(parseScalarVector(c.data), c.want);
    });
  }

  test('parseTargets reads job, instance, health and lastError; missing fields are empty', () => {
    const targets = parseTargets({
      activeTargets: [
        { labels: { job: 'ztunnel', instance: '10.0.0.2:15020' }, health: 'up', lastError: '', scrapeUrl: 'http://10.0.0.2:15020/metrics' },
        { labels: { job: 'control', instance: '127.0.0.1:9' }, health: 'down', lastError: 'expected label name, got "INVALID"' },
        { health: 'unknown' },
      ],
      droppedTargets: [],
    });
    assert.deepEqual(targets, [
      { job: 'ztunnel', address: '10.0.0.2:15020', health: 'up', lastError: '', scrapeUrl: 'http://10.0.0.2:15020/metrics' },
      { job: 'control', address: '127.0.0.1:9', health: 'down', lastError: 'expected label name, got "INVALID"', scrapeUrl: '' },
      { job: '', address: '', health: 'unknown', lastError: '', scrapeUrl: '' },
    ]);
    assert.throws(() => parseTargets({}), /activeTargets/);
    assert.throws(() => parseTargets({ activeTargets: [1] }), /not an object/);
  });

  test('parseInstant reads every sample of a vector, and a scalar as one', () => {
    assert.deepEqual(parseInstant({ resultType: 'vector', result: [{ metric: { pod: 'ztunnel-node1' }, value: [1, '2.5'] }, { metric: {}, value: [1, 'NaN'] }] }),
      [{ metric: { pod: 'ztunnel-node1' }, value: 2.5 }, { metric: {}, value: NaN }]);
    assert.deepEqual(parseInstant({ resultType: 'scalar', result: [1, '4'] }), [{ metric: {}, value: 4 }]);
    assert.deepEqual(parseInstant({ resultType: 'vector', result: [] }), []);
    assert.throws(() => parseInstant({ resultType: 'matrix', result: [] }), /unexpected result type matrix/);
  });
});
