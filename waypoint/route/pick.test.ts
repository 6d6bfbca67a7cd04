// Weighted backend choice. Scenarios: conformance httproute-weight (70/30/0 within the suite's
// tolerance), httproute-omitted-backendrefs (no backends: nothing to pick, the waypoint answers
// 500), httproute-invalid-* (an invalid backend keeps its share), and the spec's weight rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteBackend } from '#core/config/routes.ts';
import { pickBackend } from '#waypoint/route/pick.ts';

const svc = (name: string, weight: number): RouteBackend => ({ service: `ns/${name}.ns.svc.cluster.local`, port: 8080, weight });
const nameOf = (b: RouteBackend | undefined): string => (b === undefined ? 'none' : 'service' in b ? (b.service.split('/')[1]?.split('.')[0] ?? '?') : 'invalid');
const fixed = (r: number) => (): number => r;

test('pickBackend: shares follow weight/sum, weight 0 never, no weight at all picks none', () => {
  const rows: [string, RouteBackend[], number, string][] = [
    ['single backend takes everything', [svc('a', 1)], 0.99, 'a'],
    ['weights split the range in order', [svc('a', 70), svc('b', 30)], 0.69, 'a'],
    ['  ... and the rest goes to the next', [svc('a', 70), svc('b', 30)], 0.7, 'b'],
    ['weight 0 is skipped even at the start of the range', [svc('z', 0), svc('a', 1)], 0, 'a'],
    ['weight 0 is skipped at the end', [svc('a', 1), svc('z', 0)], 0.999, 'a'],
    ['all weights 0: nothing (500)', [svc('a', 0), svc('b', 0)], 0.5, 'none'],
    ['no backends: nothing (500)', [], 0.5, 'none'],
    ['an invalid backend keeps its share (its requests get 500)', [svc('a', 1), { invalid: 'not found', weight: 1 }], 0.75, 'invalid'],
    ['weights are not percentages', [svc('a', 1), svc('b', 3)], 0.3, 'b'],
    ['a random source returning 1 still lands on a weighted backend', [svc('a', 1), svc('b', 1), svc('z', 0)], 1, 'b'],
  ];
  for (const [name, backends, r, want] of rows) assert.equal(nameOf(pickBackend(backends, fixed(r))), want, name);
});

test('httproute-weight: 70/30/0 over many requests stays within the conformance tolerance', () => {
  const backends = [svc('v1', 70), svc('v2', 30), svc('v3', 0)];
  // A deterministic, evenly spread sequence (golden-ratio steps) stands in for Math.random.
  let x = 0;
  const random = (): number => (x = (x + 0.6180339887498949) % 1);
  const counts = new Map<string, number>();
  const n = 1000;
  for (let i = 0; i < n; i++) {
    const name = nameOf(pickBackend(backends, random));
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  assert.ok(Math.abs((counts.get('v1') ?? 0) / n - 0.7) <= 0.05);
  assert.ok(Math.abs((counts.get('v2') ?? 0) / n - 0.3) <= 0.05);
  assert.equal(counts.get('v3'), undefined);
});
