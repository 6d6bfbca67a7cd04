// Table tests after the text of Istio's AuthorizationPolicy reference (authorization_policy.proto)
// and Envoy's URI template rules: one row per stated rule, on the wire form the waypoint receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { L7Action, L7Authorization, L7Rule } from '#core/config/l7-authorization.ts';
import { authorizeRequest, type L7Request } from '#waypoint/policy/authorize.ts';

const SVC = 'foo/httpbin.foo.svc.cluster.local';

function req(over: Partial<L7Request> = {}, headers: Record<string, string> = {}): L7Request {
  return {
    service: SVC,
    sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/sleep',
    sourceIp: '10.0.1.5',
    remoteIp: '203.0.113.9',
    destinationIp: '10.0.2.7',
    destinationPort: 8000,
    host: 'httpbin.foo.svc.cluster.local',
    method: 'GET',
    path: '/info',
    header: (name) => headers[name],
    ...over,
  };
}

const plaintext: Partial<L7Request> = { sourcePrincipal: '' };

/** A request for a workload addressed directly: no Service. */
function direct(): L7Request {
  const r = req();
  delete r.service;
  return r;
}

function pol(name: string, rules: L7Rule[], action: L7Action = 'ALLOW', extra: Partial<L7Authorization> = {}): L7Authorization {
  return { namespace: 'foo', name, action, waypoint: 'foo/waypoint', rules, dryRun: false, ...extra };
}

const allowAll = pol('allow-all', [{}]);
const allowNothing = pol('allow-nothing', []);
const denyAll = pol('deny-all', [{}], 'DENY');
const allowWhen = (name: string, rule: L7Rule): L7Authorization => pol(name, [rule]);

interface Row {
  name: string;
  policies: L7Authorization[];
  req: L7Request;
  allowed: boolean;
  policy?: string;
}

