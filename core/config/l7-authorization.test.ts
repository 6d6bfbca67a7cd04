// The L7 policy validator: a good policy is copied field for field; each malformed field is
// refused with its path; Istio's path template rules are applied as its reference states them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldError } from '#core/config/fields.ts';
import { parseL7Authorization, pathProblem, type L7Authorization } from '#core/config/l7-authorization.ts';

const full: L7Authorization = {
  namespace: 'foo',
  name: 'httpbin',
  action: 'ALLOW',
  waypoint: 'foo/waypoint',
  services: ['foo/httpbin.foo.svc.cluster.local'],
  rules: [
    {
      from: [
        { principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }], notPrincipals: [{ presence: true }] },
        { namespaces: [{ prefix: 'test' }], notNamespaces: [{ suffix: '-dev' }], ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['fd00::/8'], remoteIpBlocks: ['203.0.113.4'], notRemoteIpBlocks: ['198.51.100.0/24'] },
        { serviceAccounts: ['default/sleep'], notServiceAccounts: ['default/curl'] },
      ],
      to: [
        { hosts: [{ suffix: '.example.com' }], notHosts: [{ exact: 'admin.example.com' }], ports: [8000], notPorts: [9000] },
        { methods: [{ exact: 'GET' }], notMethods: [{ exact: 'DELETE' }], paths: [{ prefix: '/info' }, { template: '/foo/{*}/bar/{**}' }], notPaths: [{ exact: '/admin' }] },
      ],
      when: [
        { key: 'request.headers', header: 'x-foo', values: [{ exact: 'foo' }], notValues: [{ exact: 'bar' }] },
        { key: 'source.ip', values: ['10.0.0.0/8'] },
        { key: 'remote.ip', notValues: ['10.0.0.1'] },
        { key: 'destination.ip', values: ['10.0.2.7'] },
        { key: 'destination.port', values: [8000], notValues: [8001] },
        { key: 'source.namespace', values: [{ exact: 'default' }] },
        { key: 'source.principal', values: [{ suffix: '/sa/sleep' }] },
        { key: 'source.trustDomain', values: [{ exact: 'cluster.local' }] },
        { key: 'source.serviceAccount', values: ['default/sleep'] },
        { key: 'connection.sni', values: [{ suffix: '.svc.cluster.local' }] },
      ],
    },
    {},
  ],
  dryRun: true,
};

test('a valid policy is copied field for field into a fresh value', () => {
  const input: unknown = JSON.parse(JSON.stringify(full));
  const parsed = parseL7Authorization(input, 'value');
  assert.deepEqual(parsed, full);
  assert.notEqual(parsed, input);
  assert.notEqual(parsed.rules, (input as { rules: unknown }).rules);
});

test('the minimal policy: no services, no rules', () => {
  const v = { namespace: 'a', name: 'allow-nothing', action: 'ALLOW', waypoint: 'a/wp', rules: [], dryRun: false };
  assert.deepEqual(parseL7Authorization(v, 'value'), v);
});

type Mutate = (p: Record<string, unknown>) => void;
const first = (v: unknown): Record<string, unknown> => (Array.isArray(v) ? v[0] : {}) as Record<string, unknown>;
const rule0 = (p: Record<string, unknown>): Record<string, unknown> => first(p['rules']);

