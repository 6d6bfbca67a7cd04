// Turns one decoded manifest (or API object) into a typed cluster object, or says why not.
// Shared by every source so local manifests and the Kubernetes API are read the same way.
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicy,
  AuthorizationPolicyAction,
  AuthorizationPolicyRule,
  AuthorizationSource,
  BackendTrafficPolicy,
  ClusterObject,
  DestinationRule,
  DestinationRuleSubset,
  EndpointSlice,
  Gateway,
  GRPCRoute,
  HTTPRoute,
  LabelSelector,
  MtlsMode,
  Namespace,
  Node,
  ObjectMeta,
  PeerAuthentication,
  Pod,
  PolicyTargetRef,
  RouteSpec,
  Service,
  Telemetry,
  TelemetryAccessLogging,
  TelemetryTracing,
  VirtualService,
} from '#controller/source/types.ts';
import {
  defined,
  FieldError,
  isObject,
  list,
  object,
  optBoolean,
  optInteger,
  optList,
  optObject,
  optString,
  port,
  string,
  stringMap,
  FieldProblems,
  type JsonObject,
} from '#controller/source/fields.ts';

export type ParseResult =
  | { ok: true; object: ClusterObject }
  | { ok: false; reason: string; kind?: string; namespace?: string; name?: string };

type Reader = (doc: JsonObject, meta: ObjectMeta) => ClusterObject;

interface KindSpec {
  namespaced: boolean;
  /** Accepted apiVersions; objects are normalised to the first. */
  apiVersions: readonly string[];
  read: Reader;
}

/** The versions Istio serves its networking CRDs under; they share one schema. */
const ISTIO_NETWORKING_VERSIONS = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'] as const;

