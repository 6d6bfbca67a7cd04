import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterNames } from './naming.ts';
import { HAIRPIN_MARK, endpointProbability, renderServiceRules, type NodeRuleInput } from './service-rules.ts';

const names = new ClusterNames('tst');
const base: NodeRuleInput = {
  names, nodeIp: '192.168.200.11', podGateway: '10.224.1.1', hostIp: '192.168.200.1',
  services: [], staleChains: [], installJumps: false,
};

test('probabilities give every endpoint an equal share', () => {
  const table: [number, number, string][] = [
    [0, 2, '0.5000000000'], [0, 3, '0.3333333333'], [1, 3, '0.5000000000'], [0, 4, '0.2500000000'], [2, 4, '0.5000000000'],
  ];
  for (const [i, n, want] of table) assert.equal(endpointProbability(i, n), want, `${i}/${n}`);
});

test('no services: only the base chains and SNAT rules, jumps on first render', () => {
  const { text, chains } = renderServiceRules({ ...base, installJumps: true });
  assert.deepEqual(chains, []);
  assert.equal(text, [
    '*nat',
    ':tst-SERVICES - [0:0]',
    ':tst-POSTROUTING - [0:0]',
    '-A PREROUTING -m comment --comment "weft tst services" -j tst-SERVICES',
    '-A OUTPUT -m comment --comment "weft tst services" -j tst-SERVICES',
    '-A POSTROUTING -m comment --comment "weft tst services" -j tst-POSTROUTING',
    '-A tst-POSTROUTING -m mark --mark 0x4000/0x4000 -j SNAT --to-source 10.224.1.1',
    '-A tst-POSTROUTING -s 192.168.200.1/32 -m conntrack --ctstate DNAT -j SNAT --to-source 192.168.200.11',
    'COMMIT',
    '',
  ].join('\n'));
  assert.equal(HAIRPIN_MARK & 0x539, 0);
  assert.equal(HAIRPIN_MARK & 0x111, 0);
});

test('jumps are not repeated on later renders', () => {
  const { text } = renderServiceRules(base);
  assert.doesNotMatch(text, /-A PREROUTING/);
  assert.doesNotMatch(text, /-A OUTPUT/);
});

test('a service with three endpoints: random balancing, DNAT to targetPort, hairpin mark', () => {
  const { text, chains } = renderServiceRules({
    ...base,
    services: [{
      namespace: 'default', name: 'echo', vip: '10.96.0.10',
      ports: [{ port: 80, targetPort: 8080, name: 'http' }],
      endpoints: ['10.224.1.2', '10.224.2.2', '10.224.2.3'],
    }],
  });
  const svc = names.serviceChain('default/echo:80');
  const seps = ['10.224.1.2', '10.224.2.2', '10.224.2.3'].map((ip) => names.endpointChain(`default/echo:80:${ip}`));
  assert.deepEqual(chains, [svc, ...seps]);
  const lines = text.split('\n');
  assert.ok(lines.includes(`-A tst-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/echo:http" -m tcp --dport 80 -j ${svc}`));
  assert.ok(lines.includes(`-A ${svc} -m statistic --mode random --probability 0.3333333333 -j ${seps[0]}`));
  assert.ok(lines.includes(`-A ${svc} -m statistic --mode random --probability 0.5000000000 -j ${seps[1]}`));
  assert.ok(lines.includes(`-A ${svc} -j ${seps[2]}`));
  assert.ok(lines.includes(`-A ${seps[0]} -s 10.224.1.2/32 -j MARK --set-xmark 0x4000/0x4000`));
  assert.ok(lines.includes(`-A ${seps[2]} -p tcp -m tcp -j DNAT --to-destination 10.224.2.3:8080`));
  for (const c of chains) assert.ok(lines.includes(`:${c} - [0:0]`), c);
});

test('each port gets its own chains; a service without endpoints gets none', () => {
  const { text, chains } = renderServiceRules({
    ...base,
    services: [
      { namespace: 'a', name: 'two', vip: '10.96.0.11', ports: [{ port: 80, targetPort: 8080 }, { port: 9000, targetPort: 9000 }], endpoints: ['10.224.1.5'] },
      { namespace: 'a', name: 'empty', vip: '10.96.0.12', ports: [{ port: 80, targetPort: 80 }], endpoints: [] },
    ],
  });
  assert.equal(chains.length, 4);
  assert.match(text, /--dport 9000 .*-j tst-SVC-/);
  assert.doesNotMatch(text, /10\.96\.0\.12/);
  assert.match(text, /--to-destination 10\.224\.1\.5:9000/);
});

test('stale chains are flushed (declared) and deleted; wanted ones are kept', () => {
  const keep = names.serviceChain('a/b:80');
  const { text } = renderServiceRules({
    ...base,
    services: [{ namespace: 'a', name: 'b', vip: '10.96.0.10', ports: [{ port: 80, targetPort: 80 }], endpoints: ['10.224.1.2'] }],
    staleChains: [keep, 'tst-SVC-OLD', 'tst-SEP-OLD'],
  });
  const lines = text.split('\n');
  assert.ok(lines.includes(':tst-SVC-OLD - [0:0]'));
  assert.ok(lines.includes('-X tst-SVC-OLD'));
  assert.ok(lines.includes('-X tst-SEP-OLD'));
  assert.ok(!lines.includes(`-X ${keep}`));
  assert.ok(lines.indexOf('-X tst-SVC-OLD') > lines.findLastIndex((l) => l.startsWith('-A ')));
  assert.equal(lines.at(-2), 'COMMIT');
});
