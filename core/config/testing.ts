// Sample resources (and a zip bomb, a loopback WebSocket server) for tests of the push protocol,
// the proxies' stores and benchmarks.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants, deflateRawSync } from 'node:zlib';
import { WebSocketServer } from 'ws';
import type { Authorization, AuthorizationMatch, Resource, Service, Workload } from './model.ts';

export function sampleWorkload(overrides: Partial<Workload> = {}): Workload {
  return {
    uid: 'uid-a',
    name: 'a',
    namespace: 'default',
    addresses: ['10.0.0.1'],
    node: 'node-1',
    nodeAddress: '192.168.0.1',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: 'default',
    canonicalName: 'a',
    canonicalRevision: 'latest',
    workloadType: 'pod',
    workloadName: 'a',
    services: { 'default/svc.default.svc.cluster.local': { '80': 8080 } },
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...overrides,
  };
}

export function sampleService(overrides: Partial<Service> = {}): Service {
  return {
    name: 'svc',
    namespace: 'default',
    hostname: 'svc.default.svc.cluster.local',
    addresses: ['10.96.0.10'],
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'http' }],
    subjectAltNames: [],
    ...overrides,
  };
}

export function emptyMatch(overrides: Partial<AuthorizationMatch> = {}): AuthorizationMatch {
  return {
    namespaces: [], notNamespaces: [], principals: [], notPrincipals: [], serviceAccounts: [], notServiceAccounts: [],
    sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [], destinationPorts: [], notDestinationPorts: [],
    ...overrides,
  };
}

export function sampleAuthorization(overrides: Partial<Authorization> = {}): Authorization {
  return {
    name: 'allow-web',
    namespace: 'default',
    scope: 'WORKLOAD_SELECTOR',
    action: 'ALLOW',
    rules: [{ clauses: [{ matches: [emptyMatch({ namespaces: [{ exact: 'web' }], sourceIps: ['10.0.0.0/8'], destinationPorts: [8080] })] }] }],
    dryRun: false,
    ...overrides,
  };
}

export function workloadResource(w: Workload): Resource {
  return { kind: 'workload', key: w.uid, value: w };
}

export function serviceResource(s: Service): Resource {
  return { kind: 'service', key: `${s.namespace}/${s.hostname}`, value: s };
}

export function authorizationResource(a: Authorization): Resource {
  return { kind: 'authorization', key: `${a.namespace}/${a.name}`, value: a };
}

/** Raw deflate of `gib` GiB of zeros in about 1 MB per GiB: one flushed 1 MiB block repeated, then a final empty block. */
export function zipBomb(gib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array<Buffer>(1024 * gib).fill(block), deflateRawSync(Buffer.alloc(0))]);
}

export interface LoopbackWebSocketServer {
  wss: WebSocketServer;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** A plain (no TLS) WebSocket server on a loopback port, for tests of either end of a stream. */
export async function loopbackWebSocketServer(opts: { path?: string } = {}): Promise<LoopbackWebSocketServer> {
  const server = createServer();
  const wss = new WebSocketServer({ server, ...(opts.path === undefined ? {} : { path: opts.path }) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    wss, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