const KINDS: Readonly<Record<string, KindSpec>> = {
  Namespace: { namespaced: false, apiVersions: ['v1'], read: readNamespace },
  Node: { namespaced: false, apiVersions: ['v1'], read: readNode },
  Pod: { namespaced: true, apiVersions: ['v1'], read: readPod },
  Service: { namespaced: true, apiVersions: ['v1'], read: readService },
  EndpointSlice: { namespaced: true, apiVersions: ['discovery.k8s.io/v1'], read: readEndpointSlice },
  Gateway: { namespaced: true, apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'], read: readGateway },
  HTTPRoute: { namespaced: true, apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'], read: readHttpRoute },
  GRPCRoute: { namespaced: true, apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1alpha2'], read: readGrpcRoute },
  AuthorizationPolicy: { namespaced: true, apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'], read: readAuthorizationPolicy },
  PeerAuthentication: { namespaced: true, apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'], read: readPeerAuthentication },
  VirtualService: { namespaced: true, apiVersions: ISTIO_NETWORKING_VERSIONS, read: readVirtualService },
  DestinationRule: { namespaced: true, apiVersions: ISTIO_NETWORKING_VERSIONS, read: readDestinationRule },
  BackendTrafficPolicy: { namespaced: true, apiVersions: ['gateway.envoyproxy.io/v1alpha1'], read: readBackendTrafficPolicy },
  Telemetry: { namespaced: true, apiVersions: ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'], read: readTelemetry },
};

export const SUPPORTED_KINDS: readonly string[] = Object.keys(KINDS);

export function parseObject(doc: unknown): ParseResult {
  if (!isObject(doc)) return { ok: false, reason: 'not an object (expected a Kubernetes manifest with apiVersion, kind and metadata)' };
  const kind = doc['kind'];
  const apiVersion = doc['apiVersion'];
  if (typeof kind !== 'string' || kind === '') return { ok: false, reason: 'missing kind' };
  const where: { kind: string; namespace?: string; name?: string } = { kind };
  const metaRaw = doc['metadata'];
  if (isObject(metaRaw)) {
    if (typeof metaRaw['name'] === 'string') where.name = metaRaw['name'];
    if (typeof metaRaw['namespace'] === 'string') where.namespace = metaRaw['namespace'];
  }
  const spec = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (spec === undefined) return { ok: false, ...where, reason: `unsupported kind ${kind} (supported: ${SUPPORTED_KINDS.join(', ')})` };
  if (typeof apiVersion !== 'string' || !spec.apiVersions.includes(apiVersion)) {
    return { ok: false, ...where, reason: `unsupported apiVersion ${String(apiVersion)} for ${kind} (supported: ${spec.apiVersions.join(', ')})` };
  }
  try {
    const meta = readMeta(doc['metadata'], spec.namespaced);
    return { ok: true, object: spec.read(doc, meta) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, ...where, reason: err.message };
    throw err;
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function readMeta(value: unknown, namespaced: boolean): ObjectMeta {
  const m = object(value, 'metadata');
  const name = optString(m['name'], 'metadata.name');
  if (name === undefined || name === '') throw new FieldError('metadata.name', 'a name', name ?? m['name']);
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) throw new FieldError('metadata.name', 'a DNS subdomain name', name);
  let namespace = '';
  if (namespaced) {
    namespace = optString(m['namespace'], 'metadata.namespace') ?? 'default';
    if (namespace.length > 63 || !DNS_LABEL.test(namespace)) throw new FieldError('metadata.namespace', 'a DNS label', namespace);
  }
  return defined({
    name,
    namespace,
    uid: optString(m['uid'], 'metadata.uid'),
    labels: stringMap(m['labels'], 'metadata.labels'),
    annotations: stringMap(m['annotations'], 'metadata.annotations'),
    resourceVersion: optString(m['resourceVersion'], 'metadata.resourceVersion'),
    generation: optInteger(m['generation'], 'metadata.generation'),
  });
}

// Kubernetes-owned kinds (Namespace, Node, Pod, Service, EndpointSlice) read only the fields
// weft uses and ignore the rest on purpose: the API server validated these objects against
// their built-in schemas, and they carry many fields (and gain new ones) weft has no use for.
// The user-authored kinds below instead name every field they do not know.

function readNamespace(_doc: JsonObject, metadata: ObjectMeta): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata };
}

function readNode(doc: JsonObject, metadata: ObjectMeta): Node {
  const status = optObject(doc['status'], 'status') ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata,
    status: {
      addresses: list(status['addresses'], 'status.addresses', (v, p) => {
        const a = object(v, p);
        return { type: string(a['type'], `${p}.type`), address: string(a['address'], `${p}.address`) };
      }),
    },
  };
}

function readPod(doc: JsonObject, metadata: ObjectMeta): Pod {
  const spec = optObject(doc['spec'], 'spec') ?? {};
  const status = optObject(doc['status'], 'status') ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: defined({
      nodeName: optString(spec['nodeName'], 'spec.nodeName'),
      serviceAccountName: optString(spec['serviceAccountName'], 'spec.serviceAccountName'),
    }),
    status: {
      ...defined({
        podIP: optString(status['podIP'], 'status.podIP'),
        hostIP: optString(status['hostIP'], 'status.hostIP'),
        phase: optString(status['phase'], 'status.phase'),
      }),
      podIPs: list(status['podIPs'], 'status.podIPs', (v, p) => ({ ip: string(object(v, p)['ip'], `${p}.ip`) })),
      conditions: list(status['conditions'], 'status.conditions', (v, p) => {
        const c = object(v, p);
        return { type: string(c['type'], `${p}.type`), status: string(c['status'], `${p}.status`) };
      }),
    },
  };
}

function readService(doc: JsonObject, metadata: ObjectMeta): Service {
  const spec = optObject(doc['spec'], 'spec') ?? {};
  const clusterIP = optString(spec['clusterIP'], 'spec.clusterIP');
  let clusterIPs = list(spec['clusterIPs'], 'spec.clusterIPs', string);
  if (clusterIPs.length === 0 && clusterIP !== undefined && clusterIP !== '') clusterIPs = [clusterIP];
  const selector = spec['selector'] === undefined || spec['selector'] === null ? undefined : stringMap(spec['selector'], 'spec.selector');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      ...defined({ type: optString(spec['type'], 'spec.type'), clusterIP, selector }),
      clusterIPs,
      ports: list(spec['ports'], 'spec.ports', (v, p) => {
        const sp = object(v, p);
        const target = sp['targetPort'];
        let targetPort: number | string | undefined;
        if (typeof target === 'string' && /^\d+$/.test(target)) targetPort = port(Number(target), `${p}.targetPort`);
        else if (typeof target === 'string') targetPort = target;
        else if (target !== undefined && target !== null) targetPort = port(target, `${p}.targetPort`);
        return defined({
          name: optString(sp['name'], `${p}.name`),
          port: port(sp['port'], `${p}.port`),
          targetPort,
          appProtocol: optString(sp['appProtocol'], `${p}.appProtocol`),
          protocol: optString(sp['protocol'], `${p}.protocol`),
        });
      }),
    },
  };
}

function readEndpointSlice(doc: JsonObject, metadata: ObjectMeta): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata,
    addressType: optString(doc['addressType'], 'addressType') ?? 'IPv4',
    endpoints: list(doc['endpoints'], 'endpoints', (v, p) => {
      const e = object(v, p);
      const cond = optObject(e['conditions'], `${p}.conditions`) ?? {};
      const ref = optObject(e['targetRef'], `${p}.targetRef`);
      return defined({
        addresses: list(e['addresses'], `${p}.addresses`, string),
        conditions: defined({
          ready: optBoolean(cond['ready'], `${p}.conditions.ready`),
          serving: optBoolean(cond['serving'], `${p}.conditions.serving`),
          terminating: optBoolean(cond['terminating'], `${p}.conditions.terminating`),
        }),
        nodeName: optString(e['nodeName'], `${p}.nodeName`),
        targetRef:
          ref === undefined
            ? undefined
            : defined({
                kind: optString(ref['kind'], `${p}.targetRef.kind`),
                namespace: optString(ref['namespace'], `${p}.targetRef.namespace`),
                name: optString(ref['name'], `${p}.targetRef.name`),
                uid: optString(ref['uid'], `${p}.targetRef.uid`),
              }),
      });
    }),
    ports: list(doc['ports'], 'ports', (v, p) => {
      const sp = object(v, p);
      return defined({
        name: optString(sp['name'], `${p}.name`),
        port: sp['port'] === undefined || sp['port'] === null ? undefined : port(sp['port'], `${p}.port`),
        protocol: optString(sp['protocol'], `${p}.protocol`),
        appProtocol: optString(sp['appProtocol'], `${p}.appProtocol`),
      });
    }),
  };
}

