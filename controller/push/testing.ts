// Test and benchmark harness for the push stream: a real PushServer behind a real HTTPS
// listener on loopback, with a certificate from a throwaway mesh root, and proxies' stores
// kept by real ConfigClients.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { ConfigClient } from '#core/config/client.ts';
import type { ConfigUpdate, UpdateEvent } from '#core/config/client.ts';
import type { Resource } from '#core/config/model.ts';
import type { ClientDescriptor, RejectedResource } from '#core/config/protocol.ts';
import { validateResources } from '#core/config/validate.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { ClientTokens } from '#controller/ca/tokens.ts';
import { issueServerCertificate } from '#controller/ca/server-cert.ts';
import { PushServer } from './server.ts';
import type { PushServerOptions } from './server.ts';

export interface PushHarness {
  push: PushServer;
  url: string;
  rootsPem: string[];
  tokens: ClientTokens;
  metrics: Registry;
  close(): Promise<void>;
}

export function modelOf(resources: Resource[]): MeshModel {
  return {
    resources: new Map(resources.map((r) => [`${r.kind}/${r.key}`, r])),
    conditions: [],
    identitiesByNode: new Map(),
    waypointIdentities: new Set(),
  };
}

/**
 * `modelViews: true` serves the model's own per-client views (the server's default);
 * otherwise every client receives the whole model unless `viewFor` says otherwise.
 */
export async function pushHarness(opts: Partial<PushServerOptions> & { modelViews?: boolean } = {}): Promise<PushHarness> {
  const { modelViews, ...serverOpts } = opts;
  const store = new MemoryCaStore();
  const ca = await CertificateAuthority.open({ store });
  const root = await store.load();
  if (root === undefined) throw new Error('no root after CA open');
  const cert = await issueServerCertificate(root, { dnsNames: ['weft-controller'], ipAddresses: ['127.0.0.1'] });
  const tokens = new ClientTokens(randomBytes(32));
  const metrics = new Registry();
  const views: Partial<PushServerOptions> = modelViews === true ? {} : { viewFor: (m) => m.resources };
  const push = new PushServer({ authenticate: (t) => tokens.verify(t), metrics, ...views, ...serverOpts });
  const server = createServer({ cert: cert.certPem, key: cert.keyPem });
  push.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    push, url: `wss://127.0.0.1:${port}`, rootsPem: ca.rootsPem, tokens, metrics,
    close: async () => {
      await push.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A ConfigClient whose "proxy" is a Map, plus a queue of the updates it applied. */
export interface RecordingClient {
  client: ConfigClient;
  store: Map<string, Resource>;
  updates: UpdateEvent[];
  /** Resolves with the next update applied (or one already waiting). */
  next(timeoutMs?: number): Promise<UpdateEvent>;
}

/** `compression: false` makes a client that does not ask for deflated frames (as an older proxy or the CLI). */
export function recordingClient(h: PushHarness, who: ClientDescriptor, opts: { reject?: (r: Resource) => string | undefined; compression?: boolean } = {}): RecordingClient {
  const store = new Map<string, Resource>();
  const updates: UpdateEvent[] = [];
  let consumed = 0;
  const waiters: (() => void)[] = [];
  const apply = (u: ConfigUpdate): { rejected: RejectedResource[] } => {
    if (u.snapshot) store.clear();
    for (const r of u.removed) store.delete(`${r.kind}/${r.key}`);
    // A stand-in proxy validates as a real one's mutator does; its refusals are the NACK.
    const { valid, rejected } = validateResources(u.updated);
    for (const r of valid) {
      const reason = opts.reject?.(r);
      if (reason !== undefined) rejected.push({ kind: r.kind, key: r.key, reason });
      else store.set(`${r.kind}/${r.key}`, r);
    }
    return { rejected };
  };
  const client = new ConfigClient({
    url: h.url, client: who, token: h.tokens.mint(who), rootsPem: h.rootsPem, apply, backoff: { initialMs: 20, maxMs: 200 },
    ...(opts.compression === undefined ? {} : { compression: opts.compression }),
  });
  client.on('update', (e) => {
    updates.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (timeoutMs = 5000): Promise<UpdateEvent> => {
    const deadline = Date.now() + timeoutMs;
    while (updates.length <= consumed) {
      if (Date.now() > deadline) throw new Error(`no update within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    const e = updates[consumed++];
    if (e === undefined) throw new Error('update queue out of step');
    return e;
  };
  client.start();
  return { client, store, updates, next };
}
