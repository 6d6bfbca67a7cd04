// The `weft` command as a user runs it (a process: its stdout, its one-line errors on stderr,
// its exit code) against the in-repo API server, which stands in for kube-apiserver because
// none can be installed here (controller/source/testing/), with a controller reading that
// server through its informers and a ztunnel's push client connected to the controller:
// install --dry-run, install (twice), enroll / unenroll, status, version, uninstall.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ConfigClient } from '#core/config/client.ts';
import { silentLogger } from '#core/log.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { startController } from '#controller/main.ts';
import type { RunningController } from '#controller/main.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { renderInstall } from '#cli/install.ts';
import { eventually, runCommand } from '#test/cli/run.ts';
import type { CommandResult } from '#test/cli/run.ts';

const WEFT = fileURLToPath(new URL('../../cli/weft.ts', import.meta.url));

let h: ApiServerHarness;
let dir: string;
let controller: RunningController | undefined;
let client: ConfigClient | undefined;

/** Without KUBECONFIG from the environment, so only the flags given pick a cluster. */
function weft(...args: string[]): Promise<CommandResult> {
  const { KUBECONFIG: _ignored, ...env } = process.env;
  return runCommand(process.execPath, [WEFT, ...args], { ...env, HOME: dir });
}

async function ok(...args: string[]): Promise<string> {
  const r = await weft(...args);
  assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

before(async () => {
  h = await startApiServerHarness();
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-api-'));
});

after(async () => {
  await client?.close();
  await controller?.close();
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

test('install --dry-run prints the chart as YAML and sends nothing to a cluster', async () => {
  const before = h.server.requests.length;
  const out = await ok('install', '--dry-run', '--kubeconfig', h.kubeconfigPath);
  const docs = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
  const r = renderInstall();
  assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [...r.crds, ...r.objects].map((o) => `${o.kind}/${o.metadata.name}`));
  assert.equal(h.server.requests.length, before);
});

test('install applies the chart under field manager weft; again, it changes nothing and keeps the CRDs', async () => {
  const out = await ok('install', '--kubeconfig', h.kubeconfigPath);
  assert.match(out, /^customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io created$/m);
  assert.match(out, /^deployment\.apps\/weft-controller created$/m);
  assert.match(out, /^daemonset\.apps\/ztunnel created$/m);
  assert.match(out, /^gatewayclass\.gateway\.networking\.k8s\.io\/istio-waypoint created$/m);
  const deployment = h.server.get('Deployment', 'istio-system', 'weft-controller');
  const managers = ((deployment?.['metadata'] as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? []).map((f) => `${f.manager}/${f.operation}`);
  assert.deepEqual(managers, ['weft/Apply']);
  const again = await ok('install', '--kubeconfig', h.kubeconfigPath);
  assert.match(again, /^customresourcedefinition\.apiextensions\.k8s\.io\/peerauthentications\.security\.istio\.io exists, kept$/m);
  assert.match(again, /^deployment\.apps\/weft-controller unchanged$/m);
  assert.doesNotMatch(again, / (created|configured)$/m);
});

test('enroll labels the namespace, the controller puts its pod in the mesh, status and version show the mesh', async () => {
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  // The kubelet's part: a node and a running pod.
  h.server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.70.1' }] } });
  h.server.create({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', uid: 'uid-shop-web', labels: { app: 'web' } },
    spec: { nodeName: 'node-1', serviceAccountName: 'web' },
    status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }], hostIP: '192.168.70.1', conditions: [{ type: 'Ready', status: 'True' }] },
  });
  h.server.create({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'ext', namespace: 'shop' },
    spec: { action: 'CUSTOM', rules: [{}] },
  });
  controller = await startController(parseControllerConfig([
    '--source', 'kubernetes', '--kubeconfig', h.kubeconfigPath, '--state-dir', join(dir, 'state'),
    '--address', '127.0.0.1', '--port', '0', '--admin-port', '0', '--debounce-ms', '20', '--log-level', 'off',
    // The in-process ztunnel below holds the controller's own token rather than a projected one.
    '--client-auth', 'hmac', '--insecure-allow-hmac-auth', 'true',
  ], {}), { logger: silentLogger });
  const adminUrl = controller.adminUrl;
  const who = { kind: 'ztunnel', node: 'node-1' } as const;
  client = new ConfigClient({ url: controller.pushUrl, client: who, token: controller.tokenFor(who), rootsPem: controller.rootsPem, apply: () => ({ rejected: [] }) });
  client.start();
  await client.ready();
  const protocol = async (): Promise<string | undefined> => {
    const rows = JSON.parse(await ok('workloads', '--controller', adminUrl, '-o', 'json')) as { namespace: string; name: string; protocol: string }[];
    return rows.find((w) => w.namespace === 'shop' && w.name === 'web')?.protocol;
  };
  assert.equal(await eventually('the controller to see the pod', protocol), 'NONE');

  assert.equal(await ok('enroll', 'shop', '--kubeconfig', h.kubeconfigPath), 'namespace/shop labeled istio.io/dataplane-mode=ambient\n');
  const labels = (h.server.get('Namespace', '', 'shop')?.['metadata'] as { labels?: Record<string, string> }).labels;
  assert.deepEqual(labels, { 'istio.io/dataplane-mode': 'ambient' });
  await eventually('the controller to enroll the pod', async () => ((await protocol()) === 'HBONE' ? true : undefined));

  const status = await eventually('the ztunnel to be synced', async () => {
    const out = await ok('status', '--controller', adminUrl);
    return /^ztunnel\s+node-1\s+.*synced$/m.test(out) ? out : undefined;
  });
  assert.match(status, new RegExp(`^controller ${adminUrl.replaceAll('.', '\\.')}: healthy, 1 proxies connected, config version \\d+$`, 'm'));
  assert.match(status, /^AuthorizationPolicy\s+shop\/ext\s+Accepted\s+False/m);
  const report = JSON.parse(await ok('status', '--controller', adminUrl, '-o', 'json')) as { controller: { healthy: boolean; connectedProxies: number } };
  assert.deepEqual([report.controller.healthy, report.controller.connectedProxies], [true, 1]);

  const version = JSON.parse(await ok('version', '--kubeconfig', h.kubeconfigPath, '-o', 'json')) as { controller: { version: string; image: string; reachable: boolean }; kubernetes: string };
  assert.equal(version.controller.reachable, true);
  const labels0 = renderInstall().objects.find((o) => o.kind === 'Deployment')?.metadata['labels'] as Record<string, string> | undefined;
  assert.equal(version.controller.version, labels0?.['app.kubernetes.io/version']);
  assert.match(version.controller.image, /weft/);
  assert.match(version.kubernetes, /^v1\./);

  assert.equal(await ok('unenroll', 'shop', '--kubeconfig', h.kubeconfigPath), 'namespace/shop unlabeled istio.io/dataplane-mode\n');
  await eventually('the controller to release the pod', async () => ((await protocol()) === 'NONE' ? true : undefined));
});

