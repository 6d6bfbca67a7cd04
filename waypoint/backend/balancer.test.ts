import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadBalancer } from '#core/config/routes.ts';
import { cookieValue, generatedCookie, hash64, hashKeyValue, maglevTable, pickEndpoint, ringHash, type BalancerState, type HashInput, type PickInput } from './balancer.ts';

const ids = ['a', 'b', 'c', 'd'];

/** A fixed sequence of "random" numbers, repeated. */
function seq(...xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length] ?? 0;
}

function input(over: Partial<PickInput> = {}): PickInput {
  return { candidates: ids, lb: undefined, inFlight: () => 0, random: seq(0), ...over };
}

const req = (headers: Record<string, string>, path = '/', sourceIp = '10.0.0.1'): HashInput => ({ header: (n) => headers[n], path, sourceIp });

describe('pickEndpoint', () => {
  test('round robin walks the candidates in order', () => {
    const state: BalancerState = { cursor: 0 };
    const lb: LoadBalancer = { simple: 'ROUND_ROBIN' };
    const got = Array.from({ length: 6 }, () => pickEndpoint(state, input({ lb })));
    assert.deepEqual(got, ['a', 'b', 'c', 'd', 'a', 'b']);
  });

  const rows: [string, Partial<PickInput>, string | undefined][] = [
    ['no candidate', { candidates: [] }, undefined],
    ['one candidate, whatever the balancer', { candidates: ['x'], lb: { simple: 'RANDOM' } }, 'x'],
    ['random uses the random number', { lb: { simple: 'RANDOM' }, random: seq(0.6) }, 'c'],
    // random 0 → a, then 0.5 → (0 + 1 + 1) % 4 = c: c has fewer in flight.
    ['least request takes the less loaded of two', { lb: { simple: 'LEAST_REQUEST' }, random: seq(0, 0.5), inFlight: (u) => (u === 'a' ? 3 : 1) }, 'c'],
    ['least request keeps the first on a tie', { lb: { simple: 'LEAST_REQUEST' }, random: seq(0, 0.5) }, 'a'],
    ['least request is the default', { random: seq(0.99, 0), inFlight: (u) => (u === 'd' ? 5 : 0) }, 'a'],
    ['a hash with no key in the request picks at random', {
      lb: { consistentHash: { key: { header: 'x-user' }, algorithm: { ringHash: { minimumRingSize: 64 } } } }, random: seq(0.3), hash: req({}),
    }, 'b'],
  ];
  for (const [name, over, want] of rows) {
    test(name, () => assert.equal(pickEndpoint({ cursor: 0 }, input(over)), want));
  }

  for (const algorithm of [{ ringHash: { minimumRingSize: 1024 } }, { maglev: { tableSize: 65537 } }] as const) {
    const name = 'ringHash' in algorithm ? 'ring hash' : 'maglev';
    test(`${name}: one key always reaches one endpoint, and keys spread`, () => {
      const lb: LoadBalancer = { consistentHash: { key: { header: 'x-user' }, algorithm } };
      const state: BalancerState = { cursor: 0 };
      const seen = new Map<string, number>();
      for (let u = 0; u < 400; u++) {
        const first = pickEndpoint(state, input({ lb, hash: req({ 'x-user': `user-${u}` }) }));
        const again = pickEndpoint(state, input({ lb, hash: req({ 'x-user': `user-${u}` }), random: seq(0.9) }));
        assert.equal(again, first);
        if (first !== undefined) seen.set(first, (seen.get(first) ?? 0) + 1);
      }
      assert.deepEqual([...seen.keys()].sort(), ids);
      for (const n of seen.values()) assert.ok(n > 40, `uneven spread: ${[...seen.values()].join(',')}`);
    });

    test(`${name}: losing one endpoint moves its keys and few others`, () => {
      const lb: LoadBalancer = { consistentHash: { key: { sourceIp: true }, algorithm } };
      const before: BalancerState = { cursor: 0 };
      const after: BalancerState = { cursor: 0 };
      let moved = 0;
      for (let u = 0; u < 300; u++) {
        const h = req({}, '/', `10.1.${u >> 8}.${u & 255}`);
        const x = pickEndpoint(before, input({ lb, hash: h }));
        const y = pickEndpoint(after, input({ lb, hash: h, candidates: ['a', 'b', 'c'] }));
        if (x !== 'd') {
          if (x !== y) moved++;
        } else {
          assert.notEqual(y, 'd');
        }
      }
      // Both move some others: the ring because each endpoint's share of points grows (as in
      // Envoy, points per endpoint = ring size / endpoints), Maglev by design.
      assert.ok(moved <= 300 * 0.15, `${moved} keys moved`);
    });
  }
});

