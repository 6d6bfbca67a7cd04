import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { ClusterNames, MAX_CHAIN_NAME, MAX_LINK_NAME, clusterPrefix, linkName } from './naming.ts';

test('short alphanumeric names are their own prefix; others get 2 chars + 4 hex', () => {
  const cases: [string, RegExp][] = [
    ['weft', /^weft$/],
    ['e2e', /^e2e$/],
    ['abcde', /^abcde$/],
    ['abcdef', /^ab[0-9a-f]{4}$/],
    ['my-cluster', /^my[0-9a-f]{4}$/],
    ['a-b', /^ab[0-9a-f]{4}$/],
    ['1-bench-cluster-with-a-long-name', /^1b[0-9a-f]{4}$/],
  ];
  for (const [name, want] of cases) assert.match(clusterPrefix(name), want, name);
  assert.notEqual(clusterPrefix('a-b'), clusterPrefix('ab'));
  assert.notEqual(clusterPrefix('test-one'), clusterPrefix('test-two'));
  assert.equal(clusterPrefix('test-one'), clusterPrefix('test-one'));
});

test('bad cluster names are refused', () => {
  for (const bad of ['', 'Upper', '-lead', 'trail-', 'has space', 'a'.repeat(33), 'dot.ted']) {
    assert.throws(() => clusterPrefix(bad), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_NAME'), bad);
  }
});

test('every link name fits in 15 characters at the longest prefix', () => {
  const names = new ClusterNames(clusterPrefix('a-very-long-cluster-name'));
  const links = [
    names.bridge, names.hostLink, names.hostBridgePort,
    names.nodeLink(200), names.nodeBridgePort(200),
    names.podHostLink(36 ** 7 - 1), names.podLink(36 ** 7 - 1),
  ];
  for (const l of links) {
    assert.ok(l.length <= MAX_LINK_NAME, `${l} is ${l.length} chars`);
    assert.ok(l.startsWith(names.ownedPrefix), l);
  }
  assert.equal(new Set(links).size, links.length);
});

test('linkName refuses names over the kernel limit', () => {
  assert.equal(linkName('abcdef', 'p12345a'), 'abcdef-p12345a');
  assert.throws(() => linkName('abcdef', 'p123456789'), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_NAME_TOO_LONG'));
});

test('netns and chain names carry the prefix and stay apart', () => {
  const n = new ClusterNames('ab12cd');
  assert.equal(n.underlayNetns, 'ab12cd-underlay');
  assert.equal(n.nodeNetns('node1'), 'ab12cd-node1');
  // ns "a-b"/pod "c" and ns "a"/pod "b-c" must not meet.
  assert.notEqual(n.podNetns('a-b', 'c'), n.podNetns('a', 'b-c'));
  assert.equal(n.podNetns('default', 'echo.v1'), 'ab12cd-default.echo.v1');
  for (const c of [n.servicesChain, n.postroutingChain, n.serviceChain('ns/name:80'), n.endpointChain('ns/name:80:10.0.0.1')]) {
    assert.ok(c.length <= MAX_CHAIN_NAME, c);
    assert.ok(c.startsWith('ab12cd-'), c);
  }
  assert.notEqual(n.serviceChain('a/b:80'), n.serviceChain('a/b:81'));
});
