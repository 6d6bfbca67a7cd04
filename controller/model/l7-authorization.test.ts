// Waypoint policies from AuthorizationPolicy manifests: target binding (Istio's attachment
// rules and status reasons), the rule conversion, Istio's validation, and the fail-safe rule
// for what weft cannot evaluate. Output is checked against the wire validator too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseL7Authorization, type L7Authorization, type L7Rule } from '#core/config/l7-authorization.ts';
import { parseObject } from '#controller/source/parse.ts';
import type { AuthorizationPolicy } from '#controller/source/types.ts';
import { authz } from '#controller/testdata/objects.ts';
import { convertL7AuthorizationPolicy, type ConvertedL7Policy, type L7PolicyContext } from '#controller/model/l7-authorization.ts';

const HTTPBIN = 'foo/httpbin.foo.svc.cluster.local';
const OTHER = 'foo/other.foo.svc.cluster.local';
const REMOTE = 'foo/remote.foo.svc.cluster.local';

const hostnames = new Map([
  ['foo/httpbin', 'httpbin.foo.svc.cluster.local'],
  ['foo/other', 'other.foo.svc.cluster.local'],
  ['foo/remote', 'remote.foo.svc.cluster.local'],
  ['foo/plain', 'plain.foo.svc.cluster.local'],
]);
const serviceWaypoints = new Map([['foo/httpbin', 'foo/waypoint'], ['foo/other', 'foo/waypoint'], ['foo/remote', 'bar/waypoint']]);

const ctx: L7PolicyContext = {
  rootNamespace: 'istio-system',
  waypointOfGateway: (key) => key === 'foo/waypoint' || key === 'bar/waypoint' || key === 'istio-system/waypoint',
  waypointOfService: (key) => serviceWaypoints.get(key),
  serviceHostname: (key) => hostnames.get(key),
  waypoints: () => ['foo/waypoint', 'bar/waypoint'],
};

function policy(namespace: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): AuthorizationPolicy {
  const r = parseObject(authz(namespace, 'p', spec, annotations));
  assert.ok(r.ok && r.object.kind === 'AuthorizationPolicy', r.ok ? '' : r.reason);
  return r.object;
}

const gateway = (name = 'waypoint'): Record<string, unknown> => ({ kind: 'Gateway', group: 'gateway.networking.k8s.io', name });
const service = (name: string, group?: string): Record<string, unknown> => (group === undefined ? { kind: 'Service', name } : { kind: 'Service', group, name });

function convert(spec: Record<string, unknown>, opts: { ns?: string; annotations?: Record<string, string>; context?: L7PolicyContext } = {}): ConvertedL7Policy {
  const out = convertL7AuthorizationPolicy(policy(opts.ns ?? 'foo', spec, opts.annotations), opts.context ?? ctx);
  // Whatever the controller produces must pass the waypoint's validator unchanged.
  for (const a of out.authorizations) assert.deepEqual(parseL7Authorization(JSON.parse(JSON.stringify(a)), 'value'), a);
  return out;
}

function only(out: ConvertedL7Policy): { status: string; reason: string; message: string } {
  assert.equal(out.conditions.length, 1);
  const c = out.conditions[0];
  assert.ok(c !== undefined);
  assert.equal(c.kind, 'AuthorizationPolicy');
  assert.equal(c.type, 'Accepted');
  return c;
}

test('policies without targetRefs are not the waypoint\'s', () => {
  assert.deepEqual(convert({ rules: [{}] }), { authorizations: [], conditions: [] });
  assert.deepEqual(convert({ selector: { matchLabels: { app: 'a' } }, rules: [{}] }), { authorizations: [], conditions: [] });
});

interface BindingRow {
  name: string;
  ns?: string;
  targets: Record<string, unknown>[];
  /** waypoint → services (undefined = every request through it). */
  expect: Record<string, string[] | undefined>;
  status: 'True' | 'False';
  reason: string;
  message?: RegExp;
}

