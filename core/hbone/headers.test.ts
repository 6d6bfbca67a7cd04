import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedFor, newTraceparent, pickHboneHeaders } from '#core/hbone/headers.ts';

test('forwardedFor quotes the address and adds host when given', () => {
  assert.equal(forwardedFor('10.0.0.1', 3456), 'for="10.0.0.1:3456"');
  assert.equal(forwardedFor('fd00::1', 80, 'reviews.default.svc.cluster.local'), 'for="[fd00::1]:80";host=reviews.default.svc.cluster.local');
});

test('newTraceparent is a fresh W3C traceparent', () => {
  const a = newTraceparent();
  assert.match(a, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  assert.notEqual(a, newTraceparent());
});

test('pickHboneHeaders keeps only string values', () => {
  assert.deepEqual(pickHboneHeaders({ forwarded: 'for="1.2.3.4:5"', baggage: ['x'], traceparent: 't', other: 'o' }),
    { forwarded: 'for="1.2.3.4:5"', traceparent: 't' });
});
