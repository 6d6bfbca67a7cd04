import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '#controller/source/parse.ts';
import type { AuthorizationPolicy, ClusterObject, FieldProblem, PeerAuthentication } from '#controller/source/types.ts';

function parsed(doc: unknown): ClusterObject {
  const r = parseObject(doc);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.object;
}

const GW = 'gateway.networking.k8s.io/v1';
const SEC = 'security.istio.io/v1';
const meta = { name: 'x', namespace: 'a' };

test('a Pod is read with defaults for absent lists and maps', () => {
  const r = parseObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status: { podIP: '10.0.0.1', phase: 'Running' } });
  assert.ok(r.ok);
  assert.deepEqual(r.object, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', labels: {}, annotations: {} },
    spec: {},
    status: { podIP: '10.0.0.1', phase: 'Running', podIPs: [], conditions: [] },
  });
});

test('cluster-scoped kinds have an empty namespace; older apiVersions are normalised', () => {
  const n = parseObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', namespace: 'ignored', labels: { x: 'y' } } });
  assert.ok(n.ok && n.object.metadata.namespace === '');
  const ap = parseObject({ apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'a' } });
  assert.ok(ap.ok && ap.object.kind === 'AuthorizationPolicy');
  assert.equal(ap.object.apiVersion, 'security.istio.io/v1');
  assert.equal(ap.object.spec.action, 'ALLOW');
  assert.deepEqual(ap.object.spec.rules, []);
});

test('Service: clusterIP fills clusterIPs, numeric-string targetPort becomes a number', () => {
  const r = parseObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a' }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: '8080' }, { port: 81, targetPort: 'http' }] } });
  assert.ok(r.ok && r.object.kind === 'Service');
  assert.deepEqual(r.object.spec.clusterIPs, ['10.96.0.1']);
  assert.deepEqual(r.object.spec.ports.map((p) => p.targetPort), [8080, 'http']);
  assert.equal(r.object.spec.selector, undefined);
});

test('rejections say what and where', () => {
  const cases: { doc: unknown; reason: RegExp; name?: string }[] = [
    { doc: 'hello', reason: /not an object/ },
    { doc: { apiVersion: 'v1', metadata: { name: 'x' } }, reason: /missing kind/ },
    { doc: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }, reason: /unsupported kind Deployment/, name: 'd' },
    { doc: { apiVersion: 'v2', kind: 'Pod', metadata: { name: 'p' } }, reason: /unsupported apiVersion v2 for Pod/, name: 'p' },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: {} }, reason: /metadata\.name/ },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Bad_Name' } }, reason: /DNS subdomain/ },
    { doc: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: 1 } } }, reason: /metadata\.labels\.a: expected a string, got number 1/, name: 'p' },
    { doc: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 70000 }] } }, reason: /spec\.ports\[0\]\.port: expected a port number/, name: 's' },
    // Policies are read fail-safe instead of rejected (below); only their metadata rejects them.
    { doc: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'Bad' }, spec: { form: [] } }, reason: /metadata\.namespace/ },
    { doc: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: {} }, reason: /spec\.gatewayClassName/ },
    { doc: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { hostnames: 'a.example' } }, reason: /spec\.hostnames: expected a list/ },
  ];
  for (const c of cases) {
    const r = parseObject(c.doc);
    assert.ok(!r.ok, String(c.reason));
    assert.match(r.reason, c.reason);
    if (c.name !== undefined) assert.equal(r.name, c.name);
  }
});

test('routes keep rules as objects for the waypoint model', () => {
  const r = parseObject({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'a' }, spec: { parentRefs: [{ kind: 'Service', name: 's', port: 80 }], rules: [{ backendRefs: [{ name: 's', port: 80 }] }] } });
  assert.ok(r.ok && r.object.kind === 'HTTPRoute');
  assert.deepEqual(r.object.spec.parentRefs, [{ kind: 'Service', name: 's', port: 80 }]);
  assert.deepEqual(r.object.spec.rules, [{ backendRefs: [{ name: 's', port: 80 }] }]);
});