const bindingRows: BindingRow[] = [
  { name: 'Gateway: all traffic through the waypoint', targets: [gateway()], expect: { 'foo/waypoint': undefined }, status: 'True', reason: 'Accepted', message: /bound to Gateway waypoint \(waypoint foo\/waypoint\)/ },
  { name: 'Service: only that Service at its waypoint', targets: [service('httpbin')], expect: { 'foo/waypoint': [HTTPBIN] }, status: 'True', reason: 'Accepted' },
  { name: 'Service with group core', targets: [service('httpbin', 'core')], expect: { 'foo/waypoint': [HTTPBIN] }, status: 'True', reason: 'Accepted' },
  { name: 'two Services on one waypoint', targets: [service('other'), service('httpbin')], expect: { 'foo/waypoint': [HTTPBIN, OTHER] }, status: 'True', reason: 'Accepted' },
  { name: 'Gateway and one of its Services: all traffic', targets: [service('httpbin'), gateway()], expect: { 'foo/waypoint': undefined }, status: 'True', reason: 'Accepted' },
  { name: 'Services on two waypoints: one policy each', targets: [service('httpbin'), service('remote')], expect: { 'bar/waypoint': [REMOTE], 'foo/waypoint': [HTTPBIN] }, status: 'True', reason: 'Accepted' },
  { name: 'GatewayClass istio-waypoint from the root namespace: every waypoint', ns: 'istio-system', targets: [{ kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio-waypoint' }], expect: { 'bar/waypoint': undefined, 'foo/waypoint': undefined }, status: 'True', reason: 'Accepted' },
  { name: 'GatewayClass outside the root namespace', targets: [{ kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio-waypoint' }], expect: {}, status: 'False', reason: 'Invalid', message: /root namespace istio-system/ },
  { name: 'GatewayClass that is not the waypoint class', ns: 'istio-system', targets: [{ kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio' }], expect: {}, status: 'False', reason: 'Invalid' },
  { name: 'Gateway that is not a waypoint', targets: [gateway('ingress')], expect: {}, status: 'False', reason: 'TargetNotFound', message: /no waypoint Gateway foo\/ingress.*not enforced/ },
  { name: 'missing Service', targets: [service('nope')], expect: {}, status: 'False', reason: 'TargetNotFound', message: /Service foo\/nope was not found/ },
  { name: 'Service without a waypoint', targets: [service('plain')], expect: {}, status: 'False', reason: 'AncestorNotBound', message: /istio\.io\/use-waypoint/ },
  { name: 'one target bound, one not', targets: [service('httpbin'), service('plain')], expect: { 'foo/waypoint': [HTTPBIN] }, status: 'True', reason: 'PartiallyInvalid', message: /not bound: Service foo\/plain/ },
  { name: 'two failures of different kinds', targets: [service('plain'), service('nope')], expect: {}, status: 'False', reason: 'Invalid' },
  { name: 'ServiceEntry: weft has none', targets: [{ kind: 'ServiceEntry', group: 'networking.istio.io', name: 'ext' }], expect: {}, status: 'False', reason: 'UnsupportedValue' },
  { name: 'unsupported kind is not bound', targets: [{ kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', name: 'r' }], expect: {}, status: 'False', reason: 'Invalid', message: /not a supported target/ },
  { name: 'Gateway with the core group is not bound', targets: [{ kind: 'Gateway', name: 'waypoint' }], expect: {}, status: 'False', reason: 'Invalid' },
  { name: 'cross-namespace target is not bound', targets: [{ ...gateway(), namespace: 'bar' }], expect: {}, status: 'False', reason: 'Invalid', message: /cross-namespace/ },
  { name: 'same-namespace target namespace is fine', targets: [{ ...gateway(), namespace: 'foo' }], expect: { 'foo/waypoint': undefined }, status: 'True', reason: 'Accepted' },
  { name: 'more than 16 targets: bound, and Istio\'s limit reported', targets: Array.from({ length: 17 }, () => service('httpbin')), expect: { 'foo/waypoint': [HTTPBIN] }, status: 'False', reason: 'InvalidField', message: /at most 16 targets/ },
];

test('targets bind as Istio attaches waypoint policies', () => {
  for (const row of bindingRows) {
    const out = convert({ targetRefs: row.targets, rules: [{}] }, row.ns === undefined ? {} : { ns: row.ns });
    const got: Record<string, string[] | undefined> = {};
    for (const a of out.authorizations) got[a.waypoint] = a.services;
    assert.deepEqual(got, row.expect, row.name);
    const c = only(out);
    assert.equal(c.status, row.status, `${row.name}: ${c.message}`);
    assert.equal(c.reason, row.reason, `${row.name}: ${c.message}`);
    if (row.message !== undefined) assert.match(c.message, row.message, row.name);
  }
});

test('the singular targetRef binds too', () => {
  assert.equal(convert({ targetRef: gateway(), rules: [{}] }).authorizations.length, 1);
});

test('selector with targetRefs: Istio refuses it; the waypoint still takes the targets', () => {
  const out = convert({ selector: { matchLabels: { app: 'a' } }, targetRefs: [gateway()], action: 'DENY', rules: [{}] });
  assert.deepEqual(out.authorizations.map((a) => a.waypoint), ['foo/waypoint']);
  const c = only(out);
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'InvalidField');
  assert.match(c.message, /cannot be used together with spec\.selector/);
});

test('GatewayClass targets without a waypoint list bind to none yet', () => {
  const { waypoints: _omit, ...bare } = ctx;
  const out = convert({ targetRefs: [{ kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio-waypoint' }], rules: [{}] }, { ns: 'istio-system', context: bare });
  assert.deepEqual(out.authorizations, []);
  assert.match(only(out).message, /no waypoint exists yet/);
});

test('the policy itself: name, namespace, action, rules, dry-run', () => {
  const out = convert({ targetRefs: [gateway()], action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] });
  const expected: L7Authorization = { namespace: 'foo', name: 'p', action: 'DENY', waypoint: 'foo/waypoint', rules: [{ to: [{ methods: [{ exact: 'POST' }] }] }], dryRun: false };
  assert.deepEqual(out.authorizations, [expected]);
  assert.equal(convert({ targetRefs: [gateway()], action: 'AUDIT', rules: [{}] }).authorizations[0]?.action, 'AUDIT');
  assert.deepEqual(convert({ targetRefs: [gateway()] }).authorizations[0]?.rules, [], 'ALLOW without rules allows nothing');
});

interface RuleRow {
  name: string;
  rules: unknown[];
  expect: L7Rule[];
}

const ruleRows: RuleRow[] = [
  { name: 'rules: [{}] is an empty rule', rules: [{}], expect: [{}] },
  {
    name: 'principals and namespaces: patterns and not forms',
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/x', 'spiffe://cluster.local/ns/b/*'], notPrincipals: ['*'] } }, { source: { namespaces: ['*-prod', 'test*'], notNamespaces: ['kube-system'] } }] }],
    expect: [{ from: [
      { principals: [{ exact: 'cluster.local/ns/a/sa/x' }, { prefix: 'cluster.local/ns/b/' }], notPrincipals: [{ presence: true }] },
      { namespaces: [{ suffix: '-prod' }, { prefix: 'test' }], notNamespaces: [{ exact: 'kube-system' }] },
    ] }],
  },
  {
    name: 'serviceAccounts: a bare name means the policy namespace',
    rules: [{ from: [{ source: { serviceAccounts: ['sleep', 'bar/curl'], notServiceAccounts: ['bad'] } }] }],
    expect: [{ from: [{ serviceAccounts: ['foo/sleep', 'bar/curl'], notServiceAccounts: ['foo/bad'] }] }],
  },
  {
    name: 'ipBlocks and remoteIpBlocks',
    rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.1.2.3'], remoteIpBlocks: ['fd00::/8'], notRemoteIpBlocks: ['203.0.113.4'] } }] }],
    expect: [{ from: [{ ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.1.2.3'], remoteIpBlocks: ['fd00::/8'], notRemoteIpBlocks: ['203.0.113.4'] }] }],
  },
  {
    name: 'operation: hosts lowercased, ports as numbers, methods, paths and templates',
    rules: [{ to: [{ operation: { hosts: ['*.Example.com', 'API.example.com:*'], notHosts: ['admin.example.com'], ports: ['8000'], notPorts: [9000] } }, { operation: { methods: ['GET'], notMethods: ['DELETE'], paths: ['/info*', '*/info', '*', '/foo/{*}/bar/{**}'], notPaths: ['/admin'] } }] }],
    expect: [{ to: [
      { hosts: [{ suffix: '.example.com' }, { prefix: 'api.example.com:' }], notHosts: [{ exact: 'admin.example.com' }], ports: [8000], notPorts: [9000] },
      { methods: [{ exact: 'GET' }], notMethods: [{ exact: 'DELETE' }], paths: [{ prefix: '/info' }, { suffix: '/info' }, { presence: true }, { template: '/foo/{*}/bar/{**}' }], notPaths: [{ exact: '/admin' }] },
    ] }],
  },
  {
    name: 'when: every key weft evaluates',
    rules: [{ when: [
      { key: 'request.headers[X-Foo]', values: ['foo'], notValues: ['bar*'] },
      { key: 'source.ip', values: ['10.0.0.0/8'] },
      { key: 'remote.ip', notValues: ['203.0.113.4'] },
      { key: 'source.namespace', values: ['default'] },
      { key: 'source.principal', values: ['cluster.local/ns/default/sa/sleep'] },
      { key: 'source.serviceAccount', values: ['sleep'] },
      { key: 'source.trustDomain', values: ['cluster.local'], notValues: ['*.example.com'] },
      { key: 'destination.ip', values: ['10.0.2.7'] },
      { key: 'destination.port', values: ['8000'] },
      { key: 'connection.sni', values: ['*.svc.cluster.local'] },
    ] }],
    expect: [{ when: [
      { key: 'request.headers', header: 'x-foo', values: [{ exact: 'foo' }], notValues: [{ prefix: 'bar' }] },
      { key: 'source.ip', values: ['10.0.0.0/8'] },
      { key: 'remote.ip', notValues: ['203.0.113.4'] },
      { key: 'source.namespace', values: [{ exact: 'default' }] },
      { key: 'source.principal', values: [{ exact: 'cluster.local/ns/default/sa/sleep' }] },
      { key: 'source.serviceAccount', values: ['foo/sleep'] },
      { key: 'source.trustDomain', values: [{ exact: 'cluster.local' }], notValues: [{ suffix: '.example.com' }] },
      { key: 'destination.ip', values: ['10.0.2.7'] },
      { key: 'destination.port', values: [8000] },
      { key: 'connection.sni', values: [{ suffix: '.svc.cluster.local' }] },
    ] }],
  },
];

test('rules convert field by field', () => {
  for (const row of ruleRows) {
    const out = convert({ targetRefs: [gateway()], rules: row.rules });
    assert.equal(only(out).reason, 'Accepted', `${row.name}: ${out.conditions[0]?.message ?? ''}`);
    assert.deepEqual(out.authorizations[0]?.rules, row.expect, row.name);
  }
});

interface FailSafeRow {
  name: string;
  spec: Record<string, unknown>;
  rules: L7Rule[];
  action?: string;
  status: 'True' | 'False';
  message: RegExp;
}

const failSafeRows: FailSafeRow[] = [
  {
    name: 'the proto\'s example: an ALLOW rule needing a JWT claim never matches (allow-nothing)',
    spec: { action: 'ALLOW', rules: [{
      from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }, { source: { namespaces: ['test'] } }],
      to: [{ operation: { methods: ['GET'], paths: ['/info*'] } }, { operation: { methods: ['POST'], paths: ['/data'] } }],
      when: [{ key: 'request.auth.claims[iss]', values: ['https://accounts.google.com'] }],
    }] },
    rules: [],
    status: 'False',
    message: /no request authentication \(JWT\) to evaluate when request\.auth\.claims\[iss\]: 1 ALLOW rule\(s\) using them never match/,
  },
  {
    name: 'ALLOW: only the rule with requestPrincipals is dropped',
    spec: { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }] },
    rules: [{ to: [{ methods: [{ exact: 'GET' }] }] }],
    status: 'False',
    message: /no request authentication \(JWT\) to evaluate source\.requestPrincipals/,
  },
  {
    name: 'DENY notRequestPrincipals ["*"] loses the part and denies every request',
    spec: { action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }] }] },
    rules: [{ from: [{}] }],
    action: 'DENY',
    status: 'False',
    message: /removed from the DENY rules, so more traffic is denied than written/,
  },
  {
    name: 'DENY keeps the parts it can evaluate',
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }], when: [{ key: 'request.auth.claims[groups]', notValues: ['admins'] }, { key: 'request.auth.audiences', values: ['a'] }] }] },
    rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }],
    action: 'DENY',
    status: 'False',
    message: /request\.auth\.audiences, when request\.auth\.claims\[groups\]/,
  },
  {
    name: 'AUDIT loses the part and audits more',
    spec: { action: 'AUDIT', rules: [{ from: [{ source: { requestPrincipals: ['a/b'], namespaces: ['x'] } }] }] },
    rules: [{ from: [{ namespaces: [{ exact: 'x' }] }] }],
    action: 'AUDIT',
    status: 'False',
    message: /more traffic is audited/,
  },
  {
    name: 'Envoy filter metadata: ALLOW rule never matches',
    spec: { rules: [{ when: [{ key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]'] }] }] },
    rules: [],
    status: 'True',
    message: /weft cannot evaluate when experimental\.envoy\.filters/,
  },
  {
    name: 'namespace glob with an inner "*": DENY drops the field',
    spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['team-*-prod'], ipBlocks: ['10.0.0.0/8'] } }] }] },
    rules: [{ from: [{ ipBlocks: ['10.0.0.0/8'] }] }],
    action: 'DENY',
    status: 'True',
    message: /source\.namespaces pattern "team-\*-prod"/,
  },
  {
    name: 'namespace glob with an inner "*": ALLOW rule never matches',
    spec: { rules: [{ when: [{ key: 'source.namespace', values: ['a*b'] }] }] },
    rules: [],
    status: 'True',
    message: /when source\.namespace pattern "a\*b"/,
  },
  {
    name: 'CUSTOM fails closed: its rules deny, as for an unknown provider',
    spec: { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] },
    rules: [{ to: [{ paths: [{ prefix: '/admin/' }] }] }],
    action: 'DENY',
    status: 'False',
    message: /action CUSTOM \(provider "ext-authz"\) is not supported.*denied/,
  },
];

