import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization } from '#core/config/model.ts';
import { parseObject } from '#controller/source/parse.ts';
import type { PeerAuthentication } from '#controller/source/types.ts';
import { peerAuth } from '#controller/testdata/objects.ts';
import { convertPeerAuthentications, type MeshWorkloadRef } from '#controller/model/peer-authentication.ts';
import { emptyMatch } from '#controller/model/authorization.ts';

function pa(namespace: string, name: string, spec: Record<string, unknown>): PeerAuthentication {
  const r = parseObject(peerAuth(namespace, name, spec));
  assert.ok(r.ok && r.object.kind === 'PeerAuthentication');
  return r.object;
}

const W = (uid: string, namespace: string, labels: Record<string, string> = {}): MeshWorkloadRef => ({ uid, namespace, labels });
const workloads = [W('a1', 'a', { app: 'web' }), W('a2', 'a', { app: 'db' }), W('b1', 'b')];
const noPrincipal = { ...emptyMatch(), notPrincipals: [{ presence: true as const }] };

function summary(list: Authorization[]): string[] {
  return list.map((a) => `${a.namespace}/${a.name} ${a.scope}`).sort();
}

test('STRICT at each level becomes a DENY without identity, scoped like Istio', () => {
  const out = convertPeerAuthentications([
    pa('istio-system', 'default', { mtls: { mode: 'STRICT' } }),
    pa('a', 'ns', { mtls: { mode: 'STRICT' } }),
    pa('a', 'web', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' } }),
  ], workloads, 'istio-system');
  assert.deepEqual(summary(out.authorizations), [
    'a/converted_peer_authentication_ns NAMESPACE',
    'a/converted_peer_authentication_web WORKLOAD_SELECTOR',
    'istio-system/converted_peer_authentication_default GLOBAL',
  ]);
  for (const a of out.authorizations) {
    assert.equal(a.action, 'DENY');
    assert.deepEqual(a.rules, [{ clauses: [{ matches: [noPrincipal] }] }]);
  }
  assert.deepEqual(out.attach.get('a1'), ['a/converted_peer_authentication_web']);
  assert.equal(out.attach.get('a2'), undefined);
});

test('PERMISSIVE, DISABLE and UNSET produce nothing', () => {
  for (const mode of ['PERMISSIVE', 'DISABLE', 'UNSET']) {
    const out = convertPeerAuthentications([pa('a', 'ns', { mtls: { mode } })], workloads, 'istio-system');
    assert.deepEqual(out.authorizations, [], mode);
    assert.equal(out.conditions[0]?.status, 'True');
  }
});

test('workload PERMISSIVE under namespace STRICT: the namespace policy narrows to the other workloads', () => {
  const out = convertPeerAuthentications([
    pa('a', 'ns', { mtls: { mode: 'STRICT' } }),
    pa('a', 'web', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'PERMISSIVE' } }),
  ], workloads, 'istio-system');
  assert.deepEqual(summary(out.authorizations), ['a/converted_peer_authentication_ns WORKLOAD_SELECTOR']);
  assert.equal(out.attach.get('a1'), undefined);
  assert.deepEqual(out.attach.get('a2'), ['a/converted_peer_authentication_ns']);
});

test('namespace PERMISSIVE under mesh STRICT: mesh policy only for the inheriting workloads', () => {
  const out = convertPeerAuthentications([
    pa('istio-system', 'default', { mtls: { mode: 'STRICT' } }),
    pa('a', 'ns', { mtls: { mode: 'PERMISSIVE' } }),
  ], workloads, 'istio-system');
  assert.deepEqual(summary(out.authorizations), ['istio-system/converted_peer_authentication_default WORKLOAD_SELECTOR']);
  assert.deepEqual(out.attach.get('b1'), ['istio-system/converted_peer_authentication_default']);
  assert.equal(out.attach.get('a1'), undefined);
});