const rejections: [string, Mutate, string][] = [
  ['namespace missing', (p) => { delete p['namespace']; }, 'value.namespace'],
  ['action CUSTOM is not a wire action', (p) => { p['action'] = 'CUSTOM'; }, 'value.action'],
  ['waypoint without namespace', (p) => { p['waypoint'] = 'waypoint'; }, 'value.waypoint'],
  ['services empty', (p) => { p['services'] = []; }, 'value.services'],
  ['services entry malformed', (p) => { p['services'] = ['httpbin']; }, 'value.services[0]'],
  ['dryRun not a boolean', (p) => { p['dryRun'] = 'true'; }, 'value.dryRun'],
  ['rules not an array', (p) => { p['rules'] = {}; }, 'value.rules'],
  ['unknown top-level field', (p) => { p['selector'] = {}; }, 'value.selector'],
  ['unknown rule field', (p) => { rule0(p)['then'] = []; }, 'value.rules[0].then'],
  ['unknown source field', (p) => { first(rule0(p)['from'])['trustDomains'] = []; }, 'value.rules[0].from[0].trustDomains'],
  ['unknown operation field', (p) => { first(rule0(p)['to'])['queries'] = []; }, 'value.rules[0].to[0].queries'],
  ['string match with two forms', (p) => { first(rule0(p)['from'])['principals'] = [{ exact: 'a', prefix: 'b' }]; }, 'value.rules[0].from[0].principals[0]'],
  ['presence must be true', (p) => { first(rule0(p)['from'])['principals'] = [{ presence: false }]; }, 'value.rules[0].from[0].principals[0].presence'],
  ['bad CIDR', (p) => { first(rule0(p)['from'])['ipBlocks'] = ['10.0.0.0/33']; }, 'value.rules[0].from[0].ipBlocks[0]'],
  ['serviceAccount without namespace', (p) => { first(rule0(p)['from'])['serviceAccounts'] = ['sleep']; }, 'value.rules[0].from[0].serviceAccounts[0]'],
  ['port out of range', (p) => { first(rule0(p)['to'])['ports'] = [70000]; }, 'value.rules[0].to[0].ports[0]'],
  ['port as a string', (p) => { first(rule0(p)['to'])['ports'] = ['80']; }, 'value.rules[0].to[0].ports[0]'],
  ['template without operator', (p) => { first(rule0(p)['to'])['paths'] = [{ template: '/foo' }]; }, 'value.rules[0].to[0].paths[0].template'],
  ['template with {**} not last', (p) => { first(rule0(p)['to'])['paths'] = [{ template: '/{**}/foo/{*}' }]; }, 'value.rules[0].to[0].paths[0].template'],
  ['unknown condition key', (p) => { rule0(p)['when'] = [{ key: 'request.auth.principal', values: [{ exact: 'a' }] }]; }, 'value.rules[0].when[0].key'],
  ['condition without values', (p) => { rule0(p)['when'] = [{ key: 'source.ip' }]; }, 'value.rules[0].when[0]'],
  ['header condition without header', (p) => { rule0(p)['when'] = [{ key: 'request.headers', values: [{ exact: 'a' }] }]; }, 'value.rules[0].when[0].header'],
  ['header name not lowercase', (p) => { rule0(p)['when'] = [{ key: 'request.headers', header: 'X-Foo', values: [{ exact: 'a' }] }]; }, 'value.rules[0].when[0].header'],
  ['header field on another key', (p) => { rule0(p)['when'] = [{ key: 'source.ip', header: 'x', values: ['1.2.3.4'] }]; }, 'value.rules[0].when[0].header'],
  ['port condition with a string', (p) => { rule0(p)['when'] = [{ key: 'destination.port', values: ['80'] }]; }, 'value.rules[0].when[0].values[0]'],
];

test('each malformed field is refused with its path', () => {
  for (const [name, mutate, path] of rejections) {
    const p = JSON.parse(JSON.stringify(full)) as Record<string, unknown>;
    mutate(p);
    assert.throws(() => parseL7Authorization(p, 'value'), (err: unknown) => err instanceof FieldError && err.path === path, name);
  }
});

test('path templates follow the rules of Istio\'s Operation.paths', () => {
  const cases: [string, boolean][] = [
    ['/foo/{*}', true],
    ['/foo/{**}/', true],
    ['/foo/{*}/bar/{**}', true],
    ['/store/{**}/cart', true],
    ['/info*', true],
    ['/*/baz/{*}', false],
    ['/**/baz/{*}', false],
    ['/{**}/foo/{*}', false],
    ['/foo/{*}.txt', false],
    ['/foo/{name}', false],
    ['/a//{*}', false],
    ['foo/{*}', false],
  ];
  for (const [path, ok] of cases) assert.equal(pathProblem(path) === undefined, ok, path);
});