test('what weft cannot evaluate fails safe, and the condition says so', () => {
  for (const row of failSafeRows) {
    const out = convert({ targetRefs: [gateway()], ...row.spec });
    const c = only(out);
    assert.equal(c.status, row.status, `${row.name}: ${c.message}`);
    assert.equal(c.reason, 'UnsupportedValue', row.name);
    assert.match(c.message, row.message, row.name);
    assert.equal(out.authorizations.length, 1, row.name);
    assert.deepEqual(out.authorizations[0]?.rules, row.rules, row.name);
    assert.equal(out.authorizations[0]?.action, row.action ?? 'ALLOW', row.name);
  }
});

interface InvalidRow {
  name: string;
  spec: Record<string, unknown>;
  /** The fail-safe reading that is enforced. */
  rules: L7Rule[];
  action?: string;
  message: RegExp;
}

const deny = (rules: unknown[]): Record<string, unknown> => ({ action: 'DENY', rules });

const invalidRows: InvalidRow[] = [
  { name: 'unknown when key: the ALLOW rule never matches', spec: { rules: [{ when: [{ key: 'source.color', values: ['red'] }] }] }, rules: [], message: /unknown key "source\.color"/ },
  {
    name: 'unknown when key: the DENY rule loses the condition',
    spec: deny([{ to: [{ operation: { paths: ['/a'] } }], when: [{ key: 'source.color', values: ['red'] }] }]),
    rules: [{ to: [{ paths: [{ exact: '/a' }] }] }], action: 'DENY', message: /spec\.rules\[0\]\.when\[0\]\.key: unknown key "source\.color"/,
  },
  { name: 'request.headers without a name', spec: { rules: [{ when: [{ key: 'request.headers[]', values: ['a'] }] }] }, rules: [], message: /unknown key/ },
  { name: 'when without values: DENY matches more', spec: deny([{ when: [{ key: 'source.ip' }] }]), rules: [{}], action: 'DENY', message: /must set values or notValues/ },
  { name: 'empty source: ALLOW rule dropped', spec: { rules: [{ from: [{ source: {} }] }] }, rules: [], message: /from\[0\]\.source: must set at least one field/ },
  { name: 'empty source: DENY matches any source', spec: deny([{ from: [{ source: {} }] }]), rules: [{ from: [{}] }], action: 'DENY', message: /must set at least one field/ },
  { name: 'from entry without source', spec: deny([{ from: [{}] }]), rules: [{ from: [{}] }], action: 'DENY', message: /must set at least one field/ },
  { name: 'empty from list: DENY takes any source', spec: deny([{ from: [] }]), rules: [{}], action: 'DENY', message: /from: must not be empty/ },
  { name: 'empty to list: ALLOW rule dropped', spec: { rules: [{ to: [] }, {}] }, rules: [{}], message: /to: must not be empty.*ALLOW rule\(s\) 0 never match/ },
  {
    name: 'empty operation: DENY matches any operation',
    spec: deny([{ from: [{ source: { namespaces: ['a'] } }], to: [{ operation: {} }] }]),
    rules: [{ from: [{ namespaces: [{ exact: 'a' }] }], to: [{}] }], action: 'DENY', message: /to\[0\]\.operation: must set at least one field/,
  },
  { name: 'serviceAccounts with principals: ALLOW rule dropped', spec: { rules: [{ from: [{ source: { serviceAccounts: ['a/b'], principals: ['x'] } }] }] }, rules: [], message: /cannot be combined/ },
  {
    name: 'serviceAccounts with principals: DENY keeps both as written',
    spec: deny([{ from: [{ source: { serviceAccounts: ['a/b'], principals: ['x'] } }] }]),
    rules: [{ from: [{ principals: [{ exact: 'x' }], serviceAccounts: ['a/b'] }] }], action: 'DENY', message: /cannot be combined/,
  },
  {
    name: 'serviceAccount with a wildcard: DENY drops the field',
    spec: deny([{ from: [{ source: { serviceAccounts: ['a/*'], ipBlocks: ['10.0.0.0/8'] } }] }]),
    rules: [{ from: [{ ipBlocks: ['10.0.0.0/8'] }] }], action: 'DENY', message: /no wildcards/,
  },
  { name: 'serviceAccount with two slashes', spec: { rules: [{ when: [{ key: 'source.serviceAccount', values: ['a/b/c'] }] }] }, rules: [], message: /not <service account>/ },
  { name: 'more than 16 serviceAccounts', spec: { rules: [{ from: [{ source: { serviceAccounts: Array.from({ length: 17 }, (_, i) => `sa${i}`) } }] }] }, rules: [], message: /at most 16/ },
  { name: 'bad CIDR', spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }, rules: [], message: /not an IP address or CIDR/ },
  { name: 'bad remote IP: DENY drops the condition', spec: deny([{ when: [{ key: 'remote.ip', values: ['nope'] }, { key: 'destination.port', values: ['80'] }] }]), rules: [{ when: [{ key: 'destination.port', values: [80] }] }], action: 'DENY', message: /not an IP address or CIDR/ },
  {
    name: 'bad port: DENY drops ports only',
    spec: deny([{ to: [{ operation: { ports: ['http'], methods: ['GET'] } }] }]),
    rules: [{ to: [{ methods: [{ exact: 'GET' }] }] }], action: 'DENY', message: /not a port number/,
  },
  { name: 'empty value', spec: { rules: [{ to: [{ operation: { paths: [''] } }] }] }, rules: [], message: /paths\[0\]: must not be empty/ },
  { name: 'bad path template: DENY matches any path', spec: deny([{ to: [{ operation: { paths: ['/{**}/foo/{*}'] } }] }]), rules: [{ to: [{}] }], action: 'DENY', message: /last operator/ },
  { name: 'brace outside a template', spec: { rules: [{ to: [{ operation: { notPaths: ['/a/{id}'] } }] }] }, rules: [], message: /outside \{\*\} or \{\*\*\}/ },
  { name: 'trust domain with an inner "*"', spec: { rules: [{ when: [{ key: 'source.trustDomain', values: ['a*b'] }] }] }, rules: [], message: /trust domain pattern/ },
  { name: 'DENY without rules matches nothing', spec: { action: 'DENY' }, rules: [], action: 'DENY', message: /DENY policy without rules.*has no rules, so it matches nothing/ },
  { name: 'CUSTOM without rules', spec: { action: 'CUSTOM', provider: { name: 'x' } }, rules: [], action: 'DENY', message: /CUSTOM policy without rules/ },
  { name: 'CUSTOM without a provider still fails closed', spec: { action: 'CUSTOM', rules: [{}] }, rules: [{}], action: 'DENY', message: /provider\.name/ },
  {
    name: 'CUSTOM with principals: denied as written',
    spec: { action: 'CUSTOM', provider: { name: 'x' }, rules: [{ from: [{ source: { principals: ['a'] } }] }] },
    rules: [{ from: [{ principals: [{ exact: 'a' }] }] }], action: 'DENY', message: /principals: not supported with action CUSTOM/,
  },
  { name: 'CUSTOM with a JWT condition', spec: { action: 'CUSTOM', provider: { name: 'x' }, rules: [{ when: [{ key: 'request.auth.principal', values: ['a'] }] }] }, rules: [{}], action: 'DENY', message: /not supported with action CUSTOM/ },
  { name: 'provider without CUSTOM', spec: { provider: { name: 'x' }, rules: [{}] }, rules: [{}], message: /only allowed with action CUSTOM/ },
];

