// Turns one decoded manifest (or API object) into a typed cluster object, or says why not.
// Shared by every source so local manifests and the Kubernetes API are read the same way.
import type {
  AuthorizationPolicy,
  AuthorizationPolicyAction,
  AuthorizationPolicyRule,
  ClusterObject,
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

function readGateway(doc: JsonObject, metadata: ObjectMeta): Gateway {
  const spec = object(doc['spec'], 'spec');
  const status = optObject(doc['status'], 'status') ?? {};
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata,
    spec: {
      gatewayClassName: string(spec['gatewayClassName'], 'spec.gatewayClassName'),
      listeners: list(spec['listeners'], 'spec.listeners', (v, p) => {
        const l = object(v, p);
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
  };
}

function readRouteSpec(doc: JsonObject): RouteSpec {
  const spec = object(doc['spec'], 'spec');
  return {
    parentRefs: list(spec['parentRefs'], 'spec.parentRefs', (v, p) => {
      const r = object(v, p);
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
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata, spec: readRouteSpec(doc) };
}

function readGrpcRoute(doc: JsonObject, metadata: ObjectMeta): GRPCRoute {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata, spec: readRouteSpec(doc) };
}

function readSelector(value: unknown, path: string): LabelSelector | undefined {
  const s = optObject(value, path);
  if (s === undefined) return undefined;
  return { matchLabels: stringMap(s['matchLabels'], `${path}.matchLabels`) };
}

function readTargetRef(value: unknown, path: string): PolicyTargetRef {
  const r = object(value, path);
  return defined({
    group: optString(r['group'], `${path}.group`),
    kind: string(r['kind'], `${path}.kind`),
    name: string(r['name'], `${path}.name`),
    namespace: optString(r['namespace'], `${path}.namespace`),
  });
}

const ACTIONS: readonly AuthorizationPolicyAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

function strings(value: unknown, path: string): string[] | undefined {
  return optList(value, path, string);
}

function readRule(value: unknown, path: string): AuthorizationPolicyRule {
  const r = object(value, path);
  const from = optList(r['from'], `${path}.from`, (v, p) => {
    const f = object(v, p);
    const s = optObject(f['source'], `${p}.source`);
    if (s === undefined) return {};
    const sp = `${p}.source`;
    return {
      source: defined({
        principals: strings(s['principals'], `${sp}.principals`),
        notPrincipals: strings(s['notPrincipals'], `${sp}.notPrincipals`),
        requestPrincipals: strings(s['requestPrincipals'], `${sp}.requestPrincipals`),
        notRequestPrincipals: strings(s['notRequestPrincipals'], `${sp}.notRequestPrincipals`),
        namespaces: strings(s['namespaces'], `${sp}.namespaces`),
        notNamespaces: strings(s['notNamespaces'], `${sp}.notNamespaces`),
        ipBlocks: strings(s['ipBlocks'], `${sp}.ipBlocks`),
        notIpBlocks: strings(s['notIpBlocks'], `${sp}.notIpBlocks`),
        remoteIpBlocks: strings(s['remoteIpBlocks'], `${sp}.remoteIpBlocks`),
        notRemoteIpBlocks: strings(s['notRemoteIpBlocks'], `${sp}.notRemoteIpBlocks`),
        serviceAccounts: strings(s['serviceAccounts'], `${sp}.serviceAccounts`),
        notServiceAccounts: strings(s['notServiceAccounts'], `${sp}.notServiceAccounts`),
      }),
    };
  });
  const to = optList(r['to'], `${path}.to`, (v, p) => {
    const t = object(v, p);
    const o = optObject(t['operation'], `${p}.operation`);
    if (o === undefined) return {};
    const op = `${p}.operation`;
    return {
      operation: defined({
        hosts: strings(o['hosts'], `${op}.hosts`),
        notHosts: strings(o['notHosts'], `${op}.notHosts`),
        ports: optList(o['ports'], `${op}.ports`, portString),
        notPorts: optList(o['notPorts'], `${op}.notPorts`, portString),
        methods: strings(o['methods'], `${op}.methods`),
        notMethods: strings(o['notMethods'], `${op}.notMethods`),
        paths: strings(o['paths'], `${op}.paths`),
        notPaths: strings(o['notPaths'], `${op}.notPaths`),
      }),
    };
  });
  const when = optList(r['when'], `${path}.when`, (v, p) => {
    const w = object(v, p);
    return defined({
      key: string(w['key'], `${p}.key`),
      values: strings(w['values'], `${p}.values`),
      notValues: strings(w['notValues'], `${p}.notValues`),
    });
  });
  return defined({ from, to, when });
}

/** Istio writes ports as strings; a bare YAML number is accepted too. */
function portString(value: unknown, path: string): string {
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  return string(value, path);
}

function readAuthorizationPolicy(doc: JsonObject, metadata: ObjectMeta): AuthorizationPolicy {
  const spec = optObject(doc['spec'], 'spec') ?? {};
  const actionRaw = optString(spec['action'], 'spec.action') ?? 'ALLOW';
  const action = ACTIONS.find((a) => a === actionRaw);
  if (action === undefined) throw new FieldError('spec.action', `one of ${ACTIONS.join(', ')}`, actionRaw);
  const providerRaw = optObject(spec['provider'], 'spec.provider');
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata,
    spec: {
      ...defined({
        selector: readSelector(spec['selector'], 'spec.selector'),
        targetRef: spec['targetRef'] === undefined || spec['targetRef'] === null ? undefined : readTargetRef(spec['targetRef'], 'spec.targetRef'),
        provider: providerRaw === undefined ? undefined : { name: string(providerRaw['name'], 'spec.provider.name') },
      }),
      targetRefs: list(spec['targetRefs'], 'spec.targetRefs', readTargetRef),
      action,
      rules: list(spec['rules'], 'spec.rules', readRule),
    },
  };
}

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

function readMtls(value: unknown, path: string): { mode: MtlsMode } {
  const m = object(value, path);
  const raw = optString(m['mode'], `${path}.mode`) ?? 'UNSET';
  const mode = MODES.find((x) => x === raw);
  if (mode === undefined) throw new FieldError(`${path}.mode`, `one of ${MODES.join(', ')}`, raw);
  return { mode };
}

function readPeerAuthentication(doc: JsonObject, metadata: ObjectMeta): PeerAuthentication {
  const spec = optObject(doc['spec'], 'spec') ?? {};
  const portLevel: Record<string, { mode: MtlsMode }> = {};
  const plRaw = optObject(spec['portLevelMtls'], 'spec.portLevelMtls') ?? {};
  for (const [k, v] of Object.entries(plRaw)) {
    const p = `spec.portLevelMtls.${k}`;
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new FieldError(p, 'a port number key', k);
    portLevel[String(n)] = readMtls(v, p);
  }
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata,
    spec: {
      ...defined({
        selector: readSelector(spec['selector'], 'spec.selector'),
        mtls: spec['mtls'] === undefined || spec['mtls'] === null ? undefined : readMtls(spec['mtls'], 'spec.mtls'),
      }),
      portLevelMtls: portLevel,
    },
  };
}
