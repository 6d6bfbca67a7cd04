// Every component the chart runs, started from the image's contents (scripts/build-image.sh into
// a temporary folder, as the Dockerfile's build stage runs it) with exactly the command,
// arguments and environment the manifests give it, on one node of the embedded cluster, talking
// to each other: the controller Deployment's container in a pod, the ztunnel DaemonSet's
// container in the node's namespace, and the waypoint Deployment the controller applies for a
// Gateway, in a pod of its namespace. What a real cluster would provide is stood in for, and only
// that: the in-repo API server (the real protocol, the chart's RBAC enforced, TokenReview
// answered for the tokens registered here; no Kubernetes API server can be installed) with the
// controller's service-account token in KUBECONFIG; projected tokens and the istio-ca-root-cert
// ConfigMap as files in the folders standing in for their volumes; cluster DNS for the
// controller's Service name as a hosts file `ip netns exec` mounts for the netns; the pods,
// node and Service addresses a kubelet and kube-proxy would report, written to the API server
// for the embedded cluster's own. Checked: every container turns ready, two enrolled pods talk
// over HBONE through the ztunnel, and a Service labelled to use the waypoint is served through
// it. Needs root.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ports } from '#core/ports.ts';
import { POD_NAME_EXTRA, NODE_NAME_EXTRA, CA_AUDIENCE } from '#controller/ca/token-review.ts';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY } from '#controller/ca/root-cert-publisher.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import type { EchoReply } from '#local/apps/echo.ts';
import type { LocalCluster } from '#local/cluster.ts';
import { ECHO_HTTP_PORT, startEcho } from '#local/echo.ts';
import type { NetnsMember } from '#local/netns-member.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { KubeObject } from '#manifests/render/chart.ts';
import { containerInvocation, mountFor } from '#manifests/render/container.ts';
import { captureInstalled } from '#ztunnel/capture/index.ts';
import type { ContainerInvocation } from '#manifests/render/container.ts';
import { CONTROLLER_SA, NS, ROOT, answers200, eventually, find, readinessProbe, startChartScene, startContainer } from './chart-pods.ts';
import type { BuiltImage, ChartScene } from './chart-pods.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

