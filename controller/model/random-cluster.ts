// Test helper: small random clusters from a seeded generator, and random changes to them that
// keep every untouched object's identity (as sources do), for property tests of the builder.
import type { ClusterObject, ClusterObjects } from '#controller/source/types.ts';
import { mergeFiles } from '#controller/source/local.ts';
import { parseObject } from '#controller/source/parse.ts';

/** mulberry32: a tiny seeded generator, so a failing seed can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Doc = Record<string, unknown>;

const NAMESPACES = ['a', 'b', 'c', 'istio-system'];
const KINDS = ['Namespace', 'Node', 'Gateway', 'Service', 'EndpointSlice', 'Pod', 'AuthorizationPolicy', 'PeerAuthentication', 'Telemetry'] as const;
type Kind = (typeof KINDS)[number];
/** How many names each kind draws from: small, so changes collide with existing objects. */
const NAMES: Record<Kind, number> = { Namespace: 4, Node: 3, Gateway: 2, Service: 6, EndpointSlice: 4, Pod: 14, AuthorizationPolicy: 5, PeerAuthentication: 4, Telemetry: 4 };

export class RandomCluster {
  readonly #rand: () => number;
  /** `kind/namespace/name` → the parsed object, in insertion order. */
  readonly #objects = new Map<string, ClusterObject>();