test('what Istio refuses is enforced fail-safe, and the condition says False and why', () => {
  for (const row of invalidRows) {
    const out = convert({ targetRefs: [gateway()], ...row.spec });
    const c = only(out);
    assert.equal(c.status, 'False', row.name);
    assert.equal(c.reason, 'InvalidField', `${row.name}: ${c.message}`);
    assert.match(c.message, /fields weft cannot use: /, row.name);
    assert.match(c.message, row.message, `${row.name}: ${c.message}`);
    assert.equal(out.authorizations.length, 1, row.name);
    assert.deepEqual(out.authorizations[0]?.rules, row.rules, row.name);
    assert.equal(out.authorizations[0]?.action, row.action ?? 'ALLOW', row.name);
  }
});

test('problems the parser found are reported with the fail-safe it applied', () => {
  const parsed = policy('foo', { targetRefs: [gateway()], action: 'DENY', rules: [{ to: [{ operation: { paths: ['/a'] } }] }, { to: [{ operation: { paths: ['/b'] } }] }] });
  const withProblems: AuthorizationPolicy = {
    ...parsed,
    spec: { ...parsed.spec, rules: parsed.spec.rules.map((r, i) => (i === 1 ? { ...r, index: 3 } : r)) },
    fieldProblems: [{ path: 'spec.rules[3].from[0].source.trustDomains', message: 'not supported by weft' }],
  };
  const out = convertL7AuthorizationPolicy(withProblems, ctx);
  const c = only(out);
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'InvalidField');
  assert.match(c.message, /spec\.rules\[3\]\.from\[0\]\.source\.trustDomains: not supported by weft; fail-safe: DENY rule\(s\) 3 are enforced without those parts/);
  // Rules keep their manifest positions in what is reported.
  const bad = convertL7AuthorizationPolicy({ ...withProblems, fieldProblems: [], spec: { ...withProblems.spec, rules: [{ index: 5, to: [{ operation: { ports: ['x'] } }] }] } }, ctx);
  assert.match(only(bad).message, /spec\.rules\[5\]\.to\[0\]\.operation\.ports\[0\]/);
});

test('dry-run annotation: Go booleans as Istio reads them', () => {
  const dry = (value: string): ConvertedL7Policy => convert({ targetRefs: [gateway()], rules: [{}] }, { annotations: { 'istio.io/dry-run': value } });
  for (const v of ['true', 'True', '1']) {
    const out = dry(v);
    assert.equal(out.authorizations[0]?.dryRun, true, v);
    assert.match(only(out).message, /dry-run: evaluated and reported, not enforced/);
  }
  assert.equal(dry('false').authorizations[0]?.dryRun, false);
  const odd = dry('yes');
  assert.equal(odd.authorizations[0]?.dryRun, false);
  assert.match(only(odd).message, /is not a boolean, so the policy is enforced/);
});
