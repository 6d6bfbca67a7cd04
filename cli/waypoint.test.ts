// `weft waypoint apply|list|delete`: on a folder of manifests (with the local controller
// deploying what it finds there), and on Kubernetes through the in-repo API server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController, type RunningController } from '#controller/main.ts';
import { isWaypointGateway } from '#controller/model/waypoints.ts';
import { parseFile } from '#controller/source/local.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { formatWaypointStatus, formatWaypoints, waypointGateway, waypointRow } from '#cli/waypoint-gateway.ts';
import { buildProgram } from '#cli/weft.ts';

type Obj = Record<string, unknown>;

let dir: string;
let manifests: string;
let controller: RunningController;
let kube: ApiServerHarness;

async function run(...args: string[]): Promise<string> {
  let out = '';
  await buildProgram((s) => { out += s; }).exitOverride().parseAsync(['node', 'weft', ...args]);
  return out;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function waitFor(pred: () => Promise<boolean> | boolean, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-waypoint-'));
  manifests = join(dir, 'manifests');
  await mkdir(manifests);
  await writeFile(join(manifests, 'namespaces.yaml'), '# the shop\napiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }\n');
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), manifestDirs: [manifests], listenAddress: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'off', debounceMs: 10,
  }), { logger: silentLogger });
  kube = await startApiServerHarness();
});

after(async () => {
  await controller.close();
  await kube.close();
  await rm(dir, { recursive: true, force: true });
});

test('the waypoint Gateway is what istioctl writes; rows and tables read it back', () => {
  assert.deepEqual(waypointGateway({ namespace: 'shop', name: 'waypoint' }), {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  assert.deepEqual((waypointGateway({ namespace: 'shop', name: 'w', for: 'workload' })['metadata'] as Obj)['labels'], { 'istio.io/waypoint-for': 'workload' });
  for (const [ns, name] of [['Shop', 'w'], ['shop', 'w.x'], ['shop', '1w'], ['shop', '']]) {
    assert.throws(() => waypointGateway({ namespace: ns ?? '', name: name ?? '' }), /WEFT_ERR_WAYPOINT|not a namespace|cannot name a waypoint/, `${ns}/${name}`);
  }
  const rows: [unknown, string | undefined][] = [
    [waypointGateway({ namespace: 'shop', name: 'w' }), 'shop w service - -'],
    [{ ...waypointGateway({ namespace: 'shop', name: 'w', for: 'all' }), status: { addresses: [{ type: 'IPAddress', value: '10.96.0.5' }], conditions: [{ type: 'Programmed', status: 'True' }] } }, 'shop w all 10.96.0.5 True'],
    [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'ingress' }, spec: { gatewayClassName: 'other' } }, undefined],
    [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'w' } }, undefined],
  ];
  for (const [obj, want] of rows) {
    const r = waypointRow(obj);
    assert.equal(r === undefined ? undefined : `${r.namespace} ${r.name} ${r.for} ${r.address} ${r.programmed}`, want);
  }
  const two = [{ namespace: 'b', name: 'w', for: 'service', address: '-', programmed: '-', conditions: [] }, { namespace: 'a', name: 'w', for: 'all', address: '-', programmed: 'True', conditions: [] }];
  assert.equal(formatWaypoints(two, true, 'x'), 'NAMESPACE  NAME  FOR      ADDRESS  PROGRAMMED\na          w     all      -        True\nb          w     service  -        -\n');
  assert.equal(formatWaypoints([], false, 'x'), 'No waypoints found in namespace x.\n');
  const programmed = waypointRow({ ...waypointGateway({ namespace: 'shop', name: 'w' }), status: {
    addresses: [{ type: 'IPAddress', value: '10.96.0.5' }],
    conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '' }, { type: 'Programmed', status: 'False', reason: 'NoResources', message: 'no pod ready' }],
  } });
  assert.ok(programmed !== undefined);
  assert.equal(formatWaypointStatus([programmed], 'shop'), [
    'NAME  FOR      ADDRESS    CONDITION   STATUS  REASON       MESSAGE',
    'w     service  10.96.0.5  Accepted    True    Accepted',
    'w     service  10.96.0.5  Programmed  False   NoResources  no pod ready',
    '',
  ].join('\n'));
  assert.match(formatWaypointStatus([{ ...programmed, conditions: [] }], 'shop'), /^w\s+service\s+10\.96\.0\.5\s+-\s+-\s+NotReconciled\s+no status yet/m);
  assert.equal(formatWaypointStatus([], 'shop'), 'No waypoints found in namespace shop.\n');
});