test('user-authored kinds name every field they do not know, by path, and keep the object', () => {
  const cases: { name: string; doc: Record<string, unknown>; problems: FieldProblem[] }[] = [
    {
      name: 'AuthorizationPolicy: the from typo, an unknown rule field, an unknown spec field',
      doc: { apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta, spec: { bogusTopLevel: 1, rules: [{ form: [{ source: { namespaces: ['a'] } }], spooky: true }] } },
      problems: [
        { path: 'spec.bogusTopLevel', message: 'unknown field' },
        { path: 'spec.rules[0].form', message: 'unknown field (did you mean "from"?)' },
        { path: 'spec.rules[0].spooky', message: 'unknown field' },
      ],
    },
    {
      name: 'AuthorizationPolicy: deep fields, fields Istio has but weft does not, bad values',
      doc: { apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta, spec: {
        selector: { matchLabels: { app: 'a' }, matchExpressions: [] },
        rules: [{
          from: [{ source: { trustDomains: ['td'], principals: 'x', namespace: ['a'] } }],
          to: [{ operation: { ports: [{}], metods: ['GET'] }, extra: 1 }],
          when: [{ key: 'source.ip', value: ['1.2.3.4'] }],
        }],
      } },
      problems: [
        { path: 'spec.selector.matchExpressions', message: 'unknown field' },
        { path: 'spec.rules[0].from[0].source.trustDomains', message: 'not supported by weft' },
        { path: 'spec.rules[0].from[0].source.namespace', message: 'unknown field (did you mean "namespaces"?)' },
        { path: 'spec.rules[0].from[0].source.principals', message: 'expected a list, got string "x"' },
        { path: 'spec.rules[0].to[0].extra', message: 'unknown field' },
        { path: 'spec.rules[0].to[0].operation.metods', message: 'unknown field (did you mean "methods"?)' },
        { path: 'spec.rules[0].to[0].operation.ports[0]', message: 'expected a string, got an object' },
        { path: 'spec.rules[0].when[0].value', message: 'unknown field (did you mean "values"?)' },
      ],
    },
    {
      name: 'AuthorizationPolicy: a spec indented one level too little, an odd key',
      doc: { apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta, rules: [{}], spec: { 'x.y': 1 } },
      problems: [{ path: 'rules', message: 'unknown field' }, { path: 'spec["x.y"]', message: 'unknown field' }],
    },
    {
      name: 'PeerAuthentication: mode typo and value, port key, unknown spec field',
      doc: { apiVersion: SEC, kind: 'PeerAuthentication', metadata: meta, spec: { mtls: { mod: 'STRICT' }, portLevelMtls: { http: { mode: 'STRICT' }, 8080: { mode: 'strict' } }, mTLS: {} } },
      problems: [
        { path: 'spec.mTLS', message: 'unknown field (did you mean "mtls"?)' },
        { path: 'spec.portLevelMtls', message: 'key "http" is not a port number (1-65535)' },
        { path: 'spec.mtls.mod', message: 'unknown field (did you mean "mode"?)' },
        { path: 'spec.portLevelMtls.8080.mode', message: 'expected one of UNSET, DISABLE, PERMISSIVE, STRICT, got "strict"' },
      ],
    },
    {
      name: 'Gateway: spec and listener fields',
      doc: { apiVersion: GW, kind: 'Gateway', metadata: meta, spec: { gatewayClassName: 'c', listners: [], listeners: [{ name: 'l', port: 80, protocol: 'HTTP', hostnam: 'a' }] } },
      problems: [
        { path: 'spec.listners', message: 'unknown field (did you mean "listeners"?)' },
        { path: 'spec.listeners[0].hostnam', message: 'unknown field (did you mean "hostname"?)' },
      ],
    },
    {
      name: 'HTTPRoute: spec and parentRef fields; rules are not looked into',
      doc: { apiVersion: GW, kind: 'HTTPRoute', metadata: meta, spec: { parentRef: [], hostname: 'a', parentRefs: [{ name: 's', sectioName: 'http' }], rules: [{ spooky: 1 }] } },
      problems: [
        { path: 'spec.parentRef', message: 'unknown field (did you mean "parentRefs"?)' },
        { path: 'spec.hostname', message: 'unknown field (did you mean "hostnames"?)' },
        { path: 'spec.parentRefs[0].sectioName', message: 'unknown field (did you mean "sectionName"?)' },
      ],
    },
    {
      name: 'GRPCRoute: spec fields',
      doc: { apiVersion: GW, kind: 'GRPCRoute', metadata: meta, spec: { bogus: {} } },
      problems: [{ path: 'spec.bogus', message: 'unknown field' }],
    },
  ];
  for (const c of cases) {
    const o = parsed(c.doc);
    assert.ok('fieldProblems' in o, c.name);
    assert.deepEqual(o.fieldProblems, c.problems, c.name);
  }
});

