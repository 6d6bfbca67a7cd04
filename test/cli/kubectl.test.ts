// A real kubectl (Debian's kubernetes-client) against the in-repo API server, which stands in
// for kube-apiserver because none can be installed here (controller/source/testing/): kubectl
// discovers the API, downloads OpenAPI, client-side applies the rendered chart (last-applied
// annotation, strategic merge patch on re-apply), labels a namespace, watches, and deletes. The
// controller, reading the same server through its informers, sees what kubectl did: the
// namespace kubectl labels ambient has its pod in the mesh (HBONE), and unlabeled, out again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { silentLogger } from '#core/log.ts';
import { parseControllerConfig } from '#controller/config.ts';
import { startController } from '#controller/main.ts';
import type { RunningController } from '#controller/main.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { eventually, runCommand } from '#test/cli/run.ts';

const INSTALL = fileURLToPath(new URL('../../manifests/install/', import.meta.url));

let h: ApiServerHarness;
let dir: string;
let controller: RunningController | undefined;
const watchers: ChildProcess[] = [];

const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  runCommand('kubectl', ['--kubeconfig', h.kubeconfigPath, ...args]);

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  h = await startApiServerHarness();
  dir = await mkdtemp(join(tmpdir(), 'weft-kubectl-'));
});

after(async () => {
  for (const w of watchers) w.kill();
  await controller?.close();
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

test('kubectl applies the rendered chart, re-applies it unchanged, and the objects are stored as sent', async () => {
  const crds = await ok('apply', '-f', join(INSTALL, 'crds.yaml'));
  assert.match(crds, /^customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io created$/m);
  const weft = await ok('apply', '-f', join(INSTALL, 'weft.yaml'));
  for (const line of ['namespace/istio-system created', 'deployment.apps/weft-controller created', 'daemonset.apps/ztunnel created',
    'clusterrole.rbac.authorization.k8s.io/weft-controller created', 'gatewayclass.gateway.networking.k8s.io/istio-waypoint created']) {
    assert.ok(weft.split('\n').includes(line), `${line} in:\n${weft}`);
  }
  const deployment = h.server.get('Deployment', 'istio-system', 'weft-controller');
  const annotations = (deployment?.['metadata'] as { annotations?: Record<string, string> } | undefined)?.annotations ?? {};
  assert.match(annotations['kubectl.kubernetes.io/last-applied-configuration'] ?? '', /"name":"weft-controller"/);
  const again = await ok('apply', '-f', join(INSTALL, 'weft.yaml'));
  assert.match(again, /^deployment\.apps\/weft-controller unchanged$/m);
  assert.doesNotMatch(again, /created/);
  assert.match(await ok('get', 'deploy', '-n', 'istio-system', '-o', 'name'), /^deployment\.apps\/weft-controller$/m);
});

test('kubectl labels a namespace ambient, a watch sees it, and the controller puts its pod in the mesh', async () => {
  const ns = join(dir, 'shop.yaml');
  await writeFile(ns, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n');
  assert.match(await ok('apply', '-f', ns), /^namespace\/shop created$/m);
  // The kubelet's part: a node and a running pod, as the server would hold them.
  h.server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.60.1' }] } });
  h.server.create({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', uid: 'uid-shop-web', labels: { app: 'web' } },
    spec: { nodeName: 'node-1', serviceAccountName: 'web' },
    status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }], hostIP: '192.168.60.1', conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const config = parseControllerConfig([
    '--source', 'kubernetes', '--kubeconfig', h.kubeconfigPath, '--state-dir', join(dir, 'state'),
    '--address', '127.0.0.1', '--port', '0', '--admin-port', '0', '--debounce-ms', '20', '--log-level', 'off',
  ], {});
  controller = await startController(config, { logger: silentLogger });
  const adminUrl = controller.adminUrl;
  const protocolOfWeb = async (): Promise<string | undefined> => {
    const model = await (await fetch(`${adminUrl}/debug/model`)).json() as { resources?: { kind: string; value: { name?: string; namespace?: string; tunnelProtocol?: string } }[] };
    return model.resources?.find((r) => r.kind === 'workload' && r.value.namespace === 'shop' && r.value.name === 'web')?.value.tunnelProtocol;
  };
  assert.equal(await eventually('the controller to see the pod', protocolOfWeb), 'NONE');

  let seen = '';
  const watch = spawn('kubectl', ['--kubeconfig', h.kubeconfigPath, 'get', 'namespace', 'shop', '-w', '-o', 'jsonpath={.metadata.name}={.metadata.labels.istio\\.io/dataplane-mode}{"\\n"}'], { stdio: ['ignore', 'pipe', 'pipe'] });
  watchers.push(watch);
  watch.stdout.setEncoding('utf8').on('data', (s: string) => { seen += s; });
  await eventually('the watch to list the namespace', () => (seen.includes('shop=\n') ? true : undefined));

  assert.match(await ok('label', 'namespace', 'shop', 'istio.io/dataplane-mode=ambient'), /^namespace\/shop labeled$/m);
  await eventually('the watch to see the label', () => (seen.includes('shop=ambient\n') ? true : undefined));
  assert.equal(await eventually('the controller to enroll the pod', async () => ((await protocolOfWeb()) === 'HBONE' ? 'HBONE' : undefined)), 'HBONE');
  assert.match(await ok('get', 'namespaces', '--show-labels'), /^shop\s+\S+\s+istio\.io\/dataplane-mode=ambient$/m);

  assert.match(await ok('label', 'namespace', 'shop', 'istio.io/dataplane-mode-'), /^namespace\/shop unlabeled$/m);
  assert.equal(await eventually('the controller to release the pod', async () => ((await protocolOfWeb()) === 'NONE' ? 'NONE' : undefined)), 'NONE');
});

test('kubectl deletes the chart and a namespaced delete of a missing object is a one-line error', async () => {
  const out = await ok('delete', '-f', join(INSTALL, 'weft.yaml'));
  assert.match(out, /^deployment\.apps "weft-controller" deleted$/m);
  assert.equal(h.server.get('Deployment', 'istio-system', 'weft-controller'), undefined);
  assert.equal(h.server.get('GatewayClass', '', 'istio-waypoint'), undefined);
  assert.equal((await ok('get', 'deployments', '-A', '-o', 'name')).trim(), '');
  const missing = await kubectl('delete', 'deployment', '-n', 'istio-system', 'weft-controller');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NotFound.*deployments "weft-controller" not found/);
});