test('on a manifest folder: apply writes a Gateway the controller deploys, list shows it, delete removes both', async () => {
  const out = await run('waypoint', 'apply', '-n', 'shop', '--manifests', manifests, '--enroll-namespace');
  const file = join(manifests, 'gateway.shop.waypoint.yaml');
  assert.equal(out, `waypoint shop/waypoint applied (${file})\nnamespace shop labeled istio.io/use-waypoint=waypoint\n`);
  const parsed = parseFile(file, await readFile(file, 'utf8'));
  assert.deepEqual(parsed.rejections, []);
  const gw = parsed.objects[0];
  assert.ok(gw?.kind === 'Gateway' && isWaypointGateway(gw));
  // The label went into the namespace's own document; its comment stays.
  const nsText = await readFile(join(manifests, 'namespaces.yaml'), 'utf8');
  assert.match(nsText, /^# the shop/);
  const ns = parseFile('ns', nsText).objects[0];
  assert.deepEqual(ns?.metadata.labels, { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });

  // The local controller picks it up and asks for its deployment.
  const deployment = join(dir, 'state', 'deployments', 'shop.waypoint.yaml');
  await waitFor(() => exists(deployment), 'the controller\'s deployment file');

  await run('waypoint', 'apply', '-n', 'shop', '--name', 'pods', '--for', 'workload', '--manifests', manifests);
  await writeFile(join(manifests, 'other.yaml'), [
    'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: ingress, namespace: shop }\nspec: { gatewayClassName: example, listeners: [] }\n',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: edge, namespace: other }\nspec: { gatewayClassName: istio-waypoint, listeners: [] }\n',
  ].join('---\n'));
  assert.equal(await run('waypoint', 'list', '-n', 'shop', '--manifests', manifests),
    'NAME      FOR       ADDRESS  PROGRAMMED\npods      workload  -        -\nwaypoint  service   -        -\n');
  assert.match(await run('waypoint', 'list', '-A', '--manifests', manifests), /^NAMESPACE\s+NAME\s+FOR.*\nother\s+edge\s+service\s.*\nshop\s+pods\s.*\nshop\s+waypoint\s/);

  await assert.rejects(run('waypoint', 'apply', '-n', 'shop', '--name', 'ingress', '--manifests', manifests), /Gateway shop\/ingress in .*other\.yaml is of class "example", not a waypoint/);
  await assert.rejects(run('waypoint', 'delete', '-n', 'shop', 'ingress', '--manifests', manifests), /not a waypoint/);
  await assert.rejects(run('waypoint', 'apply', '-n', 'nowhere', '--enroll-namespace', '--manifests', manifests), /no Namespace nowhere in .*hint: pass the folder that declares the namespace/);

  // A waypoint in a file with other documents: only its document goes.
  assert.equal(await run('waypoint', 'delete', '-n', 'other', 'edge', '--manifests', manifests), 'waypoint other/edge deleted\n');
  assert.match(await readFile(join(manifests, 'other.yaml'), 'utf8'), /name: ingress/);
  assert.doesNotMatch(await readFile(join(manifests, 'other.yaml'), 'utf8'), /edge/);
  assert.equal(await run('waypoint', 'delete', '-n', 'shop', '--manifests', manifests), 'waypoint shop/waypoint deleted\n');
  assert.equal(await exists(file), false);
  await assert.rejects(run('waypoint', 'delete', '-n', 'shop', '--manifests', manifests), /waypoint shop\/waypoint not found/);
  await waitFor(async () => !(await readdir(join(dir, 'state', 'deployments'))).includes('shop.waypoint.yaml'), 'the deployment file removed');
});