test('errors are one line on stderr with a non-zero exit', async () => {
  const missing = await weft('enroll', 'nowhere', '--kubeconfig', h.kubeconfigPath);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /^weft: labeling namespace nowhere failed: HTTP 404: namespaces "nowhere" not found \(hint: weft labels existing namespaces only: create it first \(kubectl create namespace\)\)\n$/);
  const badConfig = join(dir, 'not-a-kubeconfig');
  await writeFile(badConfig, 'clusters: [');
  const unreadable = await weft('install', '--kubeconfig', badConfig);
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /^weft: cannot load the kubeconfig: .*\(hint: check --kubeconfig, --context or KUBECONFIG\)\n$/);
  const usage = await weft('status', '-o', 'xml');
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are table, wide, json, yaml\./);
});

test('uninstall deletes what install applied, keeps the namespace and the CRDs; --crds removes those', async () => {
  const out = await ok('uninstall', '--kubeconfig', h.kubeconfigPath);
  assert.match(out, /^deployment\.apps\/weft-controller deleted$/m);
  assert.match(out, /^namespace\/istio-system kept$/m);
  assert.match(out, /^customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io kept$/m);
  assert.equal(h.server.get('Deployment', 'istio-system', 'weft-controller'), undefined);
  assert.equal(h.server.get('DaemonSet', 'istio-system', 'ztunnel'), undefined);
  assert.notEqual(h.server.get('Namespace', '', 'istio-system'), undefined);
  assert.notEqual(h.server.get('CustomResourceDefinition', '', 'authorizationpolicies.security.istio.io'), undefined);
  const crds = await ok('uninstall', '--crds', '--kubeconfig', h.kubeconfigPath);
  assert.match(crds, /^deployment\.apps\/weft-controller not found$/m);
  assert.match(crds, /^customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io deleted$/m);
  assert.equal(h.server.get('CustomResourceDefinition', '', 'authorizationpolicies.security.istio.io'), undefined);
});
