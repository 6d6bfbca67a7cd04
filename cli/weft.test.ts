import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController, type RunningController } from '#controller/main.ts';
import { buildProgram } from '#cli/weft.ts';

let dir: string;
let controller: RunningController;

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }
`;
const POD = `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, uid: 0f2c1d8e-1111-4222-8333-944455556666, labels: { app: web } }
spec: { nodeName: node1, serviceAccountName: web }
status: { phase: Running, podIP: 10.1.0.5, hostIP: 192.0.2.1, conditions: [{ type: Ready, status: "True" }] }
`;
const CUSTOM_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec: { action: CUSTOM, rules: [{}] }
`;

async function run(...args: string[]): Promise<{ out: string; code: number }> {
  let out = '';
  process.exitCode = 0;
  await buildProgram((s) => { out += s; }).exitOverride().parseAsync(['node', 'weft', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out, code };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  await mkdir(join(dir, 'manifests'));
  await writeFile(join(dir, 'manifests', 'ns.yaml'), NAMESPACE);
  await writeFile(join(dir, 'manifests', 'pod.yaml'), POD);
  await writeFile(join(dir, 'manifests', 'policy.yaml'), CUSTOM_POLICY);
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), manifestDirs: [join(dir, 'manifests')], listenAddress: '127.0.0.1', port: 0, adminPort: 0, logLevel: 'off',
  }), { logger: silentLogger });
  await controller.settled();
});

after(async () => {
  await controller.close();
  await rm(dir, { recursive: true, force: true });
});

test('analyze reports bad YAML and unsupported policies, and exits non-zero', async () => {
  const bad = join(dir, 'bad');
  await mkdir(bad);
  await writeFile(join(bad, 'broken.yaml'), 'kind: [unclosed\n');
  await writeFile(join(bad, 'policy.yaml'), CUSTOM_POLICY);
  const { out, code } = await run('analyze', bad);
  assert.equal(code, 1);
  assert.match(out, /broken\.yaml\s+document 0: not valid YAML/);
  assert.match(out, /AuthorizationPolicy\/shop\/ext\s+Accepted\s+False/);
});

test('analyze passes clean manifests', async () => {
  const good = join(dir, 'good');
  await mkdir(good);
  await writeFile(join(good, 'ns.yaml'), NAMESPACE);
  const { out, code } = await run('analyze', good);
  assert.equal(code, 0);
  assert.match(out, /1 objects read/);
  assert.match(out, /no problems found/);
});

const TYPO_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: only-frontend, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  action: ALLOW
  rules:
    - form: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]
`;
const GATEWAY_WITH_TYPO = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ingress, namespace: shop }
spec:
  gatewayClassName: example
  listeners: [{ name: web, port: 80, protocol: HTTP, hostnam: x }]
`;

test('analyze names a field weft cannot use and exits non-zero (the from typo allows nobody, not everybody)', async () => {
  const typo = join(dir, 'typo');
  await mkdir(typo);
  await writeFile(join(typo, 'ns.yaml'), NAMESPACE);
  await writeFile(join(typo, 'policy.yaml'), TYPO_POLICY);
  const { out, code } = await run('analyze', typo);
  assert.equal(code, 1);
  assert.match(out, /AuthorizationPolicy\/shop\/only-frontend\s+spec\.rules\[0\]\.form\s+unknown field \(did you mean "from"\?\)/);
  assert.match(out, /AuthorizationPolicy\/shop\/only-frontend\s+Accepted\s+False\s+InvalidField\s+.*ALLOW rule\(s\) 0 never match/);
  assert.doesNotMatch(out, /no problems found/);
});

test('analyze reports unknown Gateway fields but not the known ones weft ignores', async () => {
  const gw = join(dir, 'gateway');
  await mkdir(gw);
  await writeFile(join(gw, 'gateway.yaml'), GATEWAY_WITH_TYPO);
  const bad = await run('analyze', gw);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /Gateway\/shop\/ingress\s+KnownFields\s+False\s+UnknownField\s+spec\.listeners\[0\]\.hostnam: unknown field/);
  await writeFile(join(gw, 'gateway.yaml'), GATEWAY_WITH_TYPO.replace('hostnam: x', 'allowedRoutes: { namespaces: { from: Same } }'));
  const good = await run('analyze', gw);
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /no problems found/);
});

test('workloads lists what the running controller computed', async () => {
  const { out } = await run('workloads', '--controller', controller.adminUrl);
  assert.match(out, /^NAMESPACE\s+NAME\s+ADDRESS\s+NODE\s+PROTOCOL/m);
  assert.match(out, /^shop\s+web\s+10\.1\.0\.5\s+node1\s+HBONE\s+web\s+-$/m);
});

test('status shows the rejected policy from the running controller', async () => {
  const { out } = await run('status', '--controller', controller.adminUrl);
  assert.match(out, /AuthorizationPolicy\s+shop\/ext\s+Accepted\s+False/);
});

test('an unreachable controller gives a clear error', async () => {
  await assert.rejects(run('status', '--controller', 'http://127.0.0.1:1'), /cannot reach http:\/\/127\.0\.0\.1:1\/status/);
});
