// What the waypoint end-to-end tests share: the root-only skip, an embedded mesh whose `shop`
// namespace uses a waypoint, the waypoint Gateway, a DestinationRule manifest, a sum over
// Prometheus series, the waypoint's config dump, its route tables and the wait for them, the
// wait for traffic to take the waypoint, and h2load's status counts.
import assert from 'node:assert/strict';
import { Ports } from '#core/ports.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';

const isRoot = process.getuid?.() === 0;
/** These tests build network namespaces and iptables rules: root only (CI runs as root). */
export const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

/** A namespace's waypoint Gateway named `waypoint`, for its Services. */
export const waypointGateway = (namespace: string): object => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  metadata: { name: 'waypoint', namespace, labels: { 'istio.io/waypoint-for': 'service' } },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

/** The waypoint of the `shop` namespace. */
export const gateway = waypointGateway('shop');

/** Two nodes, and a `shop` namespace in ambient mode whose traffic goes through its waypoint (applied by the caller). */
export async function startShopMesh(name: string): Promise<LocalMesh> {
  const mesh = await LocalMesh.start({ name, nodes: 2 });
  await mesh.cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
  return mesh;
}

export const destinationRule = (host: string, trafficPolicy: object): object => ({
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: host, namespace: 'shop' },
  spec: { host, trafficPolicy },
});

/** Sums a metric over the series whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const end = line.startsWith(`${name}{`) ? line.lastIndexOf('}') + 1 : name.length;
    const have = new Map<string, string>();
    for (const m of line.slice(0, end).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(line.slice(end).trim().split(' ')[0]);
  }
  return sum;
}

/** The `shop` waypoint's pod. */
export function shopWaypoint(mesh: LocalMesh | undefined): LocalPod {
  const wp = mesh?.waypoints.running.get('shop/waypoint');
  assert.ok(wp, 'a waypoint pod runs');
  return wp.pod;
}

/** The `shop` waypoint's config_dump, as its admin port serves it. */
export async function waypointDump(mesh: LocalMesh | undefined): Promise<Record<string, unknown>> {
  const r = await shopWaypoint(mesh).exec(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${Ports.admin}/config_dump`]);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** The waypoint's route tables and destination policies, as its admin port shows them. */
export async function routesDump(mesh: LocalMesh | undefined): Promise<string> {
  return JSON.stringify((await waypointDump(mesh))['routes']);
}

/** Waits until the waypoint's route dump passes `check`. */
export function waitForDump(mesh: LocalMesh | undefined, what: string, check: (dump: string) => boolean): Promise<void> {
  return waitUntil(async () => check(await routesDump(mesh).catch(() => '')), 30_000, () => `the waypoint never got ${what}`);
}

/** Waits until a GET from `client` to `url` is answered through the `shop` waypoint. */
export function waitThroughWaypoint(mesh: LocalMesh | undefined, client: LocalPod, url: string): Promise<void> {
  return waitUntil(async () => {
    const r = await client.exec(['curl', '-sS', '--max-time', '5', '-D', '-', '-o', '/dev/null', url]).catch(() => undefined);
    return r?.stdout.includes('x-envoy') === true || (r?.stdout.startsWith('HTTP/1.1 200') === true && mesh?.waypoints.running.has('shop/waypoint') === true);
  }, 30_000, () => 'requests never went through the waypoint');
}

/** Runs h2load in `pod` with `args`; its 2xx and 5xx counts and its output. */
export async function h2loadStatuses(pod: LocalPod, args: readonly string[], timeoutMs = 120_000): Promise<{ ok: number; failed: number; output: string }> {
  const r = await pod.exec(['h2load', ...args], { timeoutMs });
  const m = /status codes: (\d+) 2xx, \d+ 3xx, \d+ 4xx, (\d+) 5xx/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return { ok: Number(m[1]), failed: Number(m[2]), output: r.stdout };
}