describe('hashKeyValue', () => {
  const h = req({ 'x-user': 'jo', cookie: 'a=1; session=abc; b=2' }, '/p?x=1&id=42', '10.9.9.9');
  const rows: [string, Parameters<typeof hashKeyValue>[0], string | undefined][] = [
    ['header (any case in the rule)', { header: 'X-User' }, 'jo'],
    ['missing header', { header: 'x-other' }, undefined],
    ['cookie', { cookie: { name: 'session' } }, 'abc'],
    ['missing cookie', { cookie: { name: 'nope', ttl: 0 } }, undefined],
    ['source IP', { sourceIp: true }, '10.9.9.9'],
    ['query parameter', { queryParameter: 'id' }, '42'],
    ['missing query parameter', { queryParameter: 'q' }, undefined],
  ];
  for (const [name, key, want] of rows) test(name, () => assert.equal(hashKeyValue(key, h), want));
  test('no query at all', () => assert.equal(hashKeyValue({ queryParameter: 'id' }, req({}, '/p')), undefined));
  test('cookie parsing tolerates spaces and no header', () => {
    assert.equal(cookieValue(' x = 1 ;y=2', 'x'), '1');
    assert.equal(cookieValue(undefined, 'x'), undefined);
  });
});

describe('hash tables', () => {
  test('hash64 is stable and 64-bit', () => {
    assert.equal(hash64(''), 0xefd01f60ba992926n);
    assert.equal(hash64('a'), 0x82a2a958a9bece5bn);
  });
  test('a maglev table fills every slot, each endpoint about equally', () => {
    const counts = new Map<string, number>();
    const t = maglevTable(['x', 'y', 'z'], 1009);
    for (let i = 0; i < 1009; i++) {
      const u = t.lookup(BigInt(i));
      assert.ok(u !== undefined);
      counts.set(u, (counts.get(u) ?? 0) + 1);
    }
    for (const n of counts.values()) assert.ok(Math.abs(n - 1009 / 3) <= 2, `${[...counts.values()].join(',')}`);
  });
  test('a ring wraps past its last point', () => {
    const t = ringHash(['x'], 4);
    assert.equal(t.lookup((1n << 64n) - 1n), 'x');
  });
});

describe('generatedCookie', () => {
  const key = (ttl?: number, path?: string): Parameters<typeof generatedCookie>[0] => ({
    cookie: { name: 'sticky', ...(ttl === undefined ? {} : { ttl }), ...(path === undefined ? {} : { path }) },
  });
  test('no ttl: never generated', () => assert.equal(generatedCookie(key(), req({})), undefined));
  test('the cookie is there: nothing to generate', () => assert.equal(generatedCookie(key(60_000), req({ cookie: 'sticky=x' })), undefined));
  test('a header key: nothing to generate', () => assert.equal(generatedCookie({ header: 'x' }, req({})), undefined));
  test('generated from the client address, with Max-Age in seconds and the path', () => {
    const a = generatedCookie(key(60_000, '/'), req({}, '/', '10.0.0.7'));
    assert.ok(a);
    assert.match(a.setCookie, /^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
    // The client sending it back hashes on the same value.
    const back = a.setCookie.split(';')[0]?.split('=').slice(1).join('=');
    assert.equal(back, a.value);
    assert.equal(generatedCookie(key(60_000, '/'), req({}, '/', '10.0.0.7'))?.value, a.value);
  });
  test('ttl 0 is a session cookie', () => {
    assert.match(generatedCookie(key(0), req({}))?.setCookie ?? '', /^sticky="[0-9a-f]{16}"; HttpOnly$/);
  });
});
