// The mesh the observability tests look at: two nodes; namespace `shop` enrolled with a
// waypoint in front of its `echo` Service (HTTP, so the waypoint reports istio_requests_*),
// namespace `tcp` enrolled without one (ztunnel-only TCP), a client on node1 and the servers
// on node2 so every connection crosses both ztunnels, a deny policy so a DENY shows up, and
// namespace `legacy` outside the mesh, so plaintext connections are seen from both sides.
import assert from 'node:assert/strict';
import { startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import type { LocalMeshOptions } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';

export const WAYPOINT_GATEWAY = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'shop', labels: { 'istio.io/waypoint-for': 'service' } },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
};

/** `tcp/denied` may not reach `tcp/techo`: its connections end with the DENY flag. */
const DENY_POLICY = {
  apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy',
  metadata: { name: 'deny-denied', namespace: 'tcp' },
  spec: { selector: { matchLabels: { app: 'techo' } }, action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/tcp/sa/denied'] } }] }] },
};

export interface TrafficScene {
  mesh: LocalMesh;
  client: LocalPod;
  tcpClient: LocalPod;
  denied: LocalPod;
  /** Outside the mesh (namespace legacy, node1). */
  legacyClient: LocalPod;
  /** http://<echo VIP>/ (through the waypoint) */
  httpUrl: string;
  /** http://<techo VIP>/ (ztunnels only) */
  tcpUrl: string;
  /** Hostnames, for dashboard variables. */
  httpService: string;
  tcpService: string;
  /** n requests each way (HTTP via the waypoint, TCP direct, and denied attempts); resolves when all ran. */
  traffic(n: number): Promise<void>;
}

async function curlStatus(from: LocalPod, url: string): Promise<string> {
  const r = await from.exec(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', url]);
  return r.stdout.trim();
}

export async function startTrafficScene(opts: LocalMeshOptions): Promise<TrafficScene> {
  const mesh = await LocalMesh.start({ nodes: 2, ...opts });
  try {
    const { cluster } = mesh;
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    await cluster.setNamespaceLabels('tcp', { 'istio.io/dataplane-mode': 'ambient' });
    const [client, echo, tcpClient, denied, techo, legacyClient, legacyEcho] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep', version: 'v1' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo', version: 'v1' } }),
      cluster.addPod({ namespace: 'tcp', name: 'tclient', node: 'node1', serviceAccount: 'tclient', labels: { app: 'tclient' } }),
      cluster.addPod({ namespace: 'tcp', name: 'denied', node: 'node1', serviceAccount: 'denied', labels: { app: 'denied' } }),
      cluster.addPod({ namespace: 'tcp', name: 'techo', node: 'node2', serviceAccount: 'techo', labels: { app: 'techo' } }),
      cluster.addPod({ namespace: 'legacy', name: 'legacy-client', node: 'node1', serviceAccount: 'legacy', labels: { app: 'legacy-client' } }),
      cluster.addPod({ namespace: 'legacy', name: 'legacy-echo', node: 'node2', serviceAccount: 'legacy', labels: { app: 'legacy-echo' } }),
    ]);
    await Promise.all([startEcho(echo), startEcho(techo), startEcho(legacyEcho)]);
    const ports = [{ port: 80, targetPort: 8080, name: 'http' }];
    const httpSvc = await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports });
    // A TCP port name, so the ztunnels report it as plain TCP.
    const tcpSvc = await cluster.addService({ namespace: 'tcp', name: 'techo', selector: { app: 'techo' }, ports: [{ port: 80, targetPort: 8080, name: 'tcp' }] });
    const legacySvc = await cluster.addService({ namespace: 'legacy', name: 'legacy-echo', selector: { app: 'legacy-echo' }, ports: [{ port: 80, targetPort: 8080, name: 'tcp' }] });
    await Promise.all([client, echo, tcpClient, denied, techo].map((p) => mesh.waitForEnrollment(p)));
    await mesh.apply('deny.yaml', DENY_POLICY);
    await mesh.apply('waypoint.yaml', WAYPOINT_GATEWAY);
    const httpUrl = `http://${httpSvc.vip}/`;
    const tcpUrl = `http://${tcpSvc.vip}/`;
    // Plaintext both ways: a meshed client to a server outside the mesh (its ztunnel reports
    // it as the source), and a client outside the mesh straight to a meshed pod (captured
    // inbound, reported by the destination).
    const toLegacy = `http://${legacySvc.vip}/`;
    const fromLegacy = `http://${techo.ip}:8080/`;
    await waitUntil(async () => mesh.waypoints.running.get('shop/waypoint') !== undefined && (await curlStatus(client, httpUrl)) === '200', 30_000,
      () => 'requests never went through the waypoint');
    await mesh.settle();
    return {
      mesh, client, tcpClient, denied, legacyClient, httpUrl, tcpUrl, httpService: httpSvc.hostname, tcpService: tcpSvc.hostname,
      traffic: async (n) => {
        for (let i = 0; i < n; i++) {
          assert.equal(await curlStatus(client, httpUrl), '200', `GET ${httpUrl} from shop/client`);
          assert.equal(await curlStatus(tcpClient, tcpUrl), '200', `GET ${tcpUrl} from tcp/tclient`);
          assert.notEqual(await curlStatus(denied, tcpUrl), '200', `tcp/denied must be refused at ${tcpUrl}`);
          assert.equal(await curlStatus(tcpClient, toLegacy), '200', `GET ${toLegacy} from tcp/tclient`);
          assert.equal(await curlStatus(legacyClient, fromLegacy), '200', `GET ${fromLegacy} from legacy/legacy-client`);
        }
      },
    };
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}
