import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSubjectAltName, spiffeIdFromSan, trustDomainOf } from '#core/hbone/peer-identity.ts';

test('parseSubjectAltName splits plain and quoted entries', () => {
  assert.deepEqual(parseSubjectAltName('URI:spiffe://cluster.local/ns/a/sa/b, DNS:x.example'),
    [['URI', 'spiffe://cluster.local/ns/a/sa/b'], ['DNS', 'x.example']]);
  assert.deepEqual(parseSubjectAltName('DNS:"a,b", URI:spiffe://td/x'), [['DNS', 'a,b'], ['URI', 'spiffe://td/x']]);
  assert.deepEqual(parseSubjectAltName(''), []);
});

test('spiffeIdFromSan requires one SPIFFE URI in the trust domain', () => {
  const td = 'cluster.local';
  const cases: [string | undefined, string | undefined][] = [
    ['URI:spiffe://cluster.local/ns/a/sa/b', 'spiffe://cluster.local/ns/a/sa/b'],
    ['DNS:a.example, URI:spiffe://cluster.local/ns/a/sa/b', 'spiffe://cluster.local/ns/a/sa/b'],
    [undefined, undefined],
    ['DNS:a.example', undefined],
    ['URI:https://cluster.local/ns/a/sa/b', undefined],
    ['URI:spiffe://other.local/ns/a/sa/b', undefined],
    ['URI:spiffe://cluster.local', undefined],
    ['URI:spiffe://cluster.local/', undefined],
    ['URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/a/sa/c', undefined],
  ];
  for (const [san, want] of cases) {
    const r = spiffeIdFromSan(san, td);
    assert.equal(r.ok ? r.identity : undefined, want, String(san));
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
});

test('trustDomainOf', () => {
  assert.equal(trustDomainOf('spiffe://cluster.local/ns/a/sa/b'), 'cluster.local');
  assert.equal(trustDomainOf('nope'), undefined);
});
