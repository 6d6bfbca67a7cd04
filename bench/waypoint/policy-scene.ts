// The embedded cluster of the waypoint policy benchmark: namespace `wppolicy` in ambient mode
// and bound to a waypoint, a client pod on node1, three echo pods (version v1, v2, v3) on node2
// and the cluster's Redis. Four Services over the same three pods, so the runner can
// interleave them without reconfiguring anything:
//   echo-l4  labelled istio.io/use-waypoint=none: L4 only (two ztunnels), the latency baseline
//   plain    through the waypoint, no policy at all (the empty set)
//   policy   the realistic set: a VirtualService splitting 80/10/10 over the DestinationRule's
//            subsets (by `version`) with retries on 5xx, outlier detection on the
//            DestinationRule, and a local BackendTrafficPolicy limit far above the load
//   limited  through the waypoint with a global (Redis) BackendTrafficPolicy limit far above
//            the load, nothing else
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import { waypointGateway } from '#bench/waypoint/mesh-scene.ts';

export const POLICY_NAMESPACE = 'wppolicy';
const WAYPOINT = 'waypoint';
export const VERSIONS = ['v1', 'v2', 'v3'] as const;
/** The VirtualService's weights, in the order of VERSIONS. */
export const SPLIT = [80, 10, 10] as const;
/** Far above anything the benchmark sends, so neither limit ever refuses a request. */
const NEVER_TRIPS = { requests: 1_000_000_000, unit: 'Hour' } as const;

const meta = (name: string): object => ({ name, namespace: POLICY_NAMESPACE });

/** The realistic policy set on Service `host`, as the manifests a user would apply. */
export function realisticPolicies(host: string): { file: string; manifest: object }[] {
  return [
    {
      file: 'policy-destination-rule.yaml',
      manifest: {
        apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta(host),
        spec: {
          host,
          trafficPolicy: { outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 } },
          subsets: VERSIONS.map((v) => ({ name: v, labels: { version: v } })),
        },
      },
    },
    {
      file: 'policy-virtual-service.yaml',
      manifest: {
        apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta(host),
        spec: {
          hosts: [host],
          http: [{
            name: 'split', retries: { attempts: 2, retryOn: '5xx' },
            route: VERSIONS.map((v, i) => ({ destination: { host, subset: v }, weight: SPLIT[i] })),
          }],
        },
      },
    },
    {
      file: 'policy-local-limit.yaml',
      manifest: {
        apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: meta(`${host}-local-limit`),
        spec: { targetRefs: [{ group: '', kind: 'Service', name: host }], rateLimit: { type: 'Local', local: { rules: [{ limit: NEVER_TRIPS }] } } },
      },
    },
  ];
}

/** A global limit on Service `host`, counted in Redis. */
export function globalLimit(host: string): object {
  return {
    apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'BackendTrafficPolicy', metadata: meta(`${host}-global-limit`),
    spec: { targetRefs: [{ group: '', kind: 'Service', name: host }], rateLimit: { type: 'Global', global: { rules: [{ limit: NEVER_TRIPS }] } } },
  };
}

export interface Answer {
  status: number;
  /** Response headers, names in lower case. */
  headers: Record<string, string>;
  reply: EchoReply | undefined;
}

/** Splits curl's `-i` output (status line, headers, body) into an Answer. */
export function parseCurlInclude(text: string): Answer {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 4);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  let reply: EchoReply | undefined;
  try {
    reply = JSON.parse(body) as EchoReply;
  } catch {
    reply = undefined;
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, reply };
}

async function get(client: LocalPod, url: string): Promise<Answer | undefined> {
  const r = await client.exec(['curl', '-sS', '-i', '--max-time', '3', url]);
  return r.code === 0 ? parseCurlInclude(r.stdout) : undefined;
}

/** The waypoint adds Envoy's attempt-count header; L4 alone never does. */
const crossedWaypoint = (a: Answer | undefined): boolean => a?.reply?.headers['x-envoy-attempt-count'] !== undefined;

