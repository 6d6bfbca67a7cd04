// The mesh half of the waypoint benchmark on the embedded cluster (LocalMesh): namespace
// `wpbench` in ambient mode and bound to a waypoint (Gateway of class istio-waypoint), a
// client pod on node1, two echo pods on node2. The three paths live side by side as Services
// over the same pods, so the runner can interleave them without reconfiguring anything:
//   echo-l4  labelled istio.io/use-waypoint=none: L4 only (two ztunnels)
//   echo     through the waypoint, default route
//   routed   through the waypoint with an HTTPRoute: /a → echo-a, /b → echo-b, prefix
//            stripped (the twin of the nginx/HAProxy configuration)
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';

export const MESH_NAMESPACE = 'wpbench';
const WAYPOINT = 'waypoint';

export const ROUTE_PREFIXES = ['/a', '/b'] as const;

export function waypointGateway(namespace: string): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name: WAYPOINT, namespace, labels: { 'istio.io/waypoint-for': 'service' } },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

/** On Service `parent`: /a → echo-a and /b → echo-b, the prefix stripped as nginx's `proxy_pass …/` does. */
export function pathRoute(namespace: string, parent: string): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'paths', namespace },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }],
      rules: ROUTE_PREFIXES.map((prefix) => ({
        matches: [{ path: { type: 'PathPrefix', value: prefix } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
        backendRefs: [{ name: `echo${prefix.replace('/', '-')}`, port: 80 }],
      })),
    },
  };
}

export interface MeshScene {
  mesh: LocalMesh;
  client: LocalPod;
  /** Service addresses the client dials (ztunnel captures them). */
  vips: { l4: string; waypoint: string; routed: string };
  ztunnelPids: number[];
  waypoint: { pid: number; node: string };
  stop(): Promise<void>;
}

async function get(client: LocalPod, url: string): Promise<EchoReply | undefined> {
  const r = await client.exec(['curl', '-sS', '--max-time', '3', url]);
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as EchoReply;
  } catch {
    return undefined;
  }
}

/** The waypoint adds Envoy's attempt-count header; L4 alone never does. */
const crossedWaypoint = (reply: EchoReply | undefined): boolean => reply?.headers['x-envoy-attempt-count'] !== undefined;

export async function startMeshScene(name: string): Promise<MeshScene> {
  const mesh = await LocalMesh.start({ name, nodes: 2 });
  mesh.installSignalHandlers();
  try {
    const { cluster } = mesh;
    await cluster.setNamespaceLabels(MESH_NAMESPACE, { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': WAYPOINT });
    const [client, a, b] = await Promise.all([
      cluster.addPod({ namespace: MESH_NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }),
      cluster.addPod({ namespace: MESH_NAMESPACE, name: 'echo-a', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'a' } }),
      cluster.addPod({ namespace: MESH_NAMESPACE, name: 'echo-b', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'b' } }),
    ]);
    await Promise.all([startEcho(a), startEcho(b)]);
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    const service = (svc: string, selector: Record<string, string>, labels: Record<string, string> = {}): Promise<{ vip: string }> =>
      cluster.addService({ namespace: MESH_NAMESPACE, name: svc, selector, ports, labels });
    const l4 = await service('echo-l4', { app: 'echo' }, { 'istio.io/use-waypoint': 'none' });
    const echo = await service('echo', { app: 'echo' });
    const routed = await service('routed', { app: 'echo' });
    await service('echo-a', { app: 'echo', version: 'a' });
    await service('echo-b', { app: 'echo', version: 'b' });
    await Promise.all([client, a, b].map((p) => mesh.waitForEnrollment(p)));
    await mesh.apply('waypoint.yaml', waypointGateway(MESH_NAMESPACE));
    await mesh.apply('route.yaml', pathRoute(MESH_NAMESPACE, 'routed'));
    await waitUntil(async () => crossedWaypoint(await get(client, `http://${echo.vip}/`)), 60_000, () => 'requests to echo never went through the waypoint');
    for (const prefix of ROUTE_PREFIXES) {
      const want = `echo${prefix.replace('/', '-')}`;
      await waitUntil(async () => (await get(client, `http://${routed.vip}${prefix}/`))?.pod === want, 20_000, () => `routed${prefix}/ never reached ${want}`);
    }
    const direct = await get(client, `http://${l4.vip}/`);
    if (direct === undefined || crossedWaypoint(direct)) throw new Error('echo-l4 (use-waypoint=none) must answer without the waypoint');
    const wp = mesh.waypoints.running.get(`${MESH_NAMESPACE}/${WAYPOINT}`);
    if (wp === undefined) throw new Error('traffic crosses a waypoint the launcher does not know');
    return {
      mesh, client,
      vips: { l4: l4.vip, waypoint: echo.vip, routed: routed.vip },
      ztunnelPids: mesh.ztunnels.map((z) => z.process.pid),
      waypoint: { pid: wp.process.pid, node: wp.pod.node },
      stop: () => mesh.stop(),
    };
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}