// What a user-authored manifest may hold besides its spec; anything else at the top level
// (often a `spec` field indented one level too little) is named as unknown.
const DOCUMENT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

// Gateway API v1 field names (gateway-api apis/v1 gateway_types.go, shared_types.go). Fields
// weft does not read but the API has (addresses, tls, ...) are known, not reported.
const GATEWAY_SPEC_FIELDS = ['gatewayClassName', 'listeners', 'addresses', 'infrastructure', 'allowedListeners', 'tls', 'defaultScope'];
const LISTENER_FIELDS = ['name', 'hostname', 'port', 'protocol', 'tls', 'allowedRoutes'];
const ROUTE_SPEC_FIELDS = ['parentRefs', 'useDefaultGateways', 'hostnames', 'rules'];
const PARENT_REF_FIELDS = ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'];

function readGateway(doc: JsonObject, metadata: ObjectMeta): Gateway {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = object(doc['spec'], 'spec');
  problems.unknownKeys(spec, 'spec', GATEWAY_SPEC_FIELDS);
  const status = optObject(doc['status'], 'status') ?? {};
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata,
    spec: {
      gatewayClassName: string(spec['gatewayClassName'], 'spec.gatewayClassName'),
      listeners: list(spec['listeners'], 'spec.listeners', (v, p) => {
        const l = object(v, p);
        problems.unknownKeys(l, p, LISTENER_FIELDS);
        return defined({
          name: string(l['name'], `${p}.name`),
          port: port(l['port'], `${p}.port`),
          protocol: string(l['protocol'], `${p}.protocol`),
          hostname: optString(l['hostname'], `${p}.hostname`),
        });
      }),
    },
    status: {
      addresses: list(status['addresses'], 'status.addresses', (v, p) => {
        const a = object(v, p);
        return defined({ type: optString(a['type'], `${p}.type`), value: string(a['value'], `${p}.value`) });
      }),
    },
    ...problems.field(),
  };
}

/** The route's top level; what is inside each rule is the waypoint model's to check. */
function readRouteSpec(doc: JsonObject, problems: FieldProblems): RouteSpec {
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = object(doc['spec'], 'spec');
  problems.unknownKeys(spec, 'spec', ROUTE_SPEC_FIELDS);
  return {
    parentRefs: list(spec['parentRefs'], 'spec.parentRefs', (v, p) => {
      const r = object(v, p);
      problems.unknownKeys(r, p, PARENT_REF_FIELDS);
      return defined({
        group: optString(r['group'], `${p}.group`),
        kind: optString(r['kind'], `${p}.kind`),
        namespace: optString(r['namespace'], `${p}.namespace`),
        name: string(r['name'], `${p}.name`),
        sectionName: optString(r['sectionName'], `${p}.sectionName`),
        port: r['port'] === undefined || r['port'] === null ? undefined : port(r['port'], `${p}.port`),
      });
    }),
    hostnames: list(spec['hostnames'], 'spec.hostnames', string),
    rules: list(spec['rules'], 'spec.rules', object),
  };
}

function readHttpRoute(doc: JsonObject, metadata: ObjectMeta): HTTPRoute {
  const problems = new FieldProblems();
  const spec = readRouteSpec(doc, problems);
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata, spec, ...problems.field() };
}

function readGrpcRoute(doc: JsonObject, metadata: ObjectMeta): GRPCRoute {
  const problems = new FieldProblems();
  const spec = readRouteSpec(doc, problems);
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata, spec, ...problems.field() };
}