test('known fields weft does not read, metadata, status and Kubernetes-owned kinds are not reported', () => {
  const docs: Record<string, unknown>[] = [
    { apiVersion: GW, kind: 'Gateway', metadata: { ...meta, finalizers: ['x'], managedFields: [] }, status: { conditions: [], listeners: [] }, spec: {
      gatewayClassName: 'c', addresses: [], infrastructure: { labels: {} }, allowedListeners: {}, tls: {}, defaultScope: 'All',
      listeners: [{ name: 'l', port: 443, protocol: 'HTTPS', tls: { mode: 'Terminate' }, allowedRoutes: { namespaces: { from: 'All' } } }],
    } },
    { apiVersion: GW, kind: 'HTTPRoute', metadata: meta, spec: { useDefaultGateways: 'All', parentRefs: [{ group: '', kind: 'Service', namespace: 'a', name: 's', sectionName: 'x', port: 80 }], hostnames: [], rules: [] }, status: { parents: [] } },
    { apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta, status: { validationMessages: [] }, spec: { action: 'DENY', provider: { name: 'p' }, rules: [{ from: [{ source: { notPrincipals: ['*'] } }], to: [{ operation: { notPorts: ['80'] } }], when: [{ key: 'source.ip', notValues: ['1.1.1.1'] }] }] } },
    { apiVersion: SEC, kind: 'PeerAuthentication', metadata: meta, spec: { selector: { matchLabels: { a: 'b' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 80: { mode: 'DISABLE' } } } },
    // The API server checked these; weft reads a few fields and ignores the rest on purpose.
    { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [{ name: 'c', image: 'i' }], bogus: 1 }, status: { qosClass: 'Burstable' }, extra: true },
    { apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { sessionAffinity: 'None', ports: [{ port: 80, nodePort: 30000 }] } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' }, spec: { finalizers: ['kubernetes'] } },
  ];
  for (const d of docs) {
    const o = parsed(d);
    assert.equal('fieldProblems' in o, false, `${String(d['kind'])}: ${JSON.stringify('fieldProblems' in o ? o.fieldProblems : [])}`);
  }
});

function policy(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): AuthorizationPolicy {
  const o = parsed({ apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta, spec, ...extra });
  assert.ok(o.kind === 'AuthorizationPolicy');
  return o;
}

test('AuthorizationPolicy is read fail-safe: never more allowed, never less denied than written', () => {
  const ns = (n: string): { source: { namespaces: string[] } } => ({ source: { namespaces: [n] } });
  const ports = { operation: { ports: ['80'] } };
  const cases: { name: string; spec: Record<string, unknown>; extra?: Record<string, unknown>; want: Partial<AuthorizationPolicy['spec']> }[] = [
    { name: 'ALLOW: the from typo leaves the rule out (it allows nobody)', spec: { rules: [{ form: [ns('a')] }] }, want: { action: 'ALLOW', rules: [] } },
    { name: 'ALLOW: later rules keep their manifest position', spec: { rules: [{ form: [ns('a')] }, { from: [ns('b')] }] }, want: { rules: [{ from: [ns('b')], index: 1 }] } },
    { name: 'ALLOW: an unsupported field leaves the rule out', spec: { rules: [{ from: [{ source: { namespaces: ['a'], trustDomains: ['td'] } }] }] }, want: { rules: [] } },
    { name: 'DENY: the from typo is dropped, the rule denies from any source', spec: { action: 'DENY', rules: [{ form: [ns('a')], to: [ports] }] }, want: { action: 'DENY', rules: [{ to: [ports] }] } },
    { name: 'DENY: a source keeps the fields it could read', spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['a'], trustDomains: ['td'] } }] }] }, want: { rules: [{ from: [ns('a')] }] } },
    { name: 'DENY: a source left empty means any source', spec: { action: 'DENY', rules: [{ from: [ns('a'), { source: { principal: ['x'] } }], to: [ports] }] }, want: { rules: [{ to: [ports] }] } },
    { name: 'DENY: an operation that cannot be read means any operation', spec: { action: 'DENY', rules: [{ from: [ns('a')], to: [{ operation: { ports: 80 } }] }] }, want: { rules: [{ from: [ns('a')] }] } },
    { name: 'DENY: a condition that cannot be read is dropped', spec: { action: 'DENY', rules: [{ when: [{ key: 'source.ip', values: ['1.1.1.1'] }, { key: 'source.ip', valuez: ['x'] }] }] }, want: { rules: [{ when: [{ key: 'source.ip', values: ['1.1.1.1'] }] }] } },
    { name: 'DENY: a rule that is not an object matches everything', spec: { action: 'DENY', rules: ['deny'] }, want: { rules: [{}] } },
    { name: 'ALLOW: an unknown spec field keeps no rules (allows nothing)', spec: { bogusTopLevel: true, rules: [{}] }, want: { action: 'ALLOW', rules: [] } },
    { name: 'DENY: an unknown spec field denies everything', spec: { action: 'DENY', rulez: [{ from: [ns('a')] }], rules: [{ from: [ns('b')] }] }, want: { action: 'DENY', rules: [{}] } },
    { name: 'DENY: a misplaced top-level field denies everything', spec: { action: 'DENY' }, extra: { rules: [{}] }, want: { rules: [{}] } },
    { name: 'an action that cannot be read denies everything', spec: { action: 'allow', rules: [{ from: [ns('a')] }] }, want: { action: 'DENY', rules: [{}] } },
    { name: 'rules that are not a list: ALLOW allows nothing', spec: { rules: { from: [ns('a')] } }, want: { action: 'ALLOW', rules: [] } },
    { name: 'ALLOW with a selector problem allows nothing', spec: { selector: { matchLabels: { app: 'a' }, matchExpressions: [] }, rules: [{}] }, want: { selector: { matchLabels: { app: 'a' } }, rules: [] } },
    { name: 'DENY with a selector problem keeps its rules', spec: { action: 'DENY', selector: { matchLabel: { app: 'a' } }, rules: [{ from: [ns('a')] }] }, want: { selector: { matchLabels: {} }, rules: [{ from: [ns('a')] }] } },
    { name: 'unreadable labels select every workload of the namespace', spec: { action: 'DENY', selector: { matchLabels: { app: 1 } } }, want: { selector: { matchLabels: {} }, rules: [] } },
    { name: 'an unreadable targetRef drops every target (ztunnel enforces)', spec: { targetRefs: [{ kind: 'Service', name: 's' }, { kind: 'Service' }], rules: [{}] }, want: { targetRefs: [], rules: [] } },
    { name: 'an unknown targetRef field keeps the target', spec: { targetRefs: [{ kind: 'Service', name: 's', sectionName: 'http' }], rules: [{}] }, want: { targetRefs: [{ kind: 'Service', name: 's' }], rules: [] } },
    { name: 'selector and targetRefs together: both kept', spec: { action: 'DENY', selector: { matchLabels: { a: 'b' } }, targetRefs: [{ kind: 'Service', name: 's' }], rules: [{}] }, want: { selector: { matchLabels: { a: 'b' } }, targetRefs: [{ kind: 'Service', name: 's' }], rules: [{}] } },
  ];
  for (const c of cases) {
    const p = policy(c.spec, c.extra);
    assert.ok((p.fieldProblems ?? []).length > 0, `${c.name}: a problem is reported`);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(p.spec[k as keyof AuthorizationPolicy['spec']], v, `${c.name}: spec.${k}`);
  }
  assert.deepEqual(policy({ action: 'allow' }).fieldProblems, [{ path: 'spec.action', message: 'expected one of ALLOW, DENY, AUDIT, CUSTOM, got string "allow"' }]);
  assert.deepEqual(policy({ selector: { matchLabels: { a: 'b' } }, targetRef: { kind: 'Service', name: 's' } }).fieldProblems, [{ path: 'spec.targetRef', message: 'cannot be used together with spec.selector' }]);
});

