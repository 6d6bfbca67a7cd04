// The chart's controller container, started as a kubelet would start it: inside a pod of the
// embedded cluster (its own network namespace), from the image's contents (scripts/build-image.sh
// into a temporary folder), with exactly the command, arguments and environment the rendered
// Deployment gives it and nothing inherited, its emptyDir volume a fresh folder. The one stand-in is for in-cluster credentials: KUBECONFIG names the in-repo API
// server (listening on the host address pods reach) with the controller service account's
// token, and that server enforces the chart's own RBAC. Checked: the kubelet's readiness probe
// passes, the pod takes the Lease under its own name, it deploys a waypoint whose container the
// waypoint's config parser accepts as applied, its serving certificate satisfies the name and
// SPIFFE id the chart's ztunnel and the waypoint dial, and SIGTERM releases the Lease. Needs root.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, connect } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { KubeObject } from '#manifests/render/chart.ts';
import { containerInvocation } from '#manifests/render/container.ts';
import { parseWaypointConfig } from '#waypoint/config.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { CONTROLLER_SA as SA, NS, answers200, eventually, find, readinessProbe, startChartScene } from './chart-pods.ts';
import type { ChartScene } from './chart-pods.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (the pod\'s network namespace)';

/** The serving certificate the controller presents to a client that asks for `servername`. */
function servingCertificate(host: string, port: number, servername: string, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}

describe('the chart\'s controller container in a pod of the embedded cluster', { skip }, () => {
  let scene: ChartScene | undefined;
  let h: ApiServerHarness | undefined;
  let pod: LocalPod;
  let proc: LocalProcess | undefined;
  let objects: readonly KubeObject[] = [];

  before(async () => {
    scene = await startChartScene('install', 'weft-controller-7d4b9-x2x9q');
    ({ h, pod, controller: proc, objects } = scene);
  });

  after(async () => {
    await scene?.stop();
  });

  test('the kubelet\'s readiness probe passes on the pod address, and the pod takes the Lease by its name', async () => {
    const probe = readinessProbe(containerInvocation(find(objects, 'Deployment', 'weft-controller'), { name: pod.name, namespace: NS, nodeName: 'node1' }, 'controller'));
    assert.ok(proc !== undefined);
    await answers200(`http://${pod.ip}:${probe.port}${probe.path}`, proc);
    const holder = await eventually('the Lease', () => (h?.server.get('Lease', NS, 'weft-controller')?.['spec'] as { holderIdentity?: string } | undefined)?.holderIdentity);
    assert.equal(holder, pod.name);
  });

  test('it deploys a waypoint whose container, as applied, the waypoint\'s config parser accepts', async () => {
    assert.ok(h !== undefined);
    h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
    h.server.create({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const applied = await eventually('the waypoint Deployment', () => h?.server.get('Deployment', 'shop', 'waypoint') as KubeObject | undefined);
    const inv = containerInvocation(applied, { name: 'waypoint-5f6d-abcde', namespace: 'shop', nodeName: 'node1' });
    const wc = parseWaypointConfig(inv.args, inv.env);
    assert.equal(wc.identity, 'spiffe://cluster.local/ns/shop/sa/waypoint');
    assert.equal(new URL(wc.controllerUrl).hostname, `weft-controller.${NS}.svc`);
    await eventually('the Gateway\'s conditions', () => (h?.server.get('Gateway', 'shop', 'waypoint')?.['status'] as { conditions?: unknown[] } | undefined)?.conditions);
  });

  test('its serving certificate carries the name and SPIFFE id the chart\'s ztunnel dials and checks', async () => {
    const zt = containerInvocation(find(objects, 'DaemonSet', 'ztunnel'), { name: 'ztunnel-abcde', namespace: NS, nodeName: 'node1' }, 'ztunnel');
    const zc = parseZtunnelConfig(zt.args, zt.env);
    assert.equal(zc.source.kind, 'controller');
    if (zc.source.kind !== 'controller') return;
    const url = new URL(zc.source.url);
    // The root the controller keeps in its Secret (shared by replicas, kept across restarts).
    const secret = h?.server.get('Secret', NS, 'weft-ca-root')?.['data'] as { 'ca-cert.pem'?: string } | undefined;
    assert.ok(secret?.['ca-cert.pem'] !== undefined, 'the CA root is in the Secret');
    const root = Buffer.from(secret['ca-cert.pem'], 'base64').toString('utf8');
    const cert = await servingCertificate(pod.ip, Number(url.port), url.hostname, root);
    assert.equal(checkServerIdentity(url.hostname, cert), undefined, `the certificate is valid for ${url.hostname}`);
    const sans = new X509Certificate(cert.raw).subjectAltName ?? '';
    assert.ok(sans.includes(`URI:${zc.source.controllerIdentity ?? ''}`), `the certificate carries ${zc.source.controllerIdentity ?? ''}: ${sans}`);
  });

  test('SIGTERM: the controller releases the Lease and exits cleanly, having been refused nothing', async () => {
    assert.ok(proc !== undefined && h !== undefined);
    proc.signal('SIGTERM');
    const exit = await proc.exited;
    assert.equal(exit.code, 0, proc.stderr.slice(-2000));
    assert.equal((h.server.get('Lease', NS, 'weft-controller')?.['spec'] as { holderIdentity?: string }).holderIdentity, '');
    assert.deepEqual(h.server.denials.map((r) => `${r.verb ?? ''} ${r.path}`), []);
    assert.ok(h.server.requests.some((r) => r.user === SA), 'the controller called the API as its service account');
  });
});