// Istio's security API field names (istio/api security/v1beta1/*.proto, type/v1beta1/selector.proto),
// in the camelCase its CRDs use.
const SELECTOR_FIELDS = ['matchLabels'];
const TARGET_REF_FIELDS = ['group', 'kind', 'name', 'namespace'];
const AUTHZ_SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'rules', 'action', 'provider'];
const PROVIDER_FIELDS = ['name'];
const RULE_FIELDS = ['from', 'to', 'when'];
const SOURCE_FIELDS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts',
] as const satisfies readonly (keyof AuthorizationSource)[];
/** In Istio's API, but weft does not match on trust domains. */
const SOURCE_UNSUPPORTED = ['trustDomains', 'notTrustDomains'];
const OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const satisfies readonly (keyof AuthorizationOperation)[];
const OPERATION_PORT_FIELDS = ['ports', 'notPorts'] as const satisfies readonly (keyof AuthorizationOperation)[];
const CONDITION_FIELDS = ['key', 'values', 'notValues'];
const PEER_AUTHN_SPEC_FIELDS = ['selector', 'mtls', 'portLevelMtls'];
const MTLS_FIELDS = ['mode'];

const ACTIONS: readonly AuthorizationPolicyAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

function strings(value: unknown, path: string): string[] | undefined {
  return optList(value, path, string);
}

/** Istio writes ports as strings; a bare YAML number is accepted too. */
function portString(value: unknown, path: string): string {
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  return string(value, path);
}

/**
 * A workload selector read so that it selects at least the workloads written: unknown keys
 * (say `matchExpressions`) are ignored, which can only select more, and labels that cannot
 * be read select every workload in the namespace.
 */
function readSelector(value: unknown, path: string, problems: FieldProblems): LabelSelector | undefined {
  if (value === undefined || value === null) return undefined;
  const s = problems.attempt(() => object(value, path), undefined);
  if (s === undefined) return { matchLabels: {} };
  problems.unknownKeys(s, path, SELECTOR_FIELDS);
  return { matchLabels: problems.attempt(() => stringMap(s['matchLabels'], `${path}.matchLabels`), {}) };
}

/** undefined when the reference cannot be read (the problem is recorded). */
function readTargetRef(value: unknown, path: string, problems: FieldProblems): PolicyTargetRef | undefined {
  const r = problems.attempt(() => object(value, path), undefined);
  if (r === undefined) return undefined;
  problems.unknownKeys(r, path, TARGET_REF_FIELDS);
  return problems.attempt(() => defined({
    group: optString(r['group'], `${path}.group`),
    kind: string(r['kind'], `${path}.kind`),
    name: string(r['name'], `${path}.name`),
    namespace: optString(r['namespace'], `${path}.namespace`),
  }), undefined);
}

function readAction(value: unknown): AuthorizationPolicyAction {
  const raw = optString(value, 'spec.action') ?? 'ALLOW';
  const action = ACTIONS.find((a) => a === raw);
  if (action === undefined) throw new FieldError('spec.action', `one of ${ACTIONS.join(', ')}`, raw);
  return action;
}

/*
 * AuthorizationPolicy is read fail-safe, as Istio treats what ztunnel cannot enforce: the
 * typed policy never allows more, nor denies less, than the manifest says, whatever a
 * consumer (ztunnel's conversion, the waypoint's) makes of it.
 * - A rule with a part weft cannot use (unknown, unsupported or unreadable): in an ALLOW
 *   policy the rule is left out, so it allows nobody; in a DENY (AUDIT, CUSTOM) policy the
 *   part is dropped, so the rule matches more. Dropping a part must widen the match, so a
 *   `from`/`to` entry left with nothing drops the whole list (any source / operation) and a
 *   `when` condition is dropped whole (conditions are ANDed).
 * - A problem outside the rules (an unknown top-level or spec field, an unreadable spec,
 *   action or rule list, a bad selector, targetRef or provider): the fields it hides could
 *   have said anything, so an ALLOW policy keeps no rules. It still applies, so it means
 *   "deny what no other ALLOW policy allows", which is the safe direction. A DENY policy
 *   with a field that could hide rules or change the action denies everything it applies to
 *   (`rules: [{}]`): its rules might have been broader than those read, and deny-all is never
 *   looser. A DENY policy whose only problems are in where it applies (selector,
 *   targetRefs) or in its provider keeps its rules, since those are read to apply at least
 *   as widely as written.
 *   An action that cannot be read is taken as DENY with `rules: [{}]`, the one reading that
 *   is safe whether ALLOW or DENY was meant.
 * - A targetRef that cannot be read drops every target: the policy then falls to ztunnel on
 *   the policy's namespace (or selector), which covers the targets' workloads there.
 * Only metadata problems still reject the object: without a name there is nothing to report on.
 */