  constructor(seed: number) {
    this.#rand = seededRandom(seed);
    for (const kind of KINDS) for (let i = 0; i < NAMES[kind]; i++) if (kind === 'Namespace' || this.#rand() < 0.8) this.#put(this.#doc(kind, i));
  }

  /** A fresh snapshot: new maps, the same objects for what did not change. */
  objects(): ClusterObjects {
    return mergeFiles(new Map([['random', { objects: [...this.#objects.values()], rejections: [] }]])).objects;
  }

  /** One to three random changes: new content, the same content as a new object, removal, or addition. */
  change(): void {
    const n = 1 + Math.floor(this.#rand() * 3);
    for (let c = 0; c < n; c++) {
      const kind = this.#pick(KINDS);
      const i = Math.floor(this.#rand() * NAMES[kind]);
      const r = this.#rand();
      if (r < 0.15 && kind !== 'Namespace') {
        const key = [...this.#objects.keys()].find((k) => k.startsWith(`${kind}/`) && k.endsWith(`-${i}`));
        if (key !== undefined) this.#objects.delete(key);
      } else if (r < 0.3) {
        // Same content, new identity: a resync or an ignored field changed.
        const key = [...this.#objects.keys()].find((k) => k.startsWith(`${kind}/`));
        const obj = key === undefined ? undefined : this.#objects.get(key);
        if (key !== undefined && obj !== undefined) this.#objects.set(key, structuredClone(obj));
      } else {
        this.#put(this.#doc(kind, i));
      }
    }
  }

  #put(doc: Doc): void {
    const r = parseObject(doc);
    if (!r.ok) throw new Error(`bad generated manifest: ${r.reason}`);
    const o = r.object;
    this.#objects.set(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#rand() * xs.length)] as T;
  }

  #maybe<T extends object>(p: number, value: T): T | Record<string, never> {
    return this.#rand() < p ? value : {};
  }

  #labels(): Record<string, string> {
    return {
      ...this.#maybe(0.8, { app: this.#pick(['web', 'db', 'api']) }),
      ...this.#maybe(0.4, { tier: this.#pick(['front', 'back']) }),
      ...this.#maybe(0.1, { 'istio.io/dataplane-mode': 'none' }),
      ...this.#maybe(0.15, { 'istio.io/use-waypoint': this.#pick(['wp-0', 'wp-1', 'none', 'missing']) }),
    };
  }

  #doc(kind: Kind, i: number): Doc {
    const namespace = kind === 'Namespace' ? '' : this.#pick(NAMESPACES);
    const meta = (name: string, labels: Record<string, string> = {}): Doc => ({ name, ...(namespace === '' ? {} : { namespace }), uid: `${kind}-${name}`, labels });
    const ip = (): string => `10.0.${Math.floor(this.#rand() * 4)}.${1 + Math.floor(this.#rand() * 30)}`;
    switch (kind) {
      case 'Namespace':
        return { apiVersion: 'v1', kind, metadata: { name: NAMESPACES[i], labels: {
          ...this.#maybe(0.7, { 'istio.io/dataplane-mode': 'ambient' }),
          ...this.#maybe(0.3, { 'istio.io/use-waypoint': this.#pick(['wp-0', 'wp-1']) }),
        } } };
      case 'Node':
        return { apiVersion: 'v1', kind, metadata: meta(`node-${i}`), status: { addresses: this.#rand() < 0.8 ? [{ type: 'InternalIP', address: `192.168.0.${i + Math.floor(this.#rand() * 3)}` }] : [] } };
      case 'Gateway':
        return {
          apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: meta(`wp-${i}`, this.#maybe(0.6, { 'istio.io/waypoint-for': this.#pick(['service', 'workload', 'all', 'bogus']) })),
          spec: { gatewayClassName: this.#rand() < 0.9 ? 'istio-waypoint' : 'other', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
          ...this.#maybe(0.7, { status: { addresses: [{ type: 'IPAddress', value: `10.96.9.${Math.floor(this.#rand() * 3)}` }] } }),
        };
      case 'Service': {
        const sel = this.#rand();
        return {
          apiVersion: 'v1', kind, metadata: meta(`svc-${i}`, this.#maybe(0.15, { 'istio.io/use-waypoint': this.#pick(['wp-0', 'wp-1', 'none']) })),
          spec: {
            ...(this.#rand() < 0.1 ? { type: 'ExternalName' } : {}),
            clusterIP: `10.96.0.${i}`,
            ...(sel < 0.1 ? {} : sel < 0.15 ? { selector: {} } : { selector: { app: this.#pick(['web', 'db', 'api']), ...this.#maybe(0.4, { tier: this.#pick(['front', 'back']) }) } }),
            ports: [
              { name: 'http', port: 80, targetPort: this.#rand() < 0.5 ? 8080 : 'web' },
              ...(this.#rand() < 0.3 ? [{ name: 'dns', port: 53, protocol: 'UDP' }] : []),
            ],
          },
        };
      }
      case 'EndpointSlice':
        return {
          apiVersion: 'discovery.k8s.io/v1', kind, metadata: meta(`slice-${i}`, { 'kubernetes.io/service-name': `svc-${Math.floor(this.#rand() * NAMES.Service)}` }),
          addressType: 'IPv4', endpoints: [{ addresses: [ip()], conditions: { ready: true } }], ports: [{ name: 'http', port: this.#pick([8080, 9090]), protocol: 'TCP' }],
        };
      case 'Pod': {
        const hasIp = this.#rand() < 0.9;
        return {
          apiVersion: 'v1', kind, metadata: { ...meta(`pod-${i}`, this.#labels()), ...(this.#rand() < 0.1 ? { uid: undefined } : {}) },
          spec: { nodeName: `node-${Math.floor(this.#rand() * 4)}`, ...this.#maybe(0.7, { serviceAccountName: this.#pick(['web', 'db']) }) },
          status: {
            phase: this.#pick(['Running', 'Running', 'Running', 'Pending', 'Succeeded']),
            ...(hasIp ? { podIP: ip(), podIPs: [] } : {}),
            ...this.#maybe(0.7, { hostIP: `192.168.0.${Math.floor(this.#rand() * 4)}` }),
            conditions: [{ type: 'Ready', status: this.#rand() < 0.8 ? 'True' : 'False' }],
          },
        };
      }
      case 'AuthorizationPolicy':
        return {
          apiVersion: 'security.istio.io/v1', kind, metadata: meta(`authz-${i}`),
          spec: {
            ...this.#maybe(0.7, { selector: { matchLabels: this.#rand() < 0.2 ? {} : { app: this.#pick(['web', 'db', 'api']) } } }),
            action: this.#pick(['ALLOW', 'DENY', 'AUDIT']),
            rules: [this.#rand() < 0.5 ? {} : { from: [{ source: { namespaces: [this.#pick(NAMESPACES)] } }] }],
          },
        };
      case 'PeerAuthentication':
        return {
          apiVersion: 'security.istio.io/v1', kind, metadata: meta(`pa-${i}`),
          spec: {
            ...this.#maybe(0.5, { selector: { matchLabels: { app: this.#pick(['web', 'db', 'api']) } } }),
            ...this.#maybe(0.8, { mtls: { mode: this.#pick(['STRICT', 'PERMISSIVE', 'UNSET']) } }),
            ...this.#maybe(0.2, { portLevelMtls: { 8080: { mode: this.#pick(['STRICT', 'PERMISSIVE']) } } }),
          },
        };
      case 'Telemetry':
        return {
          apiVersion: 'telemetry.istio.io/v1', kind, metadata: meta(`tel-${i}`),
          spec: {
            ...this.#maybe(0.4, { selector: { matchLabels: { app: this.#pick(['web', 'db', 'api']) } } }),
            ...this.#maybe(0.2, { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: this.#pick(['wp-0', 'wp-1']) }] }),
            ...this.#maybe(0.8, { accessLogging: [{ disabled: this.#rand() < 0.6, ...this.#maybe(0.2, { providers: [{ name: this.#pick(['envoy', 'other']) }] }) }] }),
            ...this.#maybe(0.4, { tracing: [{ randomSamplingPercentage: this.#pick([0, 10, 100]) }] }),
          },
        };
    }
  }
}
