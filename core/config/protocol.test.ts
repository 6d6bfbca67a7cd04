import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, parseClientMessage, parseServerMessage } from './protocol.ts';
import { validateResources } from './validate.ts';
import {
  authorizationResource, emptyMatch, sampleAuthorization, sampleService, sampleWorkload, serviceResource, workloadResource,
} from './testing.ts';

// Deep copy with one field replaced (or deleted when value is undefined) at a dotted path.
function withField(v: unknown, path: string, value: unknown): unknown {
  const copy: unknown = structuredClone(v);
  const parts = path.split('.');
  let cur: unknown = copy;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur !== 'object' || cur === null) throw new Error(`bad path ${path}`);
    cur = (cur as Record<string, unknown>)[p];
  }
  const last = parts[parts.length - 1] ?? '';
  if (typeof cur !== 'object' || cur === null) throw new Error(`bad path ${path}`);
  const target = cur as Record<string, unknown>;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}

test('client messages: valid ones parse', () => {
  const cases: [unknown, unknown][] = [
    [{ type: 'subscribe', client: { kind: 'ztunnel', node: 'n1' }, token: 't' }, { type: 'subscribe', client: { kind: 'ztunnel', node: 'n1' }, token: 't' }],
    [{ type: 'subscribe', client: { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/a/sa/w' }, token: 't', resumeVersion: 4 },
      { type: 'subscribe', client: { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/a/sa/w' }, token: 't', resumeVersion: 4 }],
    [{ type: 'ack', version: 3, extra: 1 }, { type: 'ack', version: 3 }],
    [{ type: 'nack', version: 3, errors: [{ kind: 'workload', key: 'u', reason: 'bad' }] }, { type: 'nack', version: 3, errors: [{ kind: 'workload', key: 'u', reason: 'bad' }] }],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseClientMessage(input), { ok: true, message: want });
});

test('client messages: each invalid field is refused with its path', () => {
  const sub = { type: 'subscribe', client: { kind: 'ztunnel', node: 'n1' }, token: 't' };
  const cases: [unknown, RegExp][] = [
    [null, /message: must be an object/],
    [[1], /message: must be an object/],
    [{ type: 'hello' }, /message\.type/],
    [withField(sub, 'client', undefined), /message\.client: must be an object/],
    [withField(sub, 'client.kind', 'sidecar'), /message\.client\.kind/],
    [withField(sub, 'client.node', ''), /message\.client\.node: must not be empty/],
    [{ ...sub, client: { kind: 'waypoint', identity: 'not-spiffe' } }, /message\.client\.identity/],
    [withField(sub, 'token', 7), /message\.token: must be a string/],
    [withField(sub, 'token', ''), /message\.token: must not be empty/],
    [{ ...sub, resumeVersion: -1 }, /message\.resumeVersion/],
    [{ ...sub, resumeVersion: 1.5 }, /message\.resumeVersion/],
    [{ type: 'ack' }, /message\.version/],
    [{ type: 'ack', version: '3' }, /message\.version/],
    [{ type: 'nack', version: 1 }, /message\.errors: must be an array/],
    [{ type: 'nack', version: 1, errors: [{ kind: 'workload', key: 'k' }] }, /message\.errors\[0\]\.reason/],
  ];
  for (const [input, want] of cases) {
    const r = parseClientMessage(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.match(r.reason, want);
  }
});

test('server messages: snapshot, delta and error parse; resources are handed on unvalidated, for the mutator', () => {
  const w = workloadResource(sampleWorkload());
  const s = serviceResource(sampleService());
  const a = authorizationResource(sampleAuthorization());
  assert.deepEqual(parseServerMessage(JSON.parse(JSON.stringify({ type: 'snapshot', version: 1, resources: [w, s, a] }))),
    { ok: true, message: { type: 'snapshot', version: 1, resources: [w, s, a] } });
  const bad = withField(w, 'value.addresses', ['not-an-ip']);
  const r = parseServerMessage({ type: 'delta', version: 2, updated: [bad, s, 'junk'], removed: [{ kind: 'authorization', key: 'default/x' }] });
  assert.ok(r.ok);
  assert.equal(r.message.type, 'delta');
  if (r.message.type !== 'delta') return;
  // A bad resource is not the envelope's business: the proxy's mutator refuses it, and its refusal is the NACK.
  assert.deepEqual(r.message.updated, [bad, s, 'junk']);
  assert.deepEqual(r.message.removed, [{ kind: 'authorization', key: 'default/x' }]);
  assert.deepEqual(parseServerMessage({ type: 'error', code: 'C', message: 'm' }), { ok: true, message: { type: 'error', code: 'C', message: 'm' } });
});

test('server messages: envelope errors refuse the whole message', () => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'snapshot', version: 1 }, /message\.resources/],
    [{ type: 'snapshot', version: -2, resources: [] }, /message\.version/],
    [{ type: 'delta', version: 1, updated: [] }, /message\.removed/],
    [{ type: 'delta', version: 1, updated: [], removed: [{ kind: 'pod', key: 'x' }] }, /message\.removed\[0\]\.kind/],
    [{ type: 'error', message: 'm' }, /message\.code/],
    ['snapshot', /must be an object/],
  ];
  for (const [input, want] of cases) {
    const r = parseServerMessage(input);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, want);
  }
});

test('resource validators: valid samples pass, including optional fields left out', () => {
  const w = sampleWorkload();
  delete w.nodeAddress;
  const withWaypoint = sampleService({ waypoint: { address: '10.0.0.9', hbonePort: 15008, identity: 'spiffe://cluster.local/ns/default/sa/wp' } });
  const items = [workloadResource(w), serviceResource(withWaypoint), authorizationResource(sampleAuthorization({
    rules: [{ clauses: [{ matches: [emptyMatch({ principals: [{ prefix: 'spiffe://' }, { suffix: '/sa/x' }, { presence: true }], notDestinationIps: ['fd00::/8', '10.1.2.3'] })] }] }],
  }))];
  const r = validateResources(JSON.parse(JSON.stringify(items)) as unknown[]);
  assert.deepEqual(r, { valid: items, rejected: [] });
});

test('resource validators: every invalid field is rejected with its reason', () => {
  const w = workloadResource(sampleWorkload());
  const s = serviceResource(sampleService());
  const a = authorizationResource(sampleAuthorization());
  const m = 'value.rules.0.clauses.0.matches.0';
  const cases: [unknown, RegExp][] = [
    [withField(w, 'kind', 'pod'), /resource\.kind/],
    [withField(w, 'key', 'other'), /key: must equal value\.uid/],
    [withField(w, 'value', 'x'), /value: must be an object/],
    [withField(w, 'value.uid', ''), /value\.uid/],
    [withField(w, 'value.name', 1), /value\.name/],
    [withField(w, 'value.namespace', undefined), /value\.namespace/],
    [withField(w, 'value.addresses', '10.0.0.1'), /value\.addresses: must be an array/],
    [withField(w, 'value.addresses', ['10.0.0.300']), /value\.addresses\[0\]/],
    [withField(w, 'value.node', undefined), /value\.node/],
    [withField(w, 'value.nodeAddress', 'host'), /value\.nodeAddress/],
    [withField(w, 'value.tunnelProtocol', 'h2'), /value\.tunnelProtocol/],
    [withField(w, 'value.trustDomain', ''), /value\.trustDomain/],
    [withField(w, 'value.serviceAccount', undefined), /value\.serviceAccount/],
    [withField(w, 'value.waypoint', { address: '10.0.0.9', hbonePort: 0, identity: 'spiffe://x/ns/a/sa/b' }), /value\.waypoint\.hbonePort/],
    [withField(w, 'value.waypoint', { address: '10.0.0.9', hbonePort: 15008, identity: 'wp' }), /value\.waypoint\.identity/],
    [withField(w, 'value.waypoint', { address: 'wp', hbonePort: 15008, identity: 'spiffe://x/ns/a/sa/b' }), /value\.waypoint\.address/],
    [withField(w, 'value.canonicalName', null), /value\.canonicalName/],
    [withField(w, 'value.canonicalRevision', 2), /value\.canonicalRevision/],
    [withField(w, 'value.workloadType', 'vm'), /value\.workloadType/],
    [withField(w, 'value.workloadName', undefined), /value\.workloadName/],
    [withField(w, 'value.services', []), /value\.services/],
    [withField(w, 'value.services', { 'default/svc': { http: 80 } }), /key "http" is not a port/],
    [withField(w, 'value.services', { 'default/svc': { '80': 70000 } }), /value\.services\["default\/svc"\]\[80\]/],
    [withField(w, 'value.authorizationPolicies', [3]), /value\.authorizationPolicies\[0\]/],
    [withField(w, 'value.status', 'OK'), /value\.status/],
    [withField(w, 'value.clusterId', undefined), /value\.clusterId/],
    [withField(s, 'key', 'x'), /key: must equal/],
    [withField(s, 'value.name', ''), /value\.name/],
    [withField(s, 'value.namespace', 1), /value\.namespace/],
    [withField(s, 'value.hostname', undefined), /value\.hostname/],
    [withField(s, 'value.addresses', ['vip']), /value\.addresses\[0\]/],
    [withField(s, 'value.ports', [{ servicePort: 0, targetPort: 80 }]), /value\.ports\[0\]\.servicePort/],
    [withField(s, 'value.ports', [{ servicePort: 80, targetPort: -1 }]), /value\.ports\[0\]\.targetPort/],
    [withField(s, 'value.ports', [{ servicePort: 80, targetPort: 80, appProtocol: '' }]), /value\.ports\[0\]\.appProtocol/],
    [withField(s, 'value.subjectAltNames', [null]), /value\.subjectAltNames\[0\]/],
    [withField(s, 'value.waypoint', 'wp'), /value\.waypoint/],
    [withField(a, 'key', 'x'), /key: must equal/],
    [withField(a, 'value.name', undefined), /value\.name/],
    [withField(a, 'value.namespace', ''), /value\.namespace/],
    [withField(a, 'value.scope', 'CLUSTER'), /value\.scope/],
    [withField(a, 'value.action', 'AUDIT'), /value\.action/],
    [withField(a, 'value.rules', {}), /value\.rules/],
    [withField(a, 'value.rules.0.clauses', undefined), /value\.rules\[0\]\.clauses/],
    [withField(a, 'value.rules.0.clauses.0.matches', [1]), /matches\[0\]: must be an object/],
    [withField(a, 'value.dryRun', 'no'), /value\.dryRun/],
    ...(['namespaces', 'notNamespaces', 'principals', 'notPrincipals', 'serviceAccounts', 'notServiceAccounts'] as const).flatMap((f): [unknown, RegExp][] => [
      [withField(a, `${m}.${f}`, undefined), new RegExp(`\\.${f}: must be an array`)],
      [withField(a, `${m}.${f}`, [{ exact: 'a', prefix: 'b' }]), new RegExp(`\\.${f}\\[0\\]: must have exactly one`)],
      [withField(a, `${m}.${f}`, [{ regex: 'a' }]), new RegExp(`\\.${f}\\[0\\]: must have exactly one`)],
      [withField(a, `${m}.${f}`, [{ presence: false }]), new RegExp(`\\.${f}\\[0\\]\\.presence`)],
      [withField(a, `${m}.${f}`, [{ exact: 1 }]), new RegExp(`\\.${f}\\[0\\]\\.exact`)],
    ]),
    ...(['sourceIps', 'notSourceIps', 'destinationIps', 'notDestinationIps'] as const).flatMap((f): [unknown, RegExp][] => [
      [withField(a, `${m}.${f}`, undefined), new RegExp(`\\.${f}: must be an array`)],
      [withField(a, `${m}.${f}`, ['10.0.0.0/33']), new RegExp(`\\.${f}\\[0\\]: must be an address or CIDR`)],
      [withField(a, `${m}.${f}`, ['host/8']), new RegExp(`\\.${f}\\[0\\]`)],
      [withField(a, `${m}.${f}`, ['10.0.0.0/8/1']), new RegExp(`\\.${f}\\[0\\]`)],
    ]),
    ...(['destinationPorts', 'notDestinationPorts'] as const).flatMap((f): [unknown, RegExp][] => [
      [withField(a, `${m}.${f}`, undefined), new RegExp(`\\.${f}: must be an array`)],
      [withField(a, `${m}.${f}`, [0]), new RegExp(`\\.${f}\\[0\\]: must be a port`)],
      [withField(a, `${m}.${f}`, ['80']), new RegExp(`\\.${f}\\[0\\]`)],
    ]),
  ];
  for (const [input, want] of cases) {
    const r = validateResources([input, s]);
    assert.deepEqual(r.valid, [s], JSON.stringify(input));
    assert.equal(r.rejected.length, 1);
    assert.match(r.rejected[0]?.reason ?? '', want);
  }
  // A rejected entry is named by whatever kind and key it carries, or '?' when it has none.
  assert.deepEqual(validateResources([42]).rejected, [{ kind: '?', key: '?', reason: 'resource: must be an object' }]);
});

test('decodeFrame reports bad JSON instead of throwing', () => {
  assert.deepEqual(decodeFrame('{"a":1}'), { ok: true, message: { a: 1 } });
  assert.equal(decodeFrame('{nope').ok, false);
});