function readAuthorizationPolicy(doc: JsonObject, metadata: ObjectMeta): AuthorizationPolicy {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const specRaw = problems.attempt(() => optObject(doc['spec'], 'spec') ?? {}, undefined);
  const spec = specRaw ?? {};
  problems.unknownKeys(spec, 'spec', AUTHZ_SPEC_FIELDS);
  const readAs = specRaw === undefined ? undefined : problems.attempt(() => readAction(spec['action']), undefined);
  const rulesRaw = problems.attempt(() => list(spec['rules'], 'spec.rules', (v) => v), []);
  /** Problems that could hide rules or change the action. */
  const contentProblems = problems.size;

  const selector = readSelector(spec['selector'], 'spec.selector', problems);
  let unreadableTarget = false;
  const target = (v: unknown, p: string): PolicyTargetRef | undefined => {
    const ref = readTargetRef(v, p, problems);
    if (ref === undefined) unreadableTarget = true;
    return ref;
  };
  const targetRef = spec['targetRef'] === undefined || spec['targetRef'] === null ? undefined : target(spec['targetRef'], 'spec.targetRef');
  const targetRefs = problems.attempt(() => list(spec['targetRefs'], 'spec.targetRefs', (v, p) => target(v, p)), undefined);
  if (targetRefs === undefined) unreadableTarget = true;
  if (selector !== undefined && (targetRef !== undefined || (targetRefs?.length ?? 0) > 0)) {
    // Istio rejects this; both are kept, so ztunnel enforces on the selected workloads and
    // the waypoint on the targets, which covers whichever the author meant.
    problems.add(targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs', 'cannot be used together with spec.selector');
  }
  let provider: { name: string } | undefined;
  const providerRaw = problems.attempt(() => optObject(spec['provider'], 'spec.provider'), undefined);
  if (providerRaw !== undefined) {
    problems.unknownKeys(providerRaw, 'spec.provider', PROVIDER_FIELDS);
    const providerName = problems.attempt(() => string(providerRaw['name'], 'spec.provider.name'), undefined);
    if (providerName !== undefined) provider = { name: providerName };
  }
  const policyProblems = problems.size;

  const action = readAs ?? 'DENY';
  let rules: AuthorizationPolicyRule[] = [];
  rulesRaw.forEach((raw, i) => {
    const before = problems.size;
    const rule = readRule(raw, `spec.rules[${i}]`, problems);
    if (problems.size > before && action === 'ALLOW') return;
    rules.push(i === rules.length ? rule : { ...rule, index: i });
  });
  if (contentProblems > 0) rules = action === 'ALLOW' ? [] : [{}];
  else if (policyProblems > 0 && action === 'ALLOW') rules = [];

  const targets = unreadableTarget ? {} : defined({ targetRef });
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata,
    spec: {
      ...defined({ selector, provider }),
      ...targets,
      targetRefs: unreadableTarget ? [] : (targetRefs ?? []).filter((r) => r !== undefined),
      action,
      rules,
    },
    ...problems.field(),
  };
}

/**
 * One rule, field by field: what cannot be read is recorded and left out so the rule
 * matches at least what was written (the reading a DENY rule needs; an ALLOW rule with any
 * problem is not kept at all).
 */
function readRule(value: unknown, path: string, problems: FieldProblems): AuthorizationPolicyRule {
  const r = problems.attempt(() => object(value, path), undefined);
  if (r === undefined) return {};
  problems.unknownKeys(r, path, RULE_FIELDS);
  const from = readAlternatives(r['from'], `${path}.from`, 'source', readSource, problems);
  const to = readAlternatives(r['to'], `${path}.to`, 'operation', readOperation, problems);
  const when = readConditions(r['when'], `${path}.when`, problems);
  return defined({ from, to, when });
}

/**
 * A `from` or `to` list: entries are alternatives, so an entry that lost every field to a
 * problem would match anything, and the list as a whole is then left out (undefined).
 */
function readAlternatives<K extends string, T extends object>(
  value: unknown,
  path: string,
  key: K,
  readInner: (obj: JsonObject, path: string, problems: FieldProblems) => T,
  problems: FieldProblems,
): Partial<Record<K, T>>[] | undefined {
  if (value === undefined || value === null) return undefined;
  const items = problems.attempt(() => list(value, path, (v) => v), undefined);
  if (items === undefined) return undefined;
  const out: Partial<Record<K, T>>[] = [];
  let matchesAnything = false;
  items.forEach((v, j) => {
    const p = `${path}[${j}]`;
    const before = problems.size;
    const entry = problems.attempt(() => object(v, p), undefined);
    if (entry === undefined) {
      matchesAnything = true;
      return;
    }
    problems.unknownKeys(entry, p, [key]);
    const innerRaw = problems.attempt(() => optObject(entry[key], `${p}.${key}`), undefined);
    const inner = innerRaw === undefined ? undefined : readInner(innerRaw, `${p}.${key}`, problems);
    if (problems.size > before && (inner === undefined || Object.keys(inner).length === 0)) {
      matchesAnything = true;
      return;
    }
    const e: Partial<Record<K, T>> = {};
    if (inner !== undefined) e[key] = inner;
    out.push(e);
  });
  return matchesAnything ? undefined : out;
}