test('on Kubernetes: apply is a server-side apply under field manager weft, list reads status, delete deletes', async () => {
  const { server, kubeconfigPath } = kube;
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  const k = ['--kubeconfig', kubeconfigPath];
  assert.equal(await run('waypoint', 'apply', '-n', 'shop', '--for', 'all', '--enroll-namespace', ...k),
    'waypoint shop/waypoint applied (cluster test)\nnamespace shop labeled istio.io/use-waypoint=waypoint\n');
  const apply = server.requests.find((r) => r.method === 'PATCH' && r.path === '/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways/waypoint');
  assert.deepEqual([apply?.contentType, apply?.query['fieldManager'], apply?.query['force']], ['application/apply-patch+yaml', 'weft', 'true']);
  const gw = server.get('Gateway', 'shop', 'waypoint');
  const meta = gw?.['metadata'] as Obj;
  assert.deepEqual(meta['labels'], { 'istio.io/waypoint-for': 'all' });
  assert.deepEqual((meta['managedFields'] as Obj[]).map((f) => f['manager']), ['weft']);
  assert.deepEqual(gw?.['spec'], { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] });
  assert.deepEqual((server.get('Namespace', '', 'shop')?.['metadata'] as Obj)['labels'], { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });

  assert.equal(await run('waypoint', 'list', '-n', 'shop', ...k), 'NAME      FOR  ADDRESS  PROGRAMMED\nwaypoint  all  -        -\n');
  // What the controller writes once the waypoint is deployed.
  server.update({ ...gw, status: { addresses: [{ type: 'IPAddress', value: '10.96.0.20' }], conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed' }] } });
  assert.equal(await run('waypoint', 'list', '-A', ...k), 'NAMESPACE  NAME      FOR  ADDRESS     PROGRAMMED\nshop       waypoint  all  10.96.0.20  True\n');
  assert.ok(server.requests.some((r) => r.method === 'GET' && r.path === '/apis/gateway.networking.k8s.io/v1/gateways'));
  assert.equal(await run('waypoint', 'list', '-n', 'elsewhere', ...k), 'No waypoints found in namespace elsewhere.\n');

  // Applying again without --for drops the label this command set before.
  await run('waypoint', 'apply', '-n', 'shop', ...k);
  assert.equal((server.get('Gateway', 'shop', 'waypoint')?.['metadata'] as Obj)['labels'], undefined);

  server.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'ingress', namespace: 'shop' }, spec: { gatewayClassName: 'example', listeners: [] } });
  await assert.rejects(run('waypoint', 'apply', '-n', 'shop', '--name', 'ingress', ...k), /Gateway shop\/ingress is of class "example", not a waypoint/);
  await assert.rejects(run('waypoint', 'delete', '-n', 'shop', 'ingress', ...k), /not a waypoint/);
  await assert.rejects(run('waypoint', 'apply', '-n', 'gone', '--enroll-namespace', ...k), /labeling namespace gone failed: HTTP 404/);

  assert.equal(await run('waypoint', 'delete', '-n', 'shop', ...k), 'waypoint shop/waypoint deleted\n');
  assert.equal(server.get('Gateway', 'shop', 'waypoint'), undefined);
  await assert.rejects(run('waypoint', 'delete', '-n', 'shop', ...k), /waypoint shop\/waypoint not found/);
  server.failRequests((r) => (r.method === 'GET' ? 403 : undefined));
  await assert.rejects(run('waypoint', 'list', '-n', 'shop', ...k), /listing Gateways failed: HTTP 403.*hint: your user may lack RBAC/);
  server.failRequests(undefined);
});
