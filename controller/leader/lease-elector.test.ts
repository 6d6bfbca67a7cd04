// Two electors on one Lease in the in-repo API server, through the real client library: one
// leads, the other follows; a clean stop hands over at once; a leader cut off from the API server
// steps down before the follower takes over, and the takeover comes within the lease duration
// plus one retry period.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '#core/log.ts';
import { leaseTimings } from '#controller/leader/decide.ts';
import { LeaderElector } from '#controller/leader/lease-elector.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';

const harnesses: ApiServerHarness[] = [];
const electors: LeaderElector[] = [];
after(async () => {
  for (const e of electors) await e.stop();
  for (const h of harnesses) await h.close();
});

async function waitFor(pred: () => boolean, label: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A kubeconfig for the harness's server that authenticates with another token. */
async function kubeConfigWith(h: ApiServerHarness, token: string): Promise<KubeConfig> {
  const text = (await readFile(h.kubeconfigPath, 'utf8')).replace(/token: .*/, `token: ${token}`);
  const path = `${h.kubeconfigPath}.${token}`;
  await writeFile(path, text, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

const timings = leaseTimings(1500);
/** Each replica authenticates as its own user, so the server can tell their requests apart. */
const USERS = { users: { 'token-a': 'replica-a', 'token-b': 'replica-b' } };

interface Replica {
  elector: LeaderElector;
  events: { leading: boolean; at: number }[];
}

async function replica(h: ApiServerHarness, id: string): Promise<Replica> {
  const elector = new LeaderElector({
    kubeConfig: await kubeConfigWith(h, `token-${id}`), namespace: 'istio-system', name: 'weft-controller', identity: id, timings, logger: silentLogger,
  });
  electors.push(elector);
  const events: Replica['events'] = [];
  elector.onChange((leading) => events.push({ leading, at: Date.now() }));
  return { elector, events };
}

test('one of two replicas leads; a clean stop releases the lease and the other takes over on its next try', async () => {
  const h = await startApiServerHarness(USERS);
  harnesses.push(h);
  const a = await replica(h, 'a');
  const b = await replica(h, 'b');
  a.elector.start();
  await waitFor(() => a.elector.leading, 'a to lead');
  b.elector.start();
  await waitFor(() => b.elector.holder === 'a', 'b to see a holding the lease');
  await new Promise((r) => setTimeout(r, timings.leaseDurationMs + timings.retryPeriodMs));
  assert.equal(b.elector.leading, false, 'a renews, so b never leads');
  const lease = h.server.get('Lease', 'istio-system', 'weft-controller');
  const spec = lease?.['spec'] as { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; leaseTransitions?: number } | undefined;
  assert.equal(spec?.holderIdentity, 'a');
  assert.equal(spec?.leaseDurationSeconds, 2);
  assert.match(spec?.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'renewTime is a MicroTime');

  const stopped = Date.now();
  await a.elector.stop();
  assert.equal(a.elector.leading, false);
  await waitFor(() => b.elector.leading, 'b to take over');
  assert.ok(Date.now() - stopped < timings.retryPeriodMs * 1.2 + 500, `a released lease is taken on the next try (${Date.now() - stopped} ms)`);
  const after = h.server.get('Lease', 'istio-system', 'weft-controller')?.['spec'] as { holderIdentity?: string; leaseTransitions?: number } | undefined;
  assert.equal(after?.holderIdentity, 'b');
  assert.equal(after?.leaseTransitions, 1);
});

test('a leader cut off from the API server steps down before the follower takes over, within lease duration + retry period', async () => {
  const h = await startApiServerHarness(USERS);
  harnesses.push(h);
  const a = await replica(h, 'a');
  const b = await replica(h, 'b');
  a.elector.start();
  await waitFor(() => a.elector.leading, 'a to lead');
  b.elector.start();
  await waitFor(() => b.elector.holder === 'a', 'b to see a');
  // Partition a: every request it sends fails from now on (its last renewal stands).
  const lastRenew = Date.parse((h.server.get('Lease', 'istio-system', 'weft-controller')?.['spec'] as { renewTime: string }).renewTime);
  h.server.failRequests((req) => (req.user === 'replica-a' ? 503 : undefined));
  await waitFor(() => b.elector.leading, 'b to take over');
  const stepDown = a.events.find((e) => !e.leading);
  const takeOver = b.events.find((e) => e.leading);
  assert.ok(stepDown !== undefined && takeOver !== undefined);
  assert.ok(stepDown.at <= takeOver.at, `a stopped leading (${stepDown.at}) before b started (${takeOver.at})`);
  const failover = takeOver.at - lastRenew;
  // The lease runs from when b saw a's last renewal; b tries once per retry period (jittered by up to 20 %).
  assert.ok(failover <= timings.leaseDurationMs + timings.retryPeriodMs * 1.2 + timings.retryPeriodMs + 300, `failover took ${failover} ms`);
  h.server.failRequests(undefined);
});