function readSource(s: JsonObject, path: string, problems: FieldProblems): AuthorizationSource {
  problems.unknownKeys(s, path, SOURCE_FIELDS, SOURCE_UNSUPPORTED);
  const out: { -readonly [K in keyof AuthorizationSource]: AuthorizationSource[K] } = {};
  for (const f of SOURCE_FIELDS) {
    const v = problems.attempt(() => strings(s[f], `${path}.${f}`), undefined);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

function readOperation(o: JsonObject, path: string, problems: FieldProblems): AuthorizationOperation {
  problems.unknownKeys(o, path, [...OPERATION_FIELDS, ...OPERATION_PORT_FIELDS]);
  const out: { -readonly [K in keyof AuthorizationOperation]: AuthorizationOperation[K] } = {};
  for (const f of OPERATION_FIELDS) {
    const v = problems.attempt(() => strings(o[f], `${path}.${f}`), undefined);
    if (v !== undefined) out[f] = v;
  }
  for (const f of OPERATION_PORT_FIELDS) {
    const v = problems.attempt(() => optList(o[f], `${path}.${f}`, portString), undefined);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** Conditions are ANDed: one that cannot be read whole is left out, which matches more. */
function readConditions(value: unknown, path: string, problems: FieldProblems): AuthorizationCondition[] | undefined {
  if (value === undefined || value === null) return undefined;
  const items = problems.attempt(() => list(value, path, (v) => v), undefined);
  if (items === undefined) return undefined;
  const out: AuthorizationCondition[] = [];
  items.forEach((v, k) => {
    const p = `${path}[${k}]`;
    const before = problems.size;
    const w = problems.attempt(() => object(v, p), undefined);
    if (w === undefined) return;
    problems.unknownKeys(w, p, CONDITION_FIELDS);
    const key = problems.attempt(() => string(w['key'], `${p}.key`), undefined);
    const values = problems.attempt(() => strings(w['values'], `${p}.values`), undefined);
    const notValues = problems.attempt(() => strings(w['notValues'], `${p}.notValues`), undefined);
    if (problems.size > before || key === undefined) return;
    out.push(defined({ key, values, notValues }));
  });
  return out;
}

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

/** A mode weft cannot read, or one next to fields it does not know, is STRICT. */
function readMtls(value: unknown, path: string, problems: FieldProblems): { mode: MtlsMode } {
  const before = problems.size;
  const m = problems.attempt(() => object(value, path), undefined);
  let mode: MtlsMode | undefined;
  if (m !== undefined) {
    problems.unknownKeys(m, path, MTLS_FIELDS);
    const raw = problems.attempt(() => optString(m['mode'], `${path}.mode`) ?? 'UNSET', undefined);
    if (raw !== undefined) {
      mode = MODES.find((x) => x === raw);
      if (mode === undefined) problems.add(`${path}.mode`, `expected one of ${MODES.join(', ')}, got ${JSON.stringify(raw)}`);
    }
  }
  return { mode: problems.size > before || mode === undefined ? 'STRICT' : mode };
}

/*
 * PeerAuthentication is read at its strictest where weft cannot read it: a mode it cannot
 * read is STRICT, and a problem anywhere else (an unknown field, the selector, a port key
 * that is not a port) makes every mode of the policy STRICT, since the hidden part could
 * have been a stricter mode. Istio never gets this far (its CRD schema refuses unknown
 * modes and drops unknown fields; `istioctl validate` refuses both), and when its runtime
 * meets a mode it does not know it reads it as UNSET, inheriting a mode that may be
 * PERMISSIVE. A manifest folder has no admission step, so weft does not follow that
 * runtime reading: refusing plaintext is the safe failure, and the status says why.
 */
function readPeerAuthentication(doc: JsonObject, metadata: ObjectMeta): PeerAuthentication {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = problems.attempt(() => optObject(doc['spec'], 'spec'), undefined) ?? {};
  problems.unknownKeys(spec, 'spec', PEER_AUTHN_SPEC_FIELDS);
  const selector = readSelector(spec['selector'], 'spec.selector', problems);
  const plRaw = problems.attempt(() => optObject(spec['portLevelMtls'], 'spec.portLevelMtls'), undefined) ?? {};
  const ports = Object.entries(plRaw).flatMap(([k, v]) => {
    const n = Number(k);
    if (/^\d+$/.test(k) && n >= 1 && n <= 65535) return [{ port: String(n), value: v }];
    problems.add('spec.portLevelMtls', `key ${JSON.stringify(k)} is not a port number (1-65535)`);
    return [];
  });
  const whole = problems.size;
  let mtls = spec['mtls'] === undefined || spec['mtls'] === null ? undefined : readMtls(spec['mtls'], 'spec.mtls', problems);
  const portLevel: Record<string, { mode: MtlsMode }> = {};
  for (const { port: p, value } of ports) portLevel[p] = readMtls(value, `spec.portLevelMtls.${p}`, problems);
  if (whole > 0) {
    mtls = { mode: 'STRICT' };
    for (const p of Object.keys(portLevel)) portLevel[p] = { mode: 'STRICT' };
  }
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata,
    spec: {
      ...defined({ selector, mtls }),
      portLevelMtls: portLevel,
    },
    ...problems.field(),
  };
}

// Istio's networking API field names (istio/api networking/v1alpha3/virtual_service.proto,
// destination_rule.proto), in the camelCase its CRDs use. What is inside `http[]` and the
// traffic policies is the waypoint model's to check, as route rules are.
const VIRTUAL_SERVICE_SPEC_FIELDS = ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'];
const DESTINATION_RULE_SPEC_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'];
const SUBSET_FIELDS = ['name', 'labels', 'trafficPolicy'];

function readVirtualService(doc: JsonObject, metadata: ObjectMeta): VirtualService {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = object(doc['spec'], 'spec');
  problems.unknownKeys(spec, 'spec', VIRTUAL_SERVICE_SPEC_FIELDS);
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata,
    spec: {
      hosts: list(spec['hosts'], 'spec.hosts', string),
      gateways: list(spec['gateways'], 'spec.gateways', string),
      exportTo: list(spec['exportTo'], 'spec.exportTo', string),
      http: list(spec['http'], 'spec.http', object),
      tcp: list(spec['tcp'], 'spec.tcp', object),
      tls: list(spec['tls'], 'spec.tls', object),
    },
    ...problems.field(),
  };
}

function readDestinationRule(doc: JsonObject, metadata: ObjectMeta): DestinationRule {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = object(doc['spec'], 'spec');
  problems.unknownKeys(spec, 'spec', DESTINATION_RULE_SPEC_FIELDS);
  const selector = optObject(spec['workloadSelector'], 'spec.workloadSelector');
  if (selector !== undefined) problems.unknownKeys(selector, 'spec.workloadSelector', SELECTOR_FIELDS);
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata,
    spec: {
      host: string(spec['host'], 'spec.host'),
      exportTo: list(spec['exportTo'], 'spec.exportTo', string),
      ...defined({
        workloadSelector: selector === undefined ? undefined : { matchLabels: stringMap(selector['matchLabels'], 'spec.workloadSelector.matchLabels') },
        trafficPolicy: optObject(spec['trafficPolicy'], 'spec.trafficPolicy'),
      }),
      subsets: list(spec['subsets'], 'spec.subsets', (v, p): DestinationRuleSubset => {
        const subset = object(v, p);
        problems.unknownKeys(subset, p, SUBSET_FIELDS);
        return {
          name: string(subset['name'], `${p}.name`),
          labels: stringMap(subset['labels'], `${p}.labels`),
          ...defined({ trafficPolicy: optObject(subset['trafficPolicy'], `${p}.trafficPolicy`) }),
        };
      }),
    },
    ...problems.field(),
  };
}

// Envoy Gateway's BackendTrafficPolicy spec (api/v1alpha1/backendtrafficpolicy_types.go and the
// ClusterSettings it inlines). weft implements `rateLimit` alone; the rest are named so the
// status can say "not supported" rather than "unknown".
const BTP_SPEC_FIELDS = ['targetRef', 'targetRefs', 'rateLimit'];
const BTP_UNSUPPORTED_FIELDS = [
  'targetSelectors', 'mergeType', 'faultInjection', 'useClientProtocol', 'compression', 'responseOverride', 'httpUpgrade',
  'requestBuffer', 'telemetry', 'routingType', 'loadBalancer', 'retry', 'proxyProtocol', 'tcpKeepalive', 'healthCheck',
  'circuitBreaker', 'timeout', 'connection', 'dns', 'http2',
];

/** `spec.targetRef` (the older single form) and `spec.targetRefs` together; unreadable ones are recorded and left out. */
function readTargetRefs(spec: JsonObject, problems: FieldProblems): PolicyTargetRef[] {
  const targetRefs: PolicyTargetRef[] = [];
  if (spec['targetRef'] !== undefined && spec['targetRef'] !== null) {
    const ref = readTargetRef(spec['targetRef'], 'spec.targetRef', problems);
    if (ref !== undefined) targetRefs.push(ref);
  }
  const refs = problems.attempt(() => optList(spec['targetRefs'], 'spec.targetRefs', (v) => v), []) ?? [];
  refs.forEach((v, i) => {
    const ref = readTargetRef(v, `spec.targetRefs[${i}]`, problems);
    if (ref !== undefined) targetRefs.push(ref);
  });
  return targetRefs;
}

function readBackendTrafficPolicy(doc: JsonObject, metadata: ObjectMeta): BackendTrafficPolicy {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = object(doc['spec'], 'spec');
  problems.unknownKeys(spec, 'spec', BTP_SPEC_FIELDS, BTP_UNSUPPORTED_FIELDS);
  const targetRefs = readTargetRefs(spec, problems);
  return {
    apiVersion: 'gateway.envoyproxy.io/v1alpha1',
    kind: 'BackendTrafficPolicy',
    metadata,
    spec: {
      targetRefs,
      ...defined({ rateLimit: optObject(spec['rateLimit'], 'spec.rateLimit') }),
    },
    ...problems.field(),
  };
}

// Istio's telemetry API field names (istio/api telemetry/v1alpha1/telemetry.proto), in the
// camelCase its CRD uses. weft implements access logging on/off and trace sampling; the other
// fields Istio has are named so the status says "not supported" rather than "unknown".
const TELEMETRY_SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'accessLogging', 'tracing'];
const TELEMETRY_SPEC_UNSUPPORTED = ['metrics'];
const ACCESS_LOGGING_FIELDS = ['providers', 'disabled'];
const ACCESS_LOGGING_UNSUPPORTED = ['match', 'filter'];
const TRACING_FIELDS = ['providers', 'randomSamplingPercentage', 'disableSpanReporting'];
const TRACING_UNSUPPORTED = ['match', 'customTags', 'useRequestIdForTraceSampling', 'enableIstioTags'];

