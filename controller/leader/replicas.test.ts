// Two controller replicas with leader election against one in-repo API server, each
// authenticating as its own user so the server can tell their requests apart: only the leader
// writes (status, waypoint objects), both serve push and CA, and when the leader is cut off the
// other takes over writing within the lease duration plus a retry period.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createCsr } from '#core/ca/csr.ts';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import { ConfigClient } from '#core/config/client.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { leaseTimings } from '#controller/leader/decide.ts';
import { startController } from '#controller/main.ts';
import type { RunningController } from '#controller/main.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function waitFor(pred: () => boolean, label: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const LEASE_MS = 1500;
const WRITES = new Set(['create', 'update', 'patch', 'delete']);

async function replica(h: ApiServerHarness, id: string): Promise<RunningController> {
  const dir = await mkdtemp(join(tmpdir(), `weft-replica-${id}-`));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, (await readFile(h.kubeconfigPath, 'utf8')).replace(/token: .*/, `token: token-${id}`), { mode: 0o600 });
  const c = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), source: 'kubernetes', kubeconfig, listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 10,
    leaderElect: true, leaseDurationMs: LEASE_MS, identity: id,
    // The in-process clients below hold the controller's own tokens rather than projected ones.
    clientAuth: 'hmac', insecureAllowHmacAuth: true,
  }), { logger: silentLogger });
  cleanups.push(async () => {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });
  return c;
}

/** Both serve: a waypoint gets config over push and a certificate from the CA of each. */
async function serves(c: RunningController, identity: string): Promise<void> {
  const who: ClientDescriptor = { kind: 'waypoint', identity };
  const client = new ConfigClient({
    url: c.pushUrl, client: who, token: c.tokenFor(who), rootsPem: c.rootsPem, servername: 'weft-controller',
    apply: () => ({ rejected: [] }), logger: silentLogger,
  }).start();
  try {
    await client.ready();
  } finally {
    await client.close();
  }
  const { csrPem } = await createCsr(identity);
  const got = await httpsFetcher({ url: c.caUrl, rootsPem: c.rootsPem, token: c.tokenFor(who) })(csrPem, identity);
  assert.equal(new X509Certificate(got.certPem).subjectAltName, `URI:${identity}`);
}

test('two replicas: the leader alone writes status and waypoint objects, both serve push and CA, and a cut-off leader is replaced', async () => {
  const h = await startApiServerHarness({ users: { 'token-a': 'replica-a', 'token-b': 'replica-b' } });
  cleanups.push(() => h.close());
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  h.server.create({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  const a = await replica(h, 'a');
  await waitFor(() => a.isLeader(), 'a to lead');
  const b = await replica(h, 'b');
  await waitFor(() => h.server.get('Deployment', 'shop', 'waypoint') !== undefined, 'the waypoint Deployment');
  const gatewayConditions = (): { type: string }[] => ((h.server.get('Gateway', 'shop', 'waypoint')?.['status'] as { conditions?: { type: string }[] } | undefined)?.conditions ?? []);
  await waitFor(() => gatewayConditions().length > 0, 'Gateway status');
  // A whole lease period more, so b had every chance to write if it were going to.
  await new Promise((r) => setTimeout(r, LEASE_MS));
  assert.equal(b.isLeader(), false);
  const writesBy = (user: string, sinceIndex = 0): string[] => h.server.requests.slice(sinceIndex)
    .filter((r) => r.user === user && WRITES.has(r.verb ?? '') && !r.path.includes('/leases'))
    .map((r) => `${r.verb ?? ''} ${r.path}`);
  assert.ok(writesBy('replica-a').length > 0, 'a wrote status and objects');
  assert.deepEqual(writesBy('replica-b'), [], 'the follower writes nothing but never a Lease either');
  assert.deepEqual(h.server.requests.filter((r) => r.user === 'replica-b' && r.path.includes('/leases') && r.verb !== 'get'), [], 'the follower only reads the Lease');

  assert.equal(a.rootPem, b.rootPem, 'the replicas share one CA root (its Secret)');
  // The leader published that root where workloads mount it.
  const rootCert = (ns: string): string | undefined => (h.server.get('ConfigMap', ns, 'istio-ca-root-cert')?.['data'] as Record<string, string> | undefined)?.['root-cert.pem'];
  await waitFor(() => rootCert('shop') !== undefined && rootCert('istio-system') !== undefined, 'the root certificate ConfigMaps');
  assert.equal(rootCert('shop'), a.rootPem.endsWith('\n') ? a.rootPem : `${a.rootPem}\n`);
  const identity = 'spiffe://cluster.local/ns/shop/sa/waypoint';
  await waitFor(() => (a.model()?.waypointIdentities.has(identity) ?? false) && (b.model()?.waypointIdentities.has(identity) ?? false), 'both models');
  await serves(a, identity);
  await serves(b, identity);

  // Cut a off from the API server; b takes over writing: a new Gateway gets its waypoint from b.
  const cut = Date.now();
  const mark = h.server.requests.length;
  h.server.failRequests((req) => (req.user === 'replica-a' ? 503 : undefined));
  await waitFor(() => b.isLeader(), 'b to lead', 10_000);
  const failover = Date.now() - cut;
  const t = leaseTimings(LEASE_MS);
  assert.ok(failover <= t.leaseDurationMs + 2 * t.retryPeriodMs + 500, `failover took ${failover} ms`);
  assert.equal(a.isLeader(), false, 'a stepped down');
  h.server.create({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'second', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  await waitFor(() => h.server.get('Deployment', 'shop', 'second') !== undefined, 'the second waypoint, deployed by b');
  // A namespace enrolled after the failover gets the root from the new leader.
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  await waitFor(() => rootCert('web') !== undefined, 'the root certificate in a newly enrolled namespace');
  assert.ok(writesBy('replica-b', mark).some((w) => w.includes('/namespaces/web/configmaps/istio-ca-root-cert')));
  assert.ok(writesBy('replica-b', mark).some((w) => w.includes('/deployments/second')));
  // a's writes after the cut all failed at the server (503), none reached the store.
  h.server.failRequests(undefined);
  // a, still serving, sees the new Gateway too.
  await waitFor(() => a.model()?.waypointIdentities.has('spiffe://cluster.local/ns/shop/sa/second') ?? false, 'a to see the second Gateway');
});
