// The value rules shared by the VirtualService and DestinationRule models, from Istio's API
// text: durations "1h/1m/1s/1ms, MUST be >=1ms", Percent "in the range [0.0, 100.0]" handed
// to Envoy per million, short names "interpreted based on the namespace of the rule",
// wildcard hosts, exportTo "." and "*", and the literal patterns prefix matches become.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldError } from '#core/config/fields.ts';
import { compileRouteRegex } from '#core/config/routes.ts';
import {
  duration, exportedTo, hostMatches, hostProblem, hostSpecificity, literalPattern, parseIstioDuration, percentage, resolveHost,
} from '#controller/model/istio-fields.ts';

test('parseIstioDuration: the Go syntax Istio CRDs accept, in milliseconds', () => {
  const rows: [string, number | undefined][] = [
    ['1h', 3_600_000], ['1m', 60_000], ['1s', 1000], ['1ms', 1], ['1.5s', 1500], ['0.5s', 500], ['.5s', 500], ['1h30m', 5_400_000],
    ['100ms', 100], ['250us', 0.25], ['0', 0], ['0s', 0], ['2m3s', 123_000],
    ['', undefined], ['5', undefined], ['1d', undefined], ['-1s', undefined], ['1 s', undefined], ['s', undefined], ['1.2.3s', undefined],
  ];
  for (const [text, want] of rows) assert.equal(parseIstioDuration(text), want, text);
});

test('duration: at least 1ms unless 0 is allowed, whole milliseconds on the wire', () => {
  const read = (v: unknown, min?: number): number | undefined => duration({ d: v }, 'd', 'x', min);
  assert.equal(read('30ms'), 30);
  assert.equal(read('1.4ms'), 1);
  assert.equal(read('0s', 0), 0);
  assert.equal(read('500us', 0), 1);
  assert.equal(read(undefined), undefined);
  for (const bad of ['0s', '500us', 10, 'soon']) assert.throws(() => read(bad), FieldError, String(bad));
});

test('percentage: 0-100 as parts per million, as Istio hands it to Envoy', () => {
  const read = (v: unknown): unknown => percentage({ p: v }, 'p', 'x');
  assert.deepEqual(read({ value: 0.1 }), { numerator: 1000, denominator: 1_000_000 });
  assert.deepEqual(read({ value: 100 }), { numerator: 1_000_000, denominator: 1_000_000 });
  assert.deepEqual(read({ value: 50 }), { numerator: 500_000, denominator: 1_000_000 });
  assert.deepEqual(read({}), { numerator: 0, denominator: 1_000_000 });
  assert.equal(read(undefined), undefined);
  for (const bad of [{ value: 101 }, { value: -1 }, { value: '5' }, { percent: 5 }]) assert.throws(() => read(bad), FieldError, JSON.stringify(bad));
});

test('resolveHost: short names take the object\'s namespace; cluster DNS forms are completed', () => {
  const rows: [string, string][] = [
    ['reviews', 'reviews.default.svc.cluster.local'],
    ['Reviews', 'reviews.default.svc.cluster.local'],
    ['reviews.prod', 'reviews.prod.svc.cluster.local'],
    ['reviews.prod.svc', 'reviews.prod.svc.cluster.local'],
    ['reviews.prod.svc.cluster.local', 'reviews.prod.svc.cluster.local'],
    ['*', '*'],
    ['*.prod.svc.cluster.local', '*.prod.svc.cluster.local'],
    ['www.example.com', 'www.example.com'],
  ];
  for (const [host, want] of rows) assert.equal(resolveHost(host, 'default'), want, host);
  for (const bad of ['', 'a..b', 'foo*.com', '*foo', 'a/b', 'x'.repeat(254)]) assert.notEqual(hostProblem(bad), undefined, bad);
  for (const good of ['*', '*.com', 'reviews', 'a-b.c']) assert.equal(hostProblem(good), undefined, good);
});

test('hostMatches and hostSpecificity: exact, "*", "*.suffix"; an exact name beats every wildcard', () => {
  const fqdn = 'reviews.prod.svc.cluster.local';
  const rows: [string, boolean][] = [
    [fqdn, true], ['*', true], ['*.prod.svc.cluster.local', true], ['*.svc.cluster.local', true], ['*.cluster.local', true],
    ['*.other.svc.cluster.local', false], ['ratings.prod.svc.cluster.local', false], ['*.reviews.prod.svc.cluster.local', false],
  ];
  for (const [pattern, want] of rows) assert.equal(hostMatches(pattern, fqdn), want, pattern);
  assert.ok(hostSpecificity(fqdn) > hostSpecificity('*.prod.svc.cluster.local'));
  assert.ok(hostSpecificity('*.prod.svc.cluster.local') > hostSpecificity('*.svc.cluster.local'));
  assert.ok(hostSpecificity('*.svc.cluster.local') > hostSpecificity('*'));
});

test('exportedTo: none listed is everywhere, "." the own namespace, "*" everywhere, "~" nowhere', () => {
  const rows: [string[], string, boolean][] = [
    [[], 'other', true], [['*'], 'other', true], [['.'], 'shop', true], [['.'], 'other', false],
    [['other'], 'other', true], [['other'], 'third', false], [['~'], 'shop', false], [['.', 'other'], 'other', true],
  ];
  for (const [exportTo, viewer, want] of rows) assert.equal(exportedTo(exportTo, 'shop', viewer), want, `${exportTo.join(',')} → ${viewer}`);
});

test('literalPattern: a literal in the route regex dialect matches itself only', () => {
  for (const s of ['/api/v1', '/a.b', '/x+y(z)?', 'a|b', '[x]', '{1}', '^$', 'a\\b', '/ünï']) {
    const re = compileRouteRegex(literalPattern(s));
    assert.ok(re.test(s), s);
    assert.ok(!re.test(`${s}x`), s);
  }
  assert.ok(compileRouteRegex(`${literalPattern('/a.b')}.*`).test('/a.b/c'));
  assert.ok(!compileRouteRegex(`${literalPattern('/a.b')}.*`).test('/aXb/c'));
});