/** Provider names of one entry; a reference that cannot be read is a problem and left out. */
function readProviders(value: unknown, path: string, problems: FieldProblems): string[] {
  const refs = problems.attempt(() => list(value, path, (v) => v), []);
  return refs.flatMap((v, i) => {
    const p = `${path}[${i}]`;
    const r = problems.attempt(() => object(v, p), undefined);
    if (r === undefined) return [];
    problems.unknownKeys(r, p, PROVIDER_FIELDS);
    const name = problems.attempt(() => string(r['name'], `${p}.name`), undefined);
    return name === undefined ? [] : [name];
  });
}

/** A list of objects whose bad entries are recorded and skipped. */
function readEntries<T>(value: unknown, path: string, problems: FieldProblems, read: (o: JsonObject, p: string) => T): T[] {
  const entries = problems.attempt(() => list(value, path, (v) => v), []);
  return entries.flatMap((v, i) => {
    const o = problems.attempt(() => object(v, `${path}[${i}]`), undefined);
    return o === undefined ? [] : [read(o, `${path}[${i}]`)];
  });
}

function readPercentage(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) throw new FieldError(path, 'a percentage from 0 to 100', value);
  return value;
}

/*
 * Telemetry is read field by field: what cannot be used (an unknown or unsupported field, a
 * value that cannot be read) is left out and named, and the rest applies as written, as the
 * telemetry it configures can only log or trace more or less, never let traffic through.
 */
