import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthorizationMatch, AuthorizationRule } from '#core/config/model.ts';
import { parseObject } from '#controller/source/parse.ts';
import type { AuthorizationPolicy } from '#controller/source/types.ts';
import { authz } from '#controller/testdata/objects.ts';
import { convertAuthorizationPolicy, emptyMatch } from '#controller/model/authorization.ts';

function policy(namespace: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): AuthorizationPolicy {
  const r = parseObject(authz(namespace, 'p', spec, annotations));
  assert.ok(r.ok && r.object.kind === 'AuthorizationPolicy', r.ok ? '' : r.reason);
  return r.object;
}

const m = (fields: Partial<AuthorizationMatch>): AuthorizationMatch => ({ ...emptyMatch(), ...fields });
const rule = (...clauses: AuthorizationMatch[][]): AuthorizationRule => ({ clauses: clauses.map((matches) => ({ matches })) });

const cases: { name: string; ns?: string; spec: Record<string, unknown>; rules?: AuthorizationRule[]; scope?: string; action?: string; reason: string; status?: 'True' | 'False' }[] = [
  { name: 'ALLOW with no rules matches nothing', spec: { selector: { matchLabels: { app: 'a' } } }, rules: [], scope: 'WORKLOAD_SELECTOR', action: 'ALLOW', reason: 'Accepted' },
  { name: 'rules: [{}] matches everything', spec: { rules: [{}] }, rules: [{ clauses: [] }], scope: 'NAMESPACE', reason: 'Accepted' },
  { name: 'root namespace without selector is GLOBAL', ns: 'istio-system', spec: { action: 'DENY', rules: [{}] }, rules: [{ clauses: [] }], scope: 'GLOBAL', action: 'DENY', reason: 'Accepted' },
  {
    name: 'principals, namespaces and their not forms; patterns',
    spec: { rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/x', 'spiffe://cluster.local/ns/b/*'], notPrincipals: ['*'] } }, { source: { namespaces: ['*-prod'], notNamespaces: ['kube-system'] } }] }] },
    rules: [rule([
      m({ principals: [{ exact: 'cluster.local/ns/a/sa/x' }, { prefix: 'cluster.local/ns/b/' }], notPrincipals: [{ presence: true }] }),
      m({ namespaces: [{ suffix: '-prod' }], notNamespaces: [{ exact: 'kube-system' }] }),
    ])],
    reason: 'Accepted',
  },
  {
    name: 'ipBlocks and serviceAccounts',
    spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.1.2.3'], serviceAccounts: ['ns1/sa1'], notServiceAccounts: ['ns1/bad'] } }] }] },
    rules: [rule([m({ sourceIps: ['10.0.0.0/8'], notSourceIps: ['10.1.2.3'], serviceAccounts: [{ exact: 'ns1/sa1' }], notServiceAccounts: [{ exact: 'ns1/bad' }] })])],
    reason: 'Accepted',
  },
  {
    name: 'from and to are separate clauses; to entries are alternatives',
    spec: { rules: [{ from: [{ source: { namespaces: ['a'] } }], to: [{ operation: { ports: ['80', 8080] } }, { operation: { notPorts: ['9090'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'a' }] })], [m({ destinationPorts: [80, 8080] }), m({ notDestinationPorts: [9090] })])],
    reason: 'Accepted',
  },
  {
    name: 'each L4 when condition is its own clause',
    spec: { rules: [{ when: [
      { key: 'source.ip', values: ['1.2.3.4'], notValues: ['1.2.3.5'] },
      { key: 'source.namespace', values: ['a'] },
      { key: 'source.principal', notValues: ['cluster.local/ns/x/sa/y'] },
      { key: 'destination.ip', values: ['10.0.0.0/24'] },
      { key: 'destination.port', values: ['443'], notValues: ['80'] },
    ] }] },
    rules: [rule(
      [m({ sourceIps: ['1.2.3.4'], notSourceIps: ['1.2.3.5'] })],
      [m({ namespaces: [{ exact: 'a' }] })],
      [m({ notPrincipals: [{ exact: 'cluster.local/ns/x/sa/y' }] })],
      [m({ destinationIps: ['10.0.0.0/24'] })],
      [m({ destinationPorts: [443], notDestinationPorts: [80] })],
    )],
    reason: 'Accepted',
  },
  {
    name: 'ALLOW rule with HTTP methods is dropped; the L4 rule stays',
    spec: { rules: [{ to: [{ operation: { methods: ['GET'], ports: ['80'] } }] }, { from: [{ source: { namespaces: ['a'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'a' }] })])],
    reason: 'UnsupportedValue',
  },
  {
    name: 'ALLOW with only L7 rules keeps the policy with no rules (denies all)',
    spec: { rules: [{ to: [{ operation: { paths: ['/admin'] } }] }, { from: [{ source: { requestPrincipals: ['*'] } }] }, { when: [{ key: 'request.headers[x-id]', values: ['1'] }] }] },
    rules: [],
    reason: 'UnsupportedValue',
  },
  {
    name: 'DENY rule has L7 fields stripped (matches more)',
    spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['a'], remoteIpBlocks: ['1.2.3.4'] } }], to: [{ operation: { methods: ['POST'], ports: ['80'] } }], when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'a' }] })], [m({ destinationPorts: [80] })])],
    action: 'DENY',
    reason: 'UnsupportedValue',
  },
  {
    name: 'DENY on paths only becomes deny-all',
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] },
    rules: [rule([m({})])],
    action: 'DENY',
    reason: 'UnsupportedValue',
  },
  // Istio's documented examples (istio.io authorization policy reference), L4 parts.
  {
    name: 'docs: allow sleep SA and dev namespace',
    spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'ALLOW', rules: [
      { from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }, { source: { namespaces: ['dev'] } }] },
    ] },
    rules: [rule([m({ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }), m({ namespaces: [{ exact: 'dev' }] })])],
    scope: 'WORKLOAD_SELECTOR',
    reason: 'Accepted',
  },
  {
    name: 'docs: deny requests not from foo namespace',
    spec: { action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['foo'] } }] }] },
    rules: [rule([m({ notNamespaces: [{ exact: 'foo' }] })])],
    action: 'DENY',
    reason: 'Accepted',
  },
  { name: 'AUDIT is rejected', spec: { action: 'AUDIT', rules: [{}] }, reason: 'UnsupportedValue', status: 'False' },
  { name: 'CUSTOM is rejected', spec: { action: 'CUSTOM', provider: { name: 'ext' }, rules: [{}] }, reason: 'UnsupportedValue', status: 'False' },
  { name: 'targetRefs go to the waypoint', spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], rules: [{}] }, reason: 'WaypointPolicy' },
  { name: 'targetRef (singular) too', spec: { targetRef: { kind: 'Service', name: 'svc' } }, reason: 'WaypointPolicy' },
  // Invalid values follow the fail-safe rule too: an ALLOW rule holding one never matches,
  // a DENY rule loses the clause holding it; the policy stays enforced and says False.
  { name: 'selector with targetRefs: ztunnel enforces on the selected workloads, allowing nothing', spec: { selector: { matchLabels: { a: 'b' } }, targetRefs: [{ kind: 'Service', name: 's' }], rules: [{}] }, rules: [], scope: 'WORKLOAD_SELECTOR', reason: 'InvalidField', status: 'False' },
  { name: 'bad port: the ALLOW rule never matches', spec: { rules: [{ to: [{ operation: { ports: ['http'] } }] }, { from: [{ source: { namespaces: ['a'] } }] }] }, rules: [rule([m({ namespaces: [{ exact: 'a' }] })])], reason: 'InvalidField', status: 'False' },
  { name: 'bad CIDR: the ALLOW rule never matches', spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'bad CIDR in a dropped L7 rule is still reported', spec: { rules: [{ from: [{ source: { remoteIpBlocks: ['nope'] } }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'serviceAccount without namespace', spec: { rules: [{ from: [{ source: { serviceAccounts: ['sleep'] } }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'serviceAccounts with principals', spec: { rules: [{ from: [{ source: { serviceAccounts: ['a/b'], principals: ['x'] } }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'empty source', spec: { rules: [{ from: [{ source: {} }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'unknown when key', spec: { rules: [{ when: [{ key: 'source.color', values: ['red'] }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'when without values', spec: { rules: [{ when: [{ key: 'source.ip' }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  {
    name: 'DENY with a bad port loses the operations (denies on any port)',
    spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['a'] } }], to: [{ operation: { ports: ['80'] } }, { operation: { ports: ['http'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'a' }] })])], action: 'DENY', reason: 'InvalidField', status: 'False',
  },
  {
    name: 'DENY with an empty source and an unknown when key: both dropped, deny-all',
    spec: { action: 'DENY', rules: [{ from: [{ source: {} }], when: [{ key: 'source.color', values: ['red'] }] }] },
    rules: [{ clauses: [] }], action: 'DENY', reason: 'InvalidField', status: 'False',
  },
  // Fields the parser could not use: the policy it hands over is the fail-safe reading.
  { name: 'ALLOW with the from typo allows nobody through that rule', spec: { rules: [{ form: [{ source: { namespaces: ['a'] } }] }] }, rules: [], reason: 'InvalidField', status: 'False' },
  {
    name: 'ALLOW with the from typo keeps its other rules',
    spec: { rules: [{ form: [{ source: { namespaces: ['a'] } }] }, { from: [{ source: { namespaces: ['b'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'b' }] })])], reason: 'InvalidField', status: 'False',
  },
  {
    name: 'DENY with the from typo denies from every source',
    spec: { action: 'DENY', rules: [{ form: [{ source: { namespaces: ['a'] } }], to: [{ operation: { ports: ['22'] } }] }] },
    rules: [rule([m({ destinationPorts: [22] })])], action: 'DENY', reason: 'InvalidField', status: 'False',
  },
  { name: 'ALLOW with an unknown spec field allows nothing', spec: { bogusTopLevel: 1, rules: [{}] }, rules: [], reason: 'InvalidField', status: 'False' },
  { name: 'DENY with an unknown spec field denies everything', spec: { action: 'DENY', bogusTopLevel: 1, rules: [{ from: [{ source: { namespaces: ['a'] } }] }] }, rules: [{ clauses: [] }], action: 'DENY', reason: 'InvalidField', status: 'False' },
  { name: 'an unreadable action denies everything', spec: { action: 'Allow', rules: [{ from: [{ source: { namespaces: ['a'] } }] }] }, rules: [{ clauses: [] }], action: 'DENY', reason: 'InvalidField', status: 'False' },
  { name: 'a waypoint policy with an unknown field is not accepted as written', spec: { targetRefs: [{ kind: 'Service', name: 's' }], rules: [{ spooky: 1 }] }, reason: 'InvalidField', status: 'False' },
];

for (const c of cases) {
  test(`AuthorizationPolicy: ${c.name}`, () => {
    const out = convertAuthorizationPolicy(policy(c.ns ?? 'app', c.spec), 'istio-system');
    assert.equal(out.conditions.length, 1);
    const cond = out.conditions[0];
    assert.equal(cond?.type, 'Accepted');
    assert.equal(cond.reason, c.reason, cond.message);
    assert.equal(cond.status, c.status ?? 'True');
    if (c.rules === undefined) {
      assert.equal(out.authorization, undefined);
      return;
    }
    assert.ok(out.authorization);
    assert.deepEqual(out.authorization.rules, c.rules);
    if (c.scope !== undefined) assert.equal(out.authorization.scope, c.scope);
    assert.equal(out.authorization.action, c.action ?? 'ALLOW');
  });
}

test('AuthorizationPolicy: selector labels returned, dry-run annotation honoured', () => {
  const out = convertAuthorizationPolicy(policy('app', { selector: { matchLabels: { app: 'a' } }, rules: [{}] }, { 'istio.io/dry-run': 'true' }), 'istio-system');
  assert.deepEqual(out.selector, { app: 'a' });
  assert.equal(out.authorization?.dryRun, true);
  assert.equal(out.authorization.name, 'p');
  assert.equal(out.authorization.namespace, 'app');
});

test('AuthorizationPolicy: the L7 condition names the fields and the effect', () => {
  const out = convertAuthorizationPolicy(policy('app', { rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/x'] } }] }] }), 'istio-system');
  const msg = out.conditions[0]?.message ?? '';
  assert.match(msg, /operation\.methods/);
  assert.match(msg, /operation\.paths/);
  assert.match(msg, /never match/);
});

test('AuthorizationPolicy: the from typo is named, with its effect, and nothing else is allowed', () => {
  const out = convertAuthorizationPolicy(policy('app', { rules: [{ form: [{ source: { namespaces: ['a'] } }], spooky: 1 }] }), 'istio-system');
  const cond = out.conditions[0];
  assert.equal(cond?.status, 'False');
  assert.match(cond.message, /spec\.rules\[0\]\.form: unknown field \(did you mean "from"\?\)/);
  assert.match(cond.message, /spec\.rules\[0\]\.spooky: unknown field/);
  assert.match(cond.message, /ALLOW rule\(s\) 0 never match/);
  assert.deepEqual(out.authorization?.rules, []);
});

test('AuthorizationPolicy: invalid values are named by the manifest path of their rule', () => {
  const out = convertAuthorizationPolicy(policy('app', { rules: [{ form: [] }, { from: [{ source: { namespaces: ['a'] } }] }, { to: [{ operation: { ports: ['http'] } }] }] }), 'istio-system');
  const msg = out.conditions[0]?.message ?? '';
  assert.match(msg, /spec\.rules\[2\]\.to\[0\]\.operation\.ports\[0\]: "http" is not a port number/);
  assert.match(msg, /ALLOW rule\(s\) 0, 2 never match/);
  assert.deepEqual(out.authorization?.rules, [rule([m({ namespaces: [{ exact: 'a' }] })])]);
});

test('AuthorizationPolicy: outside-the-rules problems say what is enforced instead', () => {
  const allow = convertAuthorizationPolicy(policy('app', { bogusTopLevel: 1, rules: [{}] }), 'istio-system');
  assert.match(allow.conditions[0]?.message ?? '', /spec\.bogusTopLevel: unknown field; fail-safe: none of its rules are used, so the policy allows nothing/);
  const deny = convertAuthorizationPolicy(policy('app', { action: 'DENY', bogusTopLevel: 1 }), 'istio-system');
  assert.match(deny.conditions[0]?.message ?? '', /fail-safe: the DENY policy matches all traffic it applies to/);
});