test('workload UNSET inherits; port-level modes carve ports in or out', () => {
  const strictPort = convertPeerAuthentications([
    pa('a', 'web', { selector: { matchLabels: { app: 'web' } }, portLevelMtls: { '8080': { mode: 'STRICT' } } }),
  ], workloads, 'istio-system');
  assert.deepEqual(strictPort.authorizations[0]?.rules, [{ clauses: [{ matches: [{ ...noPrincipal, destinationPorts: [8080] }] }] }]);
  const relaxedPort = convertPeerAuthentications([
    pa('istio-system', 'default', { mtls: { mode: 'STRICT' } }),
    pa('a', 'web', { selector: { matchLabels: { app: 'web' } }, portLevelMtls: { '9090': { mode: 'PERMISSIVE' } } }),
  ], workloads, 'istio-system');
  const web = relaxedPort.authorizations.find((a) => a.name === 'converted_peer_authentication_web');
  assert.deepEqual(web?.rules, [{ clauses: [{ matches: [{ ...noPrincipal, notDestinationPorts: [9090] }] }] }]);
  // web is not fully strict, so the mesh-wide one is listed per workload, not GLOBAL.
  const mesh = relaxedPort.authorizations.find((a) => a.name === 'converted_peer_authentication_default');
  assert.equal(mesh?.scope, 'WORKLOAD_SELECTOR');
  assert.deepEqual(relaxedPort.attach.get('a2'), ['istio-system/converted_peer_authentication_default']);
  assert.deepEqual(relaxedPort.attach.get('a1'), ['a/converted_peer_authentication_web']);
});

test('conflicts and invalid port-level settings are reported', () => {
  const out = convertPeerAuthentications([
    pa('a', 'one', { mtls: { mode: 'STRICT' } }),
    pa('a', 'two', { mtls: { mode: 'PERMISSIVE' } }),
    pa('b', 'ports', { portLevelMtls: { '80': { mode: 'STRICT' } } }),
  ], workloads, 'istio-system');
  const byName = new Map(out.conditions.map((c) => [c.name, c]));
  assert.equal(byName.get('two')?.reason, 'Conflict');
  assert.equal(byName.get('ports')?.reason, 'InvalidSpec');
  assert.deepEqual(summary(out.authorizations), ['a/converted_peer_authentication_one NAMESPACE']);
});

test('fields weft cannot use: enforced at the strictest reading, reported False by path', () => {
  const out = convertPeerAuthentications([
    pa('a', 'typo', { mtls: { mode: 'strict' } }),
    pa('b', 'web', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { '8080': { mode: 'PERMISSIVE' } }, mtsl: {} }),
  ], [...workloads, W('b2', 'b', { app: 'web' })], 'istio-system');
  // The lowercase mode denies plaintext like STRICT would, instead of inheriting PERMISSIVE.
  assert.deepEqual(summary(out.authorizations), ['a/converted_peer_authentication_typo NAMESPACE', 'b/converted_peer_authentication_web WORKLOAD_SELECTOR']);
  const web = out.authorizations.find((a) => a.name === 'converted_peer_authentication_web');
  assert.deepEqual(web?.rules, [{ clauses: [{ matches: [noPrincipal] }] }]);
  assert.deepEqual(out.attach.get('b2'), ['b/converted_peer_authentication_web']);
  const byName = new Map(out.conditions.map((c) => [c.name, c]));
  const typo = byName.get('typo');
  assert.equal(typo?.status, 'False');
  assert.equal(typo.reason, 'InvalidField');
  assert.match(typo.message, /spec\.mtls\.mode: expected one of UNSET, DISABLE, PERMISSIVE, STRICT, got "strict"; fail-safe: the modes weft could not read are STRICT/);
  assert.match(byName.get('web')?.message ?? '', /spec\.mtsl: unknown field \(did you mean "mtls"\?\); fail-safe: every mode of the policy is read as STRICT/);
});

test('a port mode weft cannot read makes only that port STRICT', () => {
  const out = convertPeerAuthentications([
    pa('a', 'web', { selector: { matchLabels: { app: 'web' } }, portLevelMtls: { '8080': { mode: 'Strict' }, '9090': { mode: 'PERMISSIVE' } } }),
  ], workloads, 'istio-system');
  assert.deepEqual(out.authorizations[0]?.rules, [{ clauses: [{ matches: [{ ...noPrincipal, destinationPorts: [8080] }] }] }]);
  assert.equal(out.conditions[0]?.status, 'False');
  assert.match(out.conditions[0]?.message ?? '', /spec\.portLevelMtls\.8080\.mode/);
});
