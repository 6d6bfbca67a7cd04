// Table tests after the AuthorizationPolicy examples of Istio's documentation, in the L4
// form the controller pushes (selector policies: rules → clauses → matches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization } from '#core/config/model.ts';
import { authorize, type L4Connection } from '#ztunnel/rbac/authorize.ts';
import { cidrContains } from '#ztunnel/rbac/cidr.ts';
import { selectPolicies } from '#ztunnel/rbac/select.ts';
import { match, policy } from '#ztunnel/state/testing.ts';

const sleep: L4Connection = { sourcePrincipal: 'spiffe://cluster.local/ns/foo/sa/sleep', sourceIp: '10.0.1.5', destinationIp: '10.0.2.7', destinationPort: 8080 };
const other: L4Connection = { sourcePrincipal: 'spiffe://cluster.local/ns/bar/sa/curl', sourceIp: '10.0.3.9', destinationIp: '10.0.2.7', destinationPort: 9000 };
const plaintext: L4Connection = { sourceIp: '192.168.7.1', destinationIp: '10.0.2.7', destinationPort: 8080 };

const allowNothing = policy({ name: 'allow-nothing' });
const allowAll = policy({ name: 'allow-all', rules: [[]] });
const denyAll = policy({ name: 'deny-all', action: 'DENY', rules: [[]] });
const fromFoo = policy({ name: 'from-foo', rules: [[[match({ namespaces: [{ exact: 'foo' }] })]]] });
const denyIpBlocks = policy({ name: 'deny-ips', action: 'DENY', rules: [[[match({ sourceIps: ['10.0.3.9', '192.168.0.0/16'] })]]] });
const port8080 = policy({ name: 'port-8080', rules: [[[match({ destinationPorts: [8080] })]]] });
const fooTo8080 = policy({ name: 'foo-8080', rules: [[[match({ namespaces: [{ exact: 'foo' }] })], [match({ destinationPorts: [8080] })]]] });
const principalsExact = policy({ name: 'p-exact', rules: [[[match({ principals: [{ exact: 'cluster.local/ns/foo/sa/sleep' }] })]]] });
const principalsPrefix = policy({ name: 'p-prefix', rules: [[[match({ principals: [{ prefix: 'cluster.local/ns/bar/' }] })]]] });
const principalsSuffix = policy({ name: 'p-suffix', rules: [[[match({ principals: [{ suffix: '/sa/sleep' }] })]]] });
const anyPrincipal = policy({ name: 'any-principal', rules: [[[match({ principals: [{ presence: true }] })]]] });
const strict = policy({ name: 'strict', action: 'DENY', rules: [[[match({ notPrincipals: [{ presence: true }] })]]] });
const denyNotFoo = policy({ name: 'deny-not-foo', action: 'DENY', rules: [[[match({ notNamespaces: [{ exact: 'foo' }] })]]] });
const notPort9000 = policy({ name: 'not-9000', rules: [[[match({ notDestinationPorts: [9000] })]]] });
const sa = policy({ name: 'sa', rules: [[[match({ serviceAccounts: [{ exact: 'bar/curl' }] })]]] });
const notSa = policy({ name: 'not-sa', action: 'DENY', rules: [[[match({ notServiceAccounts: [{ suffix: '/sleep' }] })]]] });
const dstIp = policy({ name: 'dst-ip', rules: [[[match({ destinationIps: ['10.0.2.0/24'], notSourceIps: ['10.0.1.0/24'] })]]] });
const notDstIp = policy({ name: 'not-dst-ip', action: 'DENY', rules: [[[match({ notDestinationIps: ['10.0.2.7'] })]]] });
const eitherSource = policy({ name: 'either', rules: [[[match({ namespaces: [{ exact: 'nope' }] }), match({ sourceIps: ['10.0.3.0/24'] })]]] });
const dryDeny = policy({ name: 'dry-deny', action: 'DENY', dryRun: true, rules: [[]] });