/** Every file under dir, relative to it, not following links. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('the chart\'s controller, ztunnel and waypoint containers, from the image, talking to each other', { skip }, () => {
  let scene: ChartScene | undefined;
  let cluster: LocalCluster | undefined;
  let h: ApiServerHarness | undefined;
  let image: BuiltImage | undefined;
  let dir = '';
  let objects: readonly KubeObject[] = [];
  const hostsDirs: string[] = [];
  const procs: LocalProcess[] = [];
  let controllerPod: LocalPod;
  let controller: LocalProcess;
  let waypointPod: { pod: LocalPod; labels: Record<string, string> } | undefined;

  /** The controller's Service name resolving to its pod, inside `member` (what cluster DNS does). */
  async function resolveController(member: NetnsMember, serviceHost: string): Promise<void> {
    const etc = `/etc/netns/${member.netns}`;
    await mkdir(etc, { recursive: true });
    hostsDirs.push(etc);
    await writeFile(join(etc, 'hosts'), `127.0.0.1 localhost\n${controllerPod.ip} ${serviceHost}\n`);
  }

  /**
   * Host folders for the pod's projected token and root-certificate ConfigMap volumes, filled
   * as the kubelet fills them; the token is made known to TokenReview as bound to the pod.
   */
  async function proxyVolumes(inv: ContainerInvocation, tokenFile: string, rootCertFile: string, pod: { namespace: string; name: string; sa: string; node: string }): Promise<Map<string, string>> {
    const tokenMount = mountFor(inv, tokenFile);
    const rootMount = mountFor(inv, rootCertFile);
    assert.ok(tokenMount !== undefined && rootMount !== undefined, 'the token and the root certificate are mounted');
    const token = `${pod.namespace}-${pod.name}-token`;
    h?.server.reviewableToken(token, {
      username: `system:serviceaccount:${pod.namespace}:${pod.sa}`, audiences: [CA_AUDIENCE],
      extra: { [POD_NAME_EXTRA]: [pod.name], [NODE_NAME_EXTRA]: [pod.node] },
    });
    const cm = await eventually(`the ${ROOT_CERT_CONFIGMAP} ConfigMap in ${pod.namespace}`, () => h?.server.get('ConfigMap', pod.namespace, ROOT_CERT_CONFIGMAP));
    const root = (cm['data'] as Record<string, string> | undefined)?.[ROOT_CERT_KEY];
    assert.ok(root !== undefined, `${ROOT_CERT_CONFIGMAP} carries ${ROOT_CERT_KEY}`);
    const volumes = new Map<string, string>();
    for (const [mount, file, content] of [[tokenMount, tokenFile, token], [rootMount, rootCertFile, root]] as const) {
      const host = join(dir, `${pod.name}-${mount.mountPath.replaceAll('/', '_')}`);
      await mkdir(host, { recursive: true });
      await writeFile(join(host, file.slice(mount.mountPath.length)), content);
      volumes.set(mount.mountPath, host);
    }
    // The ztunnel's state folder is a hostPath on a node; here a scratch folder of its own.
    const stateMount = mountFor(inv, inv.env['WEFT_STATE_DIR'] ?? '');
    if (stateMount !== undefined) {
      const host = join(dir, `${pod.name}-state`);
      await mkdir(host, { recursive: true });
      volumes.set(stateMount.mountPath, host);
    }
    return volumes;
  }

  before(async () => {
    scene = await startChartScene('insmesh', 'weft-controller-6c8f7-q2w4e');
    ({ cluster, h, image, dir, objects, pod: controllerPod, controller } = scene);
    procs.push(controller);
  });

  after(async () => {
    for (const p of procs) p.signal('SIGKILL');
    for (const etc of hostsDirs) await rm(etc, { recursive: true, force: true });
    await scene?.stop();
  });

  test('the image holds emitted JavaScript, the addon and production dependencies only', async (t) => {
    assert.ok(image !== undefined);
    const files = await filesUnder(image.dir);
    const own = files.filter((f) => !f.startsWith('node_modules/'));
    // The dashboard page is the one TypeScript file, served with its types stripped at run time.
    assert.deepEqual(own.filter((f) => f.endsWith('.ts')), ['controller/dashboard/page/app.ts']);
    for (const main of ['controller/main.js', 'ztunnel/main.js', 'waypoint/main.js', 'ztunnel/native/build/Release/weft_native.node', 'manifests/waypoint-template.yaml']) {
      assert.ok(own.includes(main), `${main} is in the image`);
    }
    assert.ok(!own.some((f) => f.endsWith('.test.js') || f.includes('/testing/')), 'no tests or test doubles');
    const pkg = JSON.parse(await readFile(join(image.dir, 'package.json'), 'utf8')) as { devDependencies?: unknown; imports: Record<string, string> };
    assert.equal(pkg.devDependencies, undefined);
    assert.equal(pkg.imports['#core/*.ts'], './core/*.js');
    // What npm ci --omit=dev leaves out: the packages the lock file marks dev-only (typescript,
    // eslint, the pinned Node binary, ...); a dev dependency that a production one also needs stays.
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => path);
    assert.ok(devOnly.includes('node_modules/typescript'));
    const installed = new Set(files.filter((f) => f.endsWith('/package.json')).map((f) => f.slice(0, -'/package.json'.length)));
    assert.deepEqual(devOnly.filter((path) => installed.has(path)), [], 'no dev-only package is in the image');
    assert.ok(installed.has('node_modules/@kubernetes/client-node'));
    // The Dockerfile's build stage runs the same script into /out, and the runtime stage copies just that.
    const dockerfile = await readFile(join(ROOT, 'manifests/Dockerfile'), 'utf8');
    assert.match(dockerfile, /^RUN .*bash scripts\/build-image\.sh \/src \/out$/m);
    assert.match(dockerfile, /^COPY --from=build \/out \.\/$/m);
    assert.match(dockerfile, /^USER 1000:1000$/m);
    // How long it took is reported, not asserted: a loaded machine is no failure.
    t.diagnostic(`scripts/build-image.sh took ${Math.round(image.ms)} ms`);
  });

  test('the controller, as the Deployment runs it, passes its readiness probe and publishes the mesh root', async () => {
    const probe = readinessProbe(containerInvocation(find(objects, 'Deployment', 'weft-controller'), { name: controllerPod.name, namespace: NS, nodeName: 'node1' }, 'controller'));
    await answers200(`http://${controllerPod.ip}:${probe.port}${probe.path}`, controller);
    await eventually('the mesh root in the release namespace', () => h?.server.get('ConfigMap', NS, ROOT_CERT_CONFIGMAP));
  });

  test('ztunnel, as the DaemonSet runs it, authenticates with its projected token, gets config from the controller\'s Service and turns ready', async () => {
    assert.ok(cluster !== undefined && image !== undefined && h !== undefined);
    const node = cluster.node('node1');
    const inv = containerInvocation(find(objects, 'DaemonSet', 'ztunnel'), { name: 'ztunnel-8kq2d', namespace: NS, nodeName: node.name }, 'ztunnel');
    const url = new URL(inv.env['WEFT_CONTROLLER_URL'] ?? '');
    await resolveController(node, url.hostname);
    const volumes = await proxyVolumes(inv, inv.env['WEFT_TOKEN_FILE'] ?? '', inv.env['WEFT_ROOT_CERT'] ?? '', { namespace: NS, name: 'ztunnel-8kq2d', sa: 'ztunnel', node: node.name });
    // /var/run/netns is a hostPath volume of the same path: the kubelet's bind mount is the identity.
    assert.equal(mountFor(inv, '/var/run/netns')?.volume['hostPath'] !== undefined, true);
    const zt = startContainer(node, image, inv, { volumes, label: 'ztunnel' });
    procs.push(zt);
    const probe = readinessProbe(inv);
    await answers200(`http://${node.ip}:${probe.port}${probe.path}`, zt, 30_000);
    assert.ok(h.server.requests.some((r) => r.path.includes('tokenreviews') && r.user === CONTROLLER_SA), 'the controller reviewed the ztunnel\'s token');
  });

  test('the waypoint the controller applies for a Gateway, as applied, turns ready against the controller', async () => {
    assert.ok(cluster !== undefined && image !== undefined && h !== undefined);
    h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
    h.server.create({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const applied = await eventually('the waypoint Deployment', () => h?.server.get('Deployment', 'shop', 'waypoint') as KubeObject | undefined);
    const template = (applied['spec'] as { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } } }).template;
    const pod = await cluster.addPod({ namespace: 'shop', name: 'waypoint-7d9c4-m8x2z', node: 'node1', serviceAccount: template.spec.serviceAccountName, labels: template.metadata.labels });
    const inv = containerInvocation(applied, { name: pod.name, namespace: 'shop', nodeName: 'node1', podIP: pod.ip });
    await resolveController(pod, new URL(inv.env['WEFT_CONTROLLER_URL'] ?? '').hostname);
    const volumes = await proxyVolumes(inv, inv.env['WEFT_TOKEN_FILE'] ?? '', inv.env['WEFT_ROOT_CERT'] ?? '', { namespace: 'shop', name: pod.name, sa: template.spec.serviceAccountName, node: 'node1' });
    waypointPod = { pod, labels: template.metadata.labels };
    const wp = startContainer(pod, image, inv, { volumes, label: 'waypoint' });
    procs.push(wp);
    const probe = readinessProbe(inv);
    await answers200(`http://${pod.ip}:${probe.port}${probe.path}`, wp, 30_000);
  });

  test('two pods of the enrolled namespace, known to the API server, are captured by that ztunnel and talk over HBONE', async () => {
    assert.ok(cluster !== undefined && h !== undefined);
    const node = cluster.node('node1');
    const [client, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'sleep-5d8f9-k2j4h', node: node.name, serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo-7c6b5-p9q8r', node: node.name, serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    procs.push(await startEcho(echo));
    // What the kubelet reports to the API server for the node and the two pods.
    h.server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name }, status: { addresses: [{ type: 'InternalIP', address: node.ip }] } });
    for (const p of [client, echo]) {
      h.server.create({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: 'shop', uid: `uid-${p.name}`, labels: { app: p.name.split('-')[0] ?? '' } },
        spec: { nodeName: node.name, serviceAccountName: p.name.split('-')[0] ?? '' },
        status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], hostIP: node.ip, conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    await eventually('capture in both pods', async () => ((await captureInstalled(client.netnsPath)) && (await captureInstalled(echo.netnsPath)) ? true : undefined), 30_000);
    const reply = await eventually('a call from sleep to echo', async () => {
      const r = await client.exec(['curl', '-sS', '--max-time', '3', `http://${echo.ip}:${ECHO_HTTP_PORT}/`]);
      return r.code === 0 ? (JSON.parse(r.stdout) as EchoReply) : undefined;
    }, 30_000);
    assert.equal(reply.remoteAddress, client.ip, 'the caller\'s address is kept');
    const metrics = await (await fetch(`http://${node.ip}:${Ports.metrics}/metrics`)).text();
    assert.match(metrics, /istio_tcp_connections_opened_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/sleep"[^}]*destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/echo"[^}]*connection_security_policy="mutual_tls"[^}]*\} [1-9]/);
  });

  test('a call to a Service labelled to use the waypoint goes through the waypoint', async () => {
    assert.ok(cluster !== undefined && h !== undefined && waypointPod !== undefined);
    const wp = waypointPod;
    const client = cluster.pods.find((p) => p.name.startsWith('sleep-'));
    assert.ok(client !== undefined);
    // What the kubelet and the API server would report: the waypoint's pod, a cluster IP for
    // the Service the controller applied for it, and the echo Service using the waypoint.
    h.server.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: wp.pod.name, namespace: 'shop', uid: `uid-${wp.pod.name}`, labels: wp.labels },
      spec: { nodeName: 'node1', serviceAccountName: 'waypoint' },
      status: { phase: 'Running', podIP: wp.pod.ip, podIPs: [{ ip: wp.pod.ip }], hostIP: cluster.node('node1').ip, conditions: [{ type: 'Ready', status: 'True' }] },
    });
    // The cluster's service routing (kube-proxy's part) gives each Service its address.
    const applied = h.server.get('Service', 'shop', 'waypoint');
    assert.ok(applied !== undefined, 'the controller applied the waypoint\'s Service');
    const spec = applied['spec'] as { selector: Record<string, string> };
    const wpVip = (await cluster.addService({ namespace: 'shop', name: 'waypoint', selector: spec.selector, ports: [{ port: 15008, targetPort: 15008 }] })).vip;
    h.server.update({ ...applied, spec: { ...spec, clusterIP: wpVip, clusterIPs: [wpVip] } });
    const echoVip = (await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: ECHO_HTTP_PORT }] })).vip;
    h.server.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'shop', labels: { 'istio.io/use-waypoint': 'waypoint' } },
      spec: { selector: { app: 'echo' }, clusterIP: echoVip, clusterIPs: [echoVip], ports: [{ name: 'http', port: 80, targetPort: ECHO_HTTP_PORT, protocol: 'TCP' }] },
    });
    const metricsUrl = `http://${wp.pod.ip}:${Ports.metrics}/metrics`;
    let last = '';
    await eventually('a request counted by the waypoint', async () => {
      const r = await client.exec(['curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${echoVip}/`]);
      last = `curl: ${r.code} ${r.stdout} ${r.stderr}`;
      if (r.code !== 0 || r.stdout !== '200') return undefined;
      const page = await (await fetch(metricsUrl)).text();
      last = page.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n');
      return /istio_requests_total\{[^}]*destination_service_name="echo"[^}]*response_code="200"[^}]*\} [1-9]/.test(page) ? true : undefined;
    }, 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; last: ${last}; output: ${procs.map((p) => `${p.label}: ${p.stderr.slice(-1500)}`).join('\n')}`, { cause: err });
    });
  });

  test('the controller counts the ztunnel and the waypoint among its push clients, and nothing was refused', async () => {
    const metrics = async (): Promise<string> => {
      const res = await fetch(`http://${controllerPod.ip}:${Ports.controllerDashboard}/metrics`);
      return res.text();
    };
    await eventually('both push clients', async () => {
      const page = await metrics();
      return /weft_xds_clients\{kind="ztunnel"\} 1\b/.test(page) && /weft_xds_clients\{kind="waypoint"\} 1\b/.test(page) ? true : undefined;
    });
    assert.deepEqual(h?.server.denials.map((r) => `${r.verb ?? ''} ${r.path}`), []);
  });

  test('SIGTERM: every container exits cleanly', async () => {
    for (const p of [...procs].reverse()) {
      p.signal('SIGTERM');
      const exit = await p.exited;
      assert.equal(exit.code, 0, `${p.label}: ${p.stderr.slice(-2000)}`);
    }
  });
});