export interface PolicyScene {
  mesh: LocalMesh;
  client: LocalPod;
  vips: { l4: string; plain: string; policy: string; limited: string };
  ztunnelPids: number[];
  waypoint: { pid: number; node: string };
  redisAddress: string;
  /** Stops the waypoint first, with time to finish (and write a CPU profile), then the mesh. */
  stop(): Promise<void>;
}

export async function startPolicyScene(name: string, o: { waypointNodeArgs?: readonly string[] } = {}): Promise<PolicyScene> {
  const mesh = await LocalMesh.start({ name, nodes: 2, redis: true, ...(o.waypointNodeArgs === undefined ? {} : { waypointNodeArgs: o.waypointNodeArgs }) });
  mesh.installSignalHandlers();
  try {
    const { cluster } = mesh;
    await cluster.setNamespaceLabels(POLICY_NAMESPACE, { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': WAYPOINT });
    const [client, ...echoes] = await Promise.all([
      cluster.addPod({ namespace: POLICY_NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }),
      ...VERSIONS.map((v) => cluster.addPod({ namespace: POLICY_NAMESPACE, name: `echo-${v}`, node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: v } })),
    ]);
    await Promise.all(echoes.map((p) => startEcho(p)));
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    const service = (svc: string, labels: Record<string, string> = {}): Promise<{ vip: string }> =>
      cluster.addService({ namespace: POLICY_NAMESPACE, name: svc, selector: { app: 'echo' }, ports, labels });
    const l4 = await service('echo-l4', { 'istio.io/use-waypoint': 'none' });
    const plain = await service('plain');
    const policy = await service('policy');
    const limited = await service('limited');
    await Promise.all([client, ...echoes].map((p) => mesh.waitForEnrollment(p)));
    await mesh.apply('waypoint.yaml', waypointGateway(POLICY_NAMESPACE));
    for (const p of realisticPolicies('policy')) await mesh.apply(p.file, p.manifest);
    await mesh.apply('global-limit.yaml', globalLimit('limited'));
    await waitUntil(async () => crossedWaypoint(await get(client, `http://${plain.vip}/`)), 60_000, () => 'requests to plain never went through the waypoint');
    // Applied once both limits answer with their headers and the split has reached every subset.
    const seen = new Set<string>();
    await waitUntil(async () => {
      const a = await get(client, `http://${policy.vip}/`);
      if (a?.headers['x-ratelimit-limit'] !== undefined && a.reply !== undefined) seen.add(a.reply.pod);
      return seen.size === VERSIONS.length;
    }, 60_000, () => `the realistic policy set never applied (subsets answering: ${[...seen].join(', ') || 'none'})`);
    await waitUntil(async () => (await get(client, `http://${limited.vip}/`))?.headers['x-ratelimit-limit'] !== undefined,
      30_000, () => 'the global limit never applied');
    const plainAnswer = await get(client, `http://${plain.vip}/`);
    if (plainAnswer?.headers['x-ratelimit-limit'] !== undefined) throw new Error('plain must have no policy, yet it is rate limited');
    const direct = await get(client, `http://${l4.vip}/`);
    if (direct === undefined || crossedWaypoint(direct)) throw new Error('echo-l4 (use-waypoint=none) must answer without the waypoint');
    const wp = mesh.waypoints.running.get(`${POLICY_NAMESPACE}/${WAYPOINT}`);
    if (wp === undefined) throw new Error('traffic crosses a waypoint the launcher does not know');
    if (mesh.redis === undefined) throw new Error('the mesh was started without its Redis');
    return {
      mesh, client,
      vips: { l4: l4.vip, plain: plain.vip, policy: policy.vip, limited: limited.vip },
      ztunnelPids: mesh.ztunnels.map((z) => z.process.pid),
      waypoint: { pid: wp.process.pid, node: wp.pod.node },
      redisAddress: mesh.redis.address,
      stop: async () => {
        await wp.process.stop(20_000);
        await mesh.stop();
      },
    };
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}