type Row = [string, L4Connection, Authorization[], boolean, string | undefined];
const rows: Row[] = [
  ['no policies allow', sleep, [], true, undefined],
  ['allow-nothing denies', sleep, [allowNothing], false, undefined],
  ['allow-all allows', plaintext, [allowAll], true, 'default/allow-all'],
  ['deny-all denies even with allow-all', sleep, [allowAll, denyAll], false, 'default/deny-all'],
  ['namespace allow: foo in', sleep, [fromFoo], true, 'default/from-foo'],
  ['namespace allow: bar out', other, [fromFoo], false, undefined],
  ['namespace allow: plaintext out', plaintext, [fromFoo], false, undefined],
  ['ipBlocks deny exact address', other, [denyIpBlocks], false, 'default/deny-ips'],
  ['ipBlocks deny CIDR', plaintext, [denyIpBlocks], false, 'default/deny-ips'],
  ['ipBlocks deny others pass', sleep, [denyIpBlocks], true, undefined],
  ['ports allow 8080', sleep, [port8080], true, 'default/port-8080'],
  ['ports refuse 9000', other, [port8080], false, undefined],
  ['from and to must both hold', { ...sleep, destinationPort: 9000 }, [fooTo8080], false, undefined],
  ['from and to both hold', sleep, [fooTo8080], true, 'default/foo-8080'],
  ['principal exact without scheme', sleep, [principalsExact], true, 'default/p-exact'],
  ['principal exact other', other, [principalsExact], false, undefined],
  ['principal prefix wildcard', other, [principalsPrefix], true, 'default/p-prefix'],
  ['principal suffix wildcard', sleep, [principalsSuffix], true, 'default/p-suffix'],
  ['principal "*" needs an identity', plaintext, [anyPrincipal], false, undefined],
  ['principal "*" with identity', other, [anyPrincipal], true, 'default/any-principal'],
  ['STRICT denies plaintext', plaintext, [strict], false, 'default/strict'],
  ['STRICT lets mTLS in', sleep, [strict], true, undefined],
  ['notNamespaces denies other namespaces', other, [denyNotFoo], false, 'default/deny-not-foo'],
  ['notNamespaces denies plaintext', plaintext, [denyNotFoo], false, 'default/deny-not-foo'],
  ['notNamespaces lets foo in', sleep, [denyNotFoo], true, undefined],
  ['notPorts', sleep, [notPort9000], true, 'default/not-9000'],
  ['notPorts refuses 9000', other, [notPort9000], false, undefined],
  ['serviceAccounts ns/sa', other, [sa], true, 'default/sa'],
  ['serviceAccounts other', sleep, [sa], false, undefined],
  ['notServiceAccounts denies others', other, [notSa], false, 'default/not-sa'],
  ['notServiceAccounts spares sleep', sleep, [notSa], true, undefined],
  ['destination CIDR with notSourceIps: excluded source', sleep, [dstIp], false, undefined],
  ['destination CIDR with notSourceIps: other source', other, [dstIp], true, 'default/dst-ip'],
  ['notDestinationIps', { ...sleep, destinationIp: '10.0.2.8' }, [notDstIp], false, 'default/not-dst-ip'],
  ['matches of a clause are ORed', other, [eitherSource], true, 'default/either'],
  ['dry-run deny is not enforced', sleep, [dryDeny], true, undefined],
];

test('authorize follows Istio L4 semantics', () => {
  for (const [name, conn, policies, allow, decider] of rows) {
    const d = authorize(conn, policies);
    assert.equal(d.allow, allow, name);
    assert.equal(d.policy, decider, name);
    assert.ok(d.reason.length > 0, name);
  }
});

test('dry-run policies are reported, never enforced', () => {
  const d = authorize(sleep, [dryDeny, allowAll]);
  assert.deepEqual(d, { allow: true, policy: 'default/allow-all', reason: 'allowed by ALLOW policy default/allow-all', dryRun: [{ policy: 'default/dry-deny', action: 'DENY' }] });
  const dryAllowNothing = { ...allowNothing, dryRun: true };
  assert.equal(authorize(sleep, [dryAllowNothing]).allow, true, 'a dry-run ALLOW does not switch to default-deny');
});

test('a sourceNamespace given explicitly wins over the principal', () => {
  assert.equal(authorize({ ...plaintext, sourceNamespace: 'foo' }, [fromFoo]).allow, true);
});

test('CIDR matching, IPv4 and IPv6', () => {
  const rows: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.255.1.1', true], ['10.0.0.0/8', '11.0.0.1', false], ['1.2.3.4', '1.2.3.4', true],
    ['1.2.3.4/32', '1.2.3.5', false], ['0.0.0.0/0', '8.8.8.8', true], ['fd00::/8', 'fd12::1', true],
    ['fd00::/8', 'fe80::1', false], ['10.0.0.0/33', '10.0.0.1', false], ['garbage', '10.0.0.1', false], ['10.0.0.0/8', 'fd00::1', false],
  ];
  for (const [cidr, ip, want] of rows) assert.equal(cidrContains(cidr, ip), want, `${cidr} ∋ ${ip}`);
});

test('policy selection by scope', () => {
  const g = policy({ name: 'g', namespace: 'istio-system', scope: 'GLOBAL' });
  const ns = policy({ name: 'ns', namespace: 'foo' });
  const nsOther = policy({ name: 'ns', namespace: 'bar' });
  const sel = policy({ name: 'sel', namespace: 'foo', scope: 'WORKLOAD_SELECTOR' });
  const selOther = policy({ name: 'sel2', namespace: 'foo', scope: 'WORKLOAD_SELECTOR' });
  const got = selectPolicies({ namespace: 'foo', authorizationPolicies: ['foo/sel'] }, [g, ns, nsOther, sel, selOther]);
  assert.deepEqual(got, [g, ns, sel]);
});