function peer(spec: Record<string, unknown>): PeerAuthentication {
  const o = parsed({ apiVersion: SEC, kind: 'PeerAuthentication', metadata: meta, spec });
  assert.ok(o.kind === 'PeerAuthentication');
  return o;
}

test('PeerAuthentication is read at its strictest where weft cannot read it', () => {
  const cases: { name: string; spec: Record<string, unknown>; want: Partial<PeerAuthentication['spec']> }[] = [
    { name: 'a mode weft does not know is STRICT', spec: { mtls: { mode: 'strict' } }, want: { mtls: { mode: 'STRICT' } } },
    { name: 'so is one that is not meant as STRICT', spec: { mtls: { mode: 'PERMISIVE' } }, want: { mtls: { mode: 'STRICT' } } },
    { name: 'an unknown field next to the mode', spec: { mtls: { mode: 'PERMISSIVE', mod: 'x' } }, want: { mtls: { mode: 'STRICT' } } },
    { name: 'an unreadable mtls', spec: { mtls: 'STRICT' }, want: { mtls: { mode: 'STRICT' } } },
    {
      name: 'a port mode: that port only',
      spec: { selector: { matchLabels: { a: 'b' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { 8080: { mode: 'Strict' }, 9090: { mode: 'PERMISSIVE' } } },
      want: { mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { 8080: { mode: 'STRICT' }, 9090: { mode: 'PERMISSIVE' } } },
    },
    {
      name: 'a key that is not a port: every mode',
      spec: { selector: { matchLabels: { a: 'b' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { http: { mode: 'PERMISSIVE' }, 9090: { mode: 'DISABLE' } } },
      want: { mtls: { mode: 'STRICT' }, portLevelMtls: { 9090: { mode: 'STRICT' } } },
    },
    { name: 'an unknown spec field: every mode', spec: { mtls: { mode: 'PERMISSIVE' }, portLevelMTLS: {} }, want: { mtls: { mode: 'STRICT' } } },
    { name: 'an unknown field without any mode: STRICT', spec: { mtl: { mode: 'STRICT' } }, want: { mtls: { mode: 'STRICT' } } },
    { name: 'a selector problem: every workload of the namespace, STRICT', spec: { selector: { matchLabels: 'app=a' }, mtls: { mode: 'DISABLE' } }, want: { selector: { matchLabels: {} }, mtls: { mode: 'STRICT' } } },
  ];
  for (const c of cases) {
    const p = peer(c.spec);
    assert.ok((p.fieldProblems ?? []).length > 0, `${c.name}: a problem is reported`);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(p.spec[k as keyof PeerAuthentication['spec']], v, `${c.name}: spec.${k}`);
  }
  assert.deepEqual(peer({ mtls: { mode: 'PERMISSIVE' } }).spec.mtls, { mode: 'PERMISSIVE' });
});
