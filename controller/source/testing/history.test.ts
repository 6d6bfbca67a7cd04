import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHistory } from '#controller/source/testing/history.ts';
import type { HistoryEvent } from '#controller/source/testing/history.ts';

const ev = (resourceVersion: number, resource = 'pods', namespace = 'shop'): HistoryEvent =>
  ({ resourceVersion, type: 'ADDED', resource, namespace, object: { metadata: { name: `o${resourceVersion}` } } });

/** Versions returned, or 'gone'. */
function read(h: EventHistory, since: number, resource = 'pods', namespace?: string): number[] | 'gone' {
  const r = h.since(since, resource, namespace);
  return r.ok ? r.events.map((e) => e.resourceVersion) : 'gone';
}

test('history: which starting points are served and which are gone', () => {
  const cases: { name: string; limit: number; events: HistoryEvent[]; compactAt?: number; since: number; resource?: string; namespace?: string; want: number[] | 'gone' }[] = [
    { name: 'empty history, any start', limit: 5, events: [], since: 0, want: [] },
    { name: 'all events after the start', limit: 5, events: [ev(2), ev(3), ev(4)], since: 2, want: [3, 4] },
    { name: 'start at the latest: nothing to replay', limit: 5, events: [ev(2), ev(3)], since: 3, want: [] },
    { name: 'other resources filtered out', limit: 5, events: [ev(2), ev(3, 'nodes', ''), ev(4)], since: 1, want: [2, 4] },
    { name: 'other namespaces filtered when asked', limit: 5, events: [ev(2), ev(3, 'pods', 'other')], since: 1, namespace: 'shop', want: [2] },
    { name: 'overflow drops the oldest: a start before them is gone', limit: 2, events: [ev(2), ev(3), ev(4)], since: 1, want: 'gone' },
    { name: 'overflow: a start at the last dropped event is still whole', limit: 2, events: [ev(2), ev(3), ev(4)], since: 2, want: [3, 4] },
    { name: 'compaction: older starts are gone', limit: 5, events: [ev(2), ev(3)], compactAt: 3, since: 2, want: 'gone' },
    { name: 'compaction: a start at the compaction point is fine', limit: 5, events: [ev(2), ev(3)], compactAt: 3, since: 3, want: [] },
    { name: 'compaction keeps later events', limit: 5, events: [ev(2), ev(3), ev(4)], compactAt: 3, since: 3, want: [4] },
  ];
  for (const c of cases) {
    const h = new EventHistory(c.limit);
    for (const e of c.events) h.append(e);
    if (c.compactAt !== undefined) h.compact(c.compactAt);
    assert.deepEqual(read(h, c.since, c.resource, c.namespace), c.want, c.name);
  }
});

test('history: the limit bounds memory and must be positive', () => {
  const h = new EventHistory(3);
  for (let v = 2; v < 100; v++) h.append(ev(v));
  assert.equal(h.size(), 3);
  assert.throws(() => new EventHistory(0), RangeError);
});
