// The status writer's Gateway addresses against the in-repo API server: written beside the
// conditions through the status subresource, cleared once the store no longer has them, and
// never written to objects whose addresses the writer did not set.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '#core/log.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { KubernetesStatusWriter } from '#controller/status/kubernetes-writer.ts';
import { StatusStore } from '#controller/status/store.ts';
import type { RouteCondition } from '#controller/model/routes.ts';

type GatewayStatus = { conditions?: { type: string; status: string }[]; addresses?: { type: string; value: string }[] } | undefined;

const harnesses: ApiServerHarness[] = [];
let h: ApiServerHarness | undefined;
after(async () => {
  if (h !== undefined && !harnesses.includes(h)) harnesses.push(h);
  for (const x of harnesses) await x.close();
});

async function waitFor(pred: () => boolean, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a Gateway\'s status.addresses are written with its conditions and removed when the store drops them', async () => {
  const harness = await startApiServerHarness();
  h = harness;
  const gateway = (name: string): Record<string, unknown> => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [] }, status: { addresses: [{ type: 'Hostname', value: 'theirs.example' }] },
  });
  harness.server.create(gateway('waypoint'));
  harness.server.create(gateway('other'));
  const status = new StatusStore();
  const writer = new KubernetesStatusWriter({ kubeConfig: harness.kubeConfig, status, logger: silentLogger, minIntervalMs: 1, retry: { initialMs: 20, maxMs: 50 } });
  const statusOf = (name: string): GatewayStatus => harness.server.get('Gateway', 'shop', name)?.['status'] as GatewayStatus;
  writer.start();
  try {
    status.setModelConditions([
      { kind: 'Gateway', namespace: 'shop', name: 'waypoint', type: 'Programmed', status: 'True', reason: 'Programmed', message: 'm' },
      { kind: 'Gateway', namespace: 'shop', name: 'other', type: 'KnownFields', status: 'False', reason: 'UnknownField', message: 'm' },
    ]);
    status.setGatewayAddresses(new Map([['shop/waypoint', [{ type: 'IPAddress', value: '10.96.0.20' }]]]));
    await waitFor(() => statusOf('waypoint')?.addresses?.[0]?.value === '10.96.0.20' && statusOf('other')?.conditions?.length === 1, 'written');
    await writer.idle();
    assert.deepEqual(statusOf('waypoint')?.conditions?.map((c) => c.type), ['Programmed']);
    assert.deepEqual(statusOf('other')?.addresses, [{ type: 'Hostname', value: 'theirs.example' }], 'addresses the writer did not set are left alone');

    const writes = (): number => harness.server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/waypoint/status')).length;
    const before = writes();
    status.setGatewayAddresses(new Map());
    await waitFor(() => statusOf('waypoint')?.addresses === undefined, 'addresses removed');
    await writer.idle();
    assert.deepEqual(statusOf('waypoint')?.conditions?.map((c) => c.type), ['Programmed']);
    // One write removes them; nothing more follows while nothing changes.
    status.setModelConditions([
      { kind: 'Gateway', namespace: 'shop', name: 'waypoint', type: 'Programmed', status: 'True', reason: 'Programmed', message: 'm' },
    ]);
    await writer.idle();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(writes(), before + 1);
  } finally {
    await writer.stop();
  }
});

test('a route\'s conditions are written per parent in status.parents, as the Gateway API has them', async () => {
  const harness = await startApiServerHarness();
  harnesses.push(harness);
  harness.server.create({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'split', namespace: 'shop' },
    spec: { parentRefs: [{ kind: 'Service', name: 'echo' }, { kind: 'Service', name: 'gone' }], rules: [] },
  });
  const status = new StatusStore();
  const writer = new KubernetesStatusWriter({ kubeConfig: harness.kubeConfig, status, logger: silentLogger, minIntervalMs: 1, retry: { initialMs: 20, maxMs: 50 } });
  type RouteStatus = { parents?: { parentRef: { name: string }; controllerName: string; conditions: { type: string; status: string; reason: string }[] }[] };
  const statusOf = (): RouteStatus | undefined => harness.server.get('HTTPRoute', 'shop', 'split')?.['status'] as RouteStatus | undefined;
  writer.start();
  try {
    const base = { kind: 'HTTPRoute', namespace: 'shop', name: 'split', message: 'm' };
    const conditions: RouteCondition[] = [
      { ...base, parentRef: { kind: 'Service', name: 'echo' }, type: 'Accepted', status: 'True', reason: 'Accepted' },
      { ...base, parentRef: { kind: 'Service', name: 'echo' }, type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' },
      { ...base, parentRef: { kind: 'Service', name: 'gone' }, type: 'Accepted', status: 'False', reason: 'NoWaypoint' },
    ];
    status.setModelConditions(conditions);
    await waitFor(() => statusOf()?.parents?.length === 2, 'parents written');
    const parents = statusOf()?.parents ?? [];
    assert.deepEqual(parents.map((p) => [p.parentRef.name, p.controllerName, p.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`)]), [
      ['echo', 'weft.dev/mesh-controller', ['Accepted=True:Accepted', 'ResolvedRefs=True:ResolvedRefs']],
      ['gone', 'weft.dev/mesh-controller', ['Accepted=False:NoWaypoint']],
    ]);
    // The write is done on the writer's side too (the server stores it before the writer hears back).
    await writer.idle();
    // The model drops the route's conditions: its parents are cleared.
    status.setModelConditions([]);
    await waitFor(() => statusOf()?.parents?.length === 0, 'parents cleared');
  } finally {
    await writer.stop();
  }
});