function readTelemetry(doc: JsonObject, metadata: ObjectMeta): Telemetry {
  const problems = new FieldProblems();
  problems.unknownKeys(doc, '', DOCUMENT_FIELDS);
  const spec = problems.attempt(() => optObject(doc['spec'], 'spec'), undefined) ?? {};
  problems.unknownKeys(spec, 'spec', TELEMETRY_SPEC_FIELDS, TELEMETRY_SPEC_UNSUPPORTED);
  const selector = readSelector(spec['selector'], 'spec.selector', problems);
  const targetRefs = readTargetRefs(spec, problems);
  const accessLogging = readEntries(spec['accessLogging'], 'spec.accessLogging', problems, (o, p): TelemetryAccessLogging => {
    problems.unknownKeys(o, p, ACCESS_LOGGING_FIELDS, ACCESS_LOGGING_UNSUPPORTED);
    return {
      providers: readProviders(o['providers'], `${p}.providers`, problems),
      ...defined({ disabled: problems.attempt(() => optBoolean(o['disabled'], `${p}.disabled`), undefined) }),
    };
  });
  const tracing = readEntries(spec['tracing'], 'spec.tracing', problems, (o, p): TelemetryTracing => {
    problems.unknownKeys(o, p, TRACING_FIELDS, TRACING_UNSUPPORTED);
    return {
      providers: readProviders(o['providers'], `${p}.providers`, problems),
      ...defined({
        randomSamplingPercentage: problems.attempt(() => readPercentage(o['randomSamplingPercentage'], `${p}.randomSamplingPercentage`), undefined),
        disableSpanReporting: problems.attempt(() => optBoolean(o['disableSpanReporting'], `${p}.disableSpanReporting`), undefined),
      }),
    };
  });
  return {
    apiVersion: 'telemetry.istio.io/v1',
    kind: 'Telemetry',
    metadata,
    spec: { ...defined({ selector }), targetRefs, accessLogging, tracing },
    ...problems.field(),
  };
}