const rows: Row[] = [
  // Evaluation order (proto header: CUSTOM, then DENY, then ALLOW).
  { name: 'no policies: allow', policies: [], req: req(), allowed: true },
  { name: 'allow-nothing (spec: {}) denies', policies: [allowNothing], req: req(), allowed: false },
  { name: 'allow-all (rules: [{}]) allows', policies: [allowAll], req: req(), allowed: true, policy: 'foo/allow-all' },
  { name: 'DENY is evaluated before ALLOW', policies: [allowAll, denyAll], req: req(), allowed: false, policy: 'foo/deny-all' },
  { name: 'only non-matching DENY: no ALLOW policy, allow', policies: [pol('deny-post', [{ to: [{ methods: [{ exact: 'POST' }] }] }], 'DENY')], req: req(), allowed: true },
  { name: 'ALLOW present but none matches: deny', policies: [allowWhen('get-only', { to: [{ methods: [{ exact: 'POST' }] }] })], req: req(), allowed: false },
  { name: 'any ALLOW policy may match', policies: [allowNothing, allowAll], req: req(), allowed: true, policy: 'foo/allow-all' },
  { name: 'AUDIT never decides', policies: [pol('audit', [{}], 'AUDIT')], req: req(), allowed: true },
  { name: 'AUDIT does not count as an ALLOW policy', policies: [pol('audit', [{}], 'AUDIT'), denyAll], req: req(), allowed: false, policy: 'foo/deny-all' },

  // Source: principals (exact, prefix, suffix, presence) and notPrincipals.
  { name: 'principals exact, without scheme', policies: [allowWhen('p', { from: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] })], req: req(), allowed: true, policy: 'foo/p' },
  { name: 'principals exact: other identity', policies: [allowWhen('p', { from: [{ principals: [{ exact: 'cluster.local/ns/default/sa/other' }] }] })], req: req(), allowed: false },
  { name: 'principals prefix abc*', policies: [allowWhen('p', { from: [{ principals: [{ prefix: 'cluster.local/ns/default/' }] }] })], req: req(), allowed: true, policy: 'foo/p' },
  { name: 'principals suffix *abc', policies: [allowWhen('p', { from: [{ principals: [{ suffix: '/sa/sleep' }] }] })], req: req(), allowed: true, policy: 'foo/p' },
  { name: 'principals "*" needs mTLS', policies: [allowWhen('p', { from: [{ principals: [{ presence: true }] }] })], req: req(plaintext), allowed: false },
  { name: 'notPrincipals "*" denies plaintext', policies: [pol('strict', [{ from: [{ notPrincipals: [{ presence: true }] }] }], 'DENY')], req: req(plaintext), allowed: false, policy: 'foo/strict' },
  { name: 'notPrincipals "*" spares mTLS', policies: [pol('strict', [{ from: [{ notPrincipals: [{ presence: true }] }] }], 'DENY')], req: req(), allowed: true },

  // namespaces / notNamespaces, derived from the peer identity.
  { name: 'namespaces exact', policies: [allowWhen('ns', { from: [{ namespaces: [{ exact: 'default' }] }] })], req: req(), allowed: true, policy: 'foo/ns' },
  { name: 'namespaces prefix', policies: [allowWhen('ns', { from: [{ namespaces: [{ prefix: 'def' }] }] })], req: req(), allowed: true, policy: 'foo/ns' },
  { name: 'namespaces suffix', policies: [allowWhen('ns', { from: [{ namespaces: [{ suffix: '-prod' }] }] })], req: req(), allowed: false },
  { name: 'namespaces need an identity', policies: [allowWhen('ns', { from: [{ namespaces: [{ presence: true }] }] })], req: req(plaintext), allowed: false },
  { name: 'notNamespaces denies other namespaces', policies: [pol('deny-not-foo', [{ from: [{ notNamespaces: [{ exact: 'foo' }] }] }], 'DENY')], req: req(), allowed: false, policy: 'foo/deny-not-foo' },
  { name: 'notNamespaces spares the listed one', policies: [pol('deny-not-default', [{ from: [{ notNamespaces: [{ exact: 'default' }] }] }], 'DENY')], req: req(), allowed: true },

  // serviceAccounts / notServiceAccounts (`ns/sa`).
  { name: 'serviceAccounts', policies: [allowWhen('sa', { from: [{ serviceAccounts: ['default/sleep'] }] })], req: req(), allowed: true, policy: 'foo/sa' },
  { name: 'serviceAccounts other', policies: [allowWhen('sa', { from: [{ serviceAccounts: ['default/curl'] }] })], req: req(), allowed: false },
  { name: 'notServiceAccounts', policies: [pol('not-sa', [{ from: [{ notServiceAccounts: ['default/sleep'] }] }], 'DENY')], req: req({ sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/curl' }), allowed: false, policy: 'foo/not-sa' },

  // ipBlocks / remoteIpBlocks and their not forms, IPv4 and IPv6.
  { name: 'ipBlocks CIDR', policies: [allowWhen('ip', { from: [{ ipBlocks: ['10.0.0.0/16'] }] })], req: req(), allowed: true, policy: 'foo/ip' },
  { name: 'ipBlocks single address', policies: [allowWhen('ip', { from: [{ ipBlocks: ['10.0.1.5'] }] })], req: req(), allowed: true, policy: 'foo/ip' },
  { name: 'ipBlocks IPv4-mapped peer address', policies: [allowWhen('ip', { from: [{ ipBlocks: ['10.0.1.0/24'] }] })], req: req({ sourceIp: '::ffff:10.0.1.5' }), allowed: true, policy: 'foo/ip' },
  { name: 'ipBlocks IPv6', policies: [allowWhen('ip', { from: [{ ipBlocks: ['fd00:10::/32'] }] })], req: req({ sourceIp: 'fd00:10::5' }), allowed: true, policy: 'foo/ip' },
  { name: 'ipBlocks IPv6 miss', policies: [allowWhen('ip', { from: [{ ipBlocks: ['fd00:10::/32'] }] })], req: req({ sourceIp: 'fd00:11::5' }), allowed: false },
  { name: 'notIpBlocks', policies: [pol('deny-ip', [{ from: [{ notIpBlocks: ['10.0.0.0/8'] }] }], 'DENY')], req: req({ sourceIp: '192.168.1.1' }), allowed: false, policy: 'foo/deny-ip' },
  { name: 'remoteIpBlocks uses the original client', policies: [allowWhen('rip', { from: [{ remoteIpBlocks: ['203.0.113.0/24'] }] })], req: req(), allowed: true, policy: 'foo/rip' },
  { name: 'remoteIpBlocks ignores the peer address', policies: [allowWhen('rip', { from: [{ remoteIpBlocks: ['10.0.1.5'] }] })], req: req(), allowed: false },
  { name: 'notRemoteIpBlocks', policies: [pol('deny-rip', [{ from: [{ notRemoteIpBlocks: ['203.0.113.0/24'] }] }], 'DENY')], req: req({ remoteIp: '198.51.100.1' }), allowed: false, policy: 'foo/deny-rip' },

  // "Fields in the source are ANDed together" (the proto's Source example).
  {
    name: 'source fields AND: all hold',
    policies: [allowWhen('src', { from: [{ principals: [{ exact: 'admin' }, { exact: 'dev' }], namespaces: [{ exact: 'prod' }, { exact: 'test' }], notIpBlocks: ['203.0.113.4'] }] })],
    req: req({ sourcePrincipal: 'dev', sourceNamespace: 'test', sourceIp: '203.0.113.5' }), allowed: true, policy: 'foo/src',
  },
  {
    name: 'source fields AND: the not-ip fails',
    policies: [allowWhen('src', { from: [{ principals: [{ exact: 'admin' }, { exact: 'dev' }], namespaces: [{ exact: 'prod' }, { exact: 'test' }], notIpBlocks: ['203.0.113.4'] }] })],
    req: req({ sourcePrincipal: 'dev', sourceNamespace: 'test', sourceIp: '203.0.113.4' }), allowed: false,
  },
  { name: 'from entries OR', policies: [allowWhen('or', { from: [{ namespaces: [{ exact: 'test' }] }, { principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] })], req: req(), allowed: true, policy: 'foo/or' },

  // Operation: hosts, case-insensitive, compared with the authority as sent.
  { name: 'hosts exact, case-insensitive', policies: [allowWhen('h', { to: [{ hosts: [{ exact: 'httpbin.foo.svc.cluster.local' }] }] })], req: req({ host: 'HTTPBIN.foo.svc.cluster.local' }), allowed: true, policy: 'foo/h' },
  { name: 'hosts exact does not match host:port', policies: [allowWhen('h', { to: [{ hosts: [{ exact: 'example.com' }] }] })], req: req({ host: 'example.com:8000' }), allowed: false },
  { name: 'hosts "example.com:*" matches host:port', policies: [allowWhen('h', { to: [{ hosts: [{ exact: 'example.com' }, { prefix: 'example.com:' }] }] })], req: req({ host: 'example.com:8000' }), allowed: true, policy: 'foo/h' },
  { name: 'hosts suffix *.example.com', policies: [allowWhen('h', { to: [{ hosts: [{ suffix: '.example.com' }] }] })], req: req({ host: 'api.Example.com' }), allowed: true, policy: 'foo/h' },
  { name: 'hosts prefix', policies: [allowWhen('h', { to: [{ hosts: [{ prefix: 'prefix.example.' }] }] })], req: req({ host: 'prefix.example.org' }), allowed: true, policy: 'foo/h' },
  { name: 'notHosts', policies: [allowWhen('nh', { to: [{ notHosts: [{ exact: 'deny.example.com' }] }] })], req: req({ host: 'deny.example.com' }), allowed: false },
  { name: 'notHosts other host', policies: [allowWhen('nh', { to: [{ notHosts: [{ exact: 'deny.example.com' }] }] })], req: req({ host: 'allow.example.com' }), allowed: true, policy: 'foo/nh' },

  // ports / notPorts; methods / notMethods (case-sensitive).
  { name: 'ports', policies: [allowWhen('port', { to: [{ ports: [8000] }] })], req: req(), allowed: true, policy: 'foo/port' },
  { name: 'notPorts', policies: [allowWhen('port', { to: [{ notPorts: [8000] }] })], req: req(), allowed: false },
  { name: 'methods', policies: [allowWhen('m', { to: [{ methods: [{ exact: 'GET' }, { exact: 'HEAD' }] }] })], req: req({ method: 'HEAD' }), allowed: true, policy: 'foo/m' },
  { name: 'methods are case-sensitive', policies: [allowWhen('m', { to: [{ methods: [{ exact: 'get' }] }] })], req: req(), allowed: false },
  { name: 'notMethods', policies: [pol('no-delete', [{ to: [{ notMethods: [{ exact: 'GET' }] }] }], 'DENY')], req: req({ method: 'DELETE' }), allowed: false, policy: 'foo/no-delete' },

  // paths: exact, prefix, suffix, presence, templates; the query is not part of the path.
  { name: 'paths exact', policies: [allowWhen('p', { to: [{ paths: [{ exact: '/info' }] }] })], req: req(), allowed: true, policy: 'foo/p' },
  { name: 'paths exact ignores the query', policies: [allowWhen('p', { to: [{ paths: [{ exact: '/info' }] }] })], req: req({ path: '/info?x=1' }), allowed: true, policy: 'foo/p' },
  { name: 'paths exact is case-sensitive', policies: [allowWhen('p', { to: [{ paths: [{ exact: '/info' }] }] })], req: req({ path: '/Info' }), allowed: false },
  { name: 'paths prefix /info*', policies: [allowWhen('p', { to: [{ paths: [{ prefix: '/info' }] }] })], req: req({ path: '/information' }), allowed: true, policy: 'foo/p' },
  { name: 'paths suffix *.html', policies: [allowWhen('p', { to: [{ paths: [{ suffix: '.html' }] }] })], req: req({ path: '/a/index.html' }), allowed: true, policy: 'foo/p' },
  { name: 'paths "*" is any non-empty path', policies: [allowWhen('p', { to: [{ paths: [{ presence: true }] }] })], req: req({ path: '/' }), allowed: true, policy: 'foo/p' },
  { name: 'notPaths (DENY-with-negative-match)', policies: [pol('public-only', [{ to: [{ notPaths: [{ exact: '/public' }] }] }], 'DENY')], req: req({ path: '/private' }), allowed: false, policy: 'foo/public-only' },
  { name: 'notPaths spares the listed path', policies: [pol('public-only', [{ to: [{ notPaths: [{ exact: '/public' }] }] }], 'DENY')], req: req({ path: '/public' }), allowed: true },
  { name: '/foo/{*} matches one segment', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{*}' }] }] })], req: req({ path: '/foo/bar' }), allowed: true, policy: 'foo/t' },
  { name: '/foo/{*} does not span segments', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{*}' }] }] })], req: req({ path: '/foo/bar/baz' }), allowed: false },
  { name: '/foo/{**}/ matches /foo/bar/', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{**}/' }] }] })], req: req({ path: '/foo/bar/' }), allowed: true, policy: 'foo/t' },
  { name: '/foo/{**}/ matches /foo//', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{**}/' }] }] })], req: req({ path: '/foo//' }), allowed: true, policy: 'foo/t' },
  { name: '/foo/{**}/ does not match /foo/bar', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{**}/' }] }] })], req: req({ path: '/foo/bar' }), allowed: false },
  { name: '/foo/{*}/bar/{**} matches /foo/buzz/bar/', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{*}/bar/{**}' }] }] })], req: req({ path: '/foo/buzz/bar/' }), allowed: true, policy: 'foo/t' },
  { name: '/foo/{*}/bar/{**} matches /foo/buzz/bar/baz', policies: [allowWhen('t', { to: [{ paths: [{ template: '/foo/{*}/bar/{**}' }] }] })], req: req({ path: '/foo/buzz/bar/baz' }), allowed: true, policy: 'foo/t' },
  { name: '/a/{**} needs the slash after /a', policies: [allowWhen('t', { to: [{ paths: [{ template: '/a/{**}' }] }] })], req: req({ path: '/a' }), allowed: false },
  { name: 'notPaths template', policies: [pol('t', [{ to: [{ notPaths: [{ template: '/store/{**}/cart' }] }] }], 'DENY')], req: req({ path: '/store/x/y/cart' }), allowed: true },

  // "Fields in the operation are ANDed" (the proto's Operation example) and `to` entries OR.
  {
    name: 'operation fields AND',
    policies: [allowWhen('op', { to: [{ hosts: [{ suffix: '.example.com' }], methods: [{ exact: 'GET' }, { exact: 'HEAD' }], notPaths: [{ prefix: '/admin' }] }] })],
    req: req({ host: 'a.example.com', path: '/admin/x' }), allowed: false,
  },
  {
    name: 'to entries OR (GET /info* or POST /data)',
    policies: [allowWhen('op', { to: [{ methods: [{ exact: 'GET' }], paths: [{ prefix: '/info' }] }, { methods: [{ exact: 'POST' }], paths: [{ exact: '/data' }] }] })],
    req: req({ method: 'POST', path: '/data' }), allowed: true, policy: 'foo/op',
  },
  {
    name: 'from AND to: the DENY example (namespace dev, POST)',
    policies: [pol('deny-dev-post', [{ from: [{ namespaces: [{ exact: 'dev' }] }], to: [{ methods: [{ exact: 'POST' }] }] }], 'DENY')],
    req: req({ sourcePrincipal: 'spiffe://cluster.local/ns/dev/sa/x', method: 'GET' }), allowed: true,
  },
  {
    name: 'from AND to: both hold',
    policies: [pol('deny-dev-post', [{ from: [{ namespaces: [{ exact: 'dev' }] }], to: [{ methods: [{ exact: 'POST' }] }] }], 'DENY')],
    req: req({ sourcePrincipal: 'spiffe://cluster.local/ns/dev/sa/x', method: 'POST' }), allowed: false, policy: 'foo/deny-dev-post',
  },
  { name: 'rules OR', policies: [pol('rules', [{ to: [{ methods: [{ exact: 'PUT' }] }] }, { to: [{ paths: [{ exact: '/info' }] }] }])], req: req(), allowed: true, policy: 'foo/rules' },

  // when: every key weft evaluates, values and notValues; conditions AND.
  { name: 'when request.headers values', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: 'x-foo', values: [{ exact: 'foo' }] }] })], req: req({}, { 'x-foo': 'foo' }), allowed: true, policy: 'foo/w' },
  { name: 'when request.headers values, header absent', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: 'x-foo', values: [{ exact: 'foo' }] }] })], req: req(), allowed: false },
  { name: 'when request.headers notValues, header absent', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: 'x-foo', notValues: [{ exact: 'bar' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when request.headers notValues', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: 'x-foo', notValues: [{ exact: 'bar' }] }] })], req: req({}, { 'x-foo': 'bar' }), allowed: false },
  { name: 'when request.headers "*" is presence', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: 'x-foo', values: [{ presence: true }] }] })], req: req({}, { 'x-foo': '' }), allowed: true, policy: 'foo/w' },
  { name: 'when request.headers[:authority]', policies: [allowWhen('w', { when: [{ key: 'request.headers', header: ':authority', values: [{ prefix: 'httpbin.' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.ip', policies: [allowWhen('w', { when: [{ key: 'source.ip', values: ['10.0.1.0/24'] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.ip notValues', policies: [allowWhen('w', { when: [{ key: 'source.ip', notValues: ['10.0.1.5'] }] })], req: req(), allowed: false },
  { name: 'when remote.ip', policies: [allowWhen('w', { when: [{ key: 'remote.ip', values: ['203.0.113.9'] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when remote.ip notValues', policies: [allowWhen('w', { when: [{ key: 'remote.ip', notValues: ['203.0.113.0/24'] }] })], req: req(), allowed: false },
  { name: 'when source.namespace', policies: [allowWhen('w', { when: [{ key: 'source.namespace', values: [{ exact: 'default' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.namespace notValues', policies: [allowWhen('w', { when: [{ key: 'source.namespace', notValues: [{ exact: 'default' }] }] })], req: req(), allowed: false },
  { name: 'when source.principal', policies: [allowWhen('w', { when: [{ key: 'source.principal', values: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.principal notValues', policies: [allowWhen('w', { when: [{ key: 'source.principal', notValues: [{ suffix: '/sa/sleep' }] }] })], req: req(), allowed: false },
  { name: 'when source.serviceAccount', policies: [allowWhen('w', { when: [{ key: 'source.serviceAccount', values: ['default/sleep'] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.serviceAccount notValues', policies: [allowWhen('w', { when: [{ key: 'source.serviceAccount', notValues: ['default/sleep'] }] })], req: req(), allowed: false },
  { name: 'when source.trustDomain', policies: [allowWhen('w', { when: [{ key: 'source.trustDomain', values: [{ exact: 'cluster.local' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when source.trustDomain notValues', policies: [allowWhen('w', { when: [{ key: 'source.trustDomain', notValues: [{ exact: 'bad.example.com' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when destination.ip', policies: [allowWhen('w', { when: [{ key: 'destination.ip', values: ['10.0.2.7'] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when destination.ip notValues', policies: [allowWhen('w', { when: [{ key: 'destination.ip', notValues: ['10.0.2.0/24'] }] })], req: req(), allowed: false },
  { name: 'when destination.port', policies: [allowWhen('w', { when: [{ key: 'destination.port', values: [8000] }] })], req: req(), allowed: true, policy: 'foo/w' },
  { name: 'when destination.port notValues', policies: [allowWhen('w', { when: [{ key: 'destination.port', notValues: [8000] }] })], req: req(), allowed: false },
  { name: 'when connection.sni suffix', policies: [allowWhen('w', { when: [{ key: 'connection.sni', values: [{ suffix: '.foo.svc.cluster.local' }] }] })], req: req({ sni: 'httpbin.foo.svc.cluster.local' }), allowed: true, policy: 'foo/w' },
  { name: 'when connection.sni without SNI', policies: [allowWhen('w', { when: [{ key: 'connection.sni', values: [{ presence: true }] }] })], req: req(), allowed: false },
  { name: 'when connection.sni notValues without SNI', policies: [allowWhen('w', { when: [{ key: 'connection.sni', notValues: [{ exact: 'never-matched' }] }] })], req: req(), allowed: true, policy: 'foo/w' },
  {
    name: 'when conditions AND',
    policies: [allowWhen('w', { when: [{ key: 'destination.port', values: [8000] }, { key: 'request.headers', header: 'x-foo', values: [{ exact: 'foo' }] }] })],
    req: req(), allowed: false,
  },
  {
    name: 'from, to and when AND',
    policies: [allowWhen('w', { from: [{ namespaces: [{ exact: 'default' }] }], to: [{ paths: [{ exact: '/info' }] }], when: [{ key: 'source.ip', values: ['10.0.1.5'] }] })],
    req: req(), allowed: true, policy: 'foo/w',
  },

  // Service-attached policies apply to requests for those Services only.
  { name: 'Service-attached ALLOW applies to its Service', policies: [pol('svc', [], 'ALLOW', { services: [SVC] })], req: req(), allowed: false },
  { name: 'Service-attached ALLOW leaves other Services alone', policies: [pol('svc', [], 'ALLOW', { services: ['foo/other.foo.svc.cluster.local'] })], req: req(), allowed: true },
  { name: 'Service-attached DENY skips workload-addressed requests', policies: [pol('svc', [{}], 'DENY', { services: [SVC] })], req: direct(), allowed: true },
  { name: 'Gateway-attached applies to every request', policies: [pol('gw', [{}], 'DENY')], req: direct(), allowed: false, policy: 'foo/gw' },

  // Fail-safe forms the controller produces for parts weft cannot evaluate.
  { name: 'fail-safe: ALLOW whose rules were all dropped allows nothing', policies: [pol('jwt-allow', [])], req: req(), allowed: false },
  { name: 'fail-safe: DENY with the part dropped matches more', policies: [pol('jwt-deny', [{ from: [{}] }], 'DENY')], req: req(), allowed: false, policy: 'foo/jwt-deny' },
];

test('authorizeRequest follows Istio semantics', () => {
  for (const r of rows) {
    const d = authorizeRequest(r.policies, r.req);
    assert.equal(d.allowed, r.allowed, `${r.name}: ${d.reason}`);
    assert.equal(d.policy, r.policy, r.name);
  }
});

test('reasons say which policy decided, or that none applied or matched', () => {
  assert.equal(authorizeRequest([], req()).reason, 'no ALLOW policy applies');
  assert.equal(authorizeRequest([allowAll, denyAll], req()).reason, 'denied by DENY policy foo/deny-all');
  assert.equal(authorizeRequest([allowAll], req()).reason, 'allowed by ALLOW policy foo/allow-all');
  assert.equal(authorizeRequest([allowNothing], req()).reason, 'no ALLOW policy matched (foo/allow-nothing)');
});

test('AUDIT policies that match are listed and change nothing', () => {
  const audit = pol('audit-get', [{ to: [{ methods: [{ exact: 'GET' }] }] }], 'AUDIT');
  const auditPost = pol('audit-post', [{ to: [{ methods: [{ exact: 'POST' }] }] }], 'AUDIT');
  assert.deepEqual(authorizeRequest([audit, auditPost], req()), { allowed: true, reason: 'no ALLOW policy applies', audited: ['foo/audit-get'] });
  const denied = authorizeRequest([audit, allowNothing], req());
  assert.equal(denied.allowed, false);
  assert.deepEqual(denied.audited, ['foo/audit-get']);
});

test('dry-run policies never decide; the shadow decision is reported', () => {
  const dryDeny = pol('dry-deny', [{ to: [{ paths: [{ exact: '/headers' }] }] }], 'DENY', { dryRun: true });
  const hit = authorizeRequest([dryDeny], req({ path: '/headers' }));
  assert.equal(hit.allowed, true);
  assert.equal(hit.policy, undefined);
  assert.deepEqual(hit.dryRun, { allowed: false, policy: 'foo/dry-deny', reason: 'denied by DENY policy foo/dry-deny', matched: ['foo/dry-deny'] });

  const miss = authorizeRequest([dryDeny], req());
  assert.deepEqual(miss.dryRun, { allowed: true, reason: 'no ALLOW policy applies', matched: [] });

  // A dry-run ALLOW that would be the only ALLOW policy: enforcing it would deny this request.
  const dryAllow = pol('dry-allow', [{ to: [{ methods: [{ exact: 'POST' }] }] }], 'ALLOW', { dryRun: true });
  const shadowDeny = authorizeRequest([dryAllow], req());
  assert.equal(shadowDeny.allowed, true);
  assert.deepEqual(shadowDeny.dryRun, { allowed: false, reason: 'no ALLOW policy matched (foo/dry-allow)', matched: [] });

  // Enforced policies still decide, and count in the shadow decision too.
  const both = authorizeRequest([dryAllow, denyAll], req());
  assert.equal(both.allowed, false);
  assert.equal(both.dryRun?.policy, 'foo/deny-all');

  assert.equal(authorizeRequest([allowAll], req()).dryRun, undefined);
  const elsewhere = pol('dry-elsewhere', [{}], 'DENY', { dryRun: true, services: ['foo/other.foo.svc.cluster.local'] });
  assert.equal(authorizeRequest([elsewhere], req()).dryRun, undefined);
});

test('the deciding policy does not depend on push order', () => {
  const a = pol('a-deny', [{}], 'DENY');
  const b = pol('b-deny', [{}], 'DENY');
  assert.equal(authorizeRequest([b, a], req()).policy, 'foo/a-deny');
  assert.equal(authorizeRequest([a, b], req()).policy, 'foo/a-deny');
});

test('a reused list keeps its answers and a replaced list is read afresh', () => {
  const list: readonly L7Authorization[] = [allowWhen('get', { to: [{ methods: [{ exact: 'GET' }] }] })];
  assert.equal(authorizeRequest(list, req()).allowed, true);
  assert.equal(authorizeRequest(list, req({ method: 'PUT' })).allowed, false);
  const next: readonly L7Authorization[] = [allowWhen('put', { to: [{ methods: [{ exact: 'PUT' }] }] })];
  assert.equal(authorizeRequest(next, req({ method: 'PUT' })).allowed, true);
  assert.equal(authorizeRequest(list, req({ method: 'PUT' })).allowed, false);
});

test('a principal that is not a Kubernetes SPIFFE id still matches principals, not namespaces', () => {
  const principal = allowWhen('p', { from: [{ principals: [{ exact: 'example.org/workload/x' }] }] });
  assert.equal(authorizeRequest([principal], req({ sourcePrincipal: 'spiffe://example.org/workload/x' })).allowed, true);
  const ns = allowWhen('ns', { from: [{ namespaces: [{ presence: true }] }] });
  assert.equal(authorizeRequest([ns], req({ sourcePrincipal: 'spiffe://example.org/workload/x' })).allowed, false);
});

test('a given source namespace wins over the one in the principal', () => {
  const fromTest = allowWhen('ns', { from: [{ namespaces: [{ exact: 'test' }] }] });
  assert.equal(authorizeRequest([fromTest], req({ sourceNamespace: 'test' })).allowed, true);
  assert.equal(authorizeRequest([fromTest], req()).allowed, false);
  // The service account still comes from the principal.
  const sa = allowWhen('sa', { from: [{ serviceAccounts: ['default/sleep'] }] });
  assert.equal(authorizeRequest([sa], req({ sourceNamespace: 'test' })).allowed, true);
});

test('pseudo-headers in request.headers come from the request', () => {
  const post = allowWhen('w', { when: [{ key: 'request.headers', header: ':method', values: [{ exact: 'POST' }] }] });
  assert.equal(authorizeRequest([post], req({ method: 'POST' })).allowed, true);
  assert.equal(authorizeRequest([post], req()).allowed, false);
  const path = allowWhen('w', { when: [{ key: 'request.headers', header: ':path', values: [{ prefix: '/in' }] }] });
  assert.equal(authorizeRequest([path], req()).allowed, true);
});
