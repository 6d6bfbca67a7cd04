// Secret cacerts rotated to a new root while cross-node traffic flows: the embedded cluster's
// nodes and pods (network namespaces, real ztunnels in controller mode, curl and an echo app)
// with the controller in Kubernetes mode against the in-repo API server (no Kubernetes API
// server can be installed here; the double speaks the real protocol to the real client
// library). The test plays the kubelet's part: it copies the embedded cluster's objects into
// the API server, answers the ztunnels' projected tokens through TokenReview, and keeps the
// ztunnels' mounted istio-ca-root-cert file in step with the ConfigMap. Needs root.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setInterval } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { createRoot } from '#core/ca/root.ts';
import { testIntermediate } from '#core/ca/testing.ts';
import { Logger } from '#core/log.ts';
import { PluggedCaKeys } from '#controller/ca/plugged-secret.ts';
import { CA_AUDIENCE, NODE_NAME_EXTRA, POD_NAME_EXTRA } from '#controller/ca/token-review.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController, type RunningController } from '#controller/main.ts';
import { startApiServerHarness, type ApiServerHarness } from '#controller/source/testing/harness.ts';
import { LocalCluster } from '#local/cluster.ts';
import { startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import { listenInNetns } from '#ztunnel/native/index.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig, type RunningZtunnel } from '#ztunnel/start.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const NS = 'istio-system';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function cacerts(signing: { certPem: string; keyPem: string }, rootPem: string): Record<string, string> {
  return {
    [PluggedCaKeys.cert]: b64(signing.certPem), [PluggedCaKeys.key]: b64(signing.keyPem), [PluggedCaKeys.root]: b64(rootPem),
    [PluggedCaKeys.chain]: b64(signing.certPem + rootPem),
  };
}

/** Resolves once `check` holds, looking every 100 ms; fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for await (const _tick of setInterval(100)) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
  }
}

describe('cacerts rotation on the embedded cluster', { skip }, () => {
  let dir: string | undefined;
  let cluster: LocalCluster | undefined;
  let h: ApiServerHarness | undefined;
  let controller: RunningController | undefined;
  const ztunnels: RunningZtunnel[] = [];
  let kubelet: ReturnType<typeof globalThis.setInterval> | undefined;
  let client: LocalPod;
  let echo: LocalPod;
  /** The controller's info log, parsed: which certificates it issued, and when. */
  const issued: { at: number; identity: string }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-sec-rotation-'));
    const manifests = join(dir, 'manifests');
    cluster = await LocalCluster.start({ name: 'secrot', nodes: 2, manifestDir: manifests });
    await cluster.setNamespaceLabels('shop', { 'istio.io/dataplane-mode': 'ambient' });
    [client, echo] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    await startEcho(echo);

    h = await startApiServerHarness();
    const api = h.server;
    for (const file of (await readdir(manifests)).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of parseAllDocuments(await readFile(join(manifests, file), 'utf8'))) {
        const obj = doc.toJS() as Record<string, unknown> | null;
        if (obj !== null && typeof obj['kind'] === 'string') api.create(obj);
      }
    }
    const root = await createRoot({ trustDomain: 'cluster.local', ttlDays: 365, now: Date.now() });
    api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: NS }, data: cacerts(testIntermediate(root, 'mesh one'), root.certPem) });

    const logger = new Logger({
      level: 'info',
      sink: {
        write: (line) => {
          const r = JSON.parse(line) as Record<string, unknown>;
          if (r['msg'] === 'certificate issued' && r['component'] === 'ca-endpoint' && typeof r['identity'] === 'string') issued.push({ at: Date.now(), identity: r['identity'] });
        },
      },
    });
    controller = await startController(makeControllerConfig({
      stateDir: join(dir, 'state'), source: 'kubernetes', kubeconfig: h.kubeconfigPath, rootNamespace: NS,
      listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 20, rootRotationGraceSeconds: 2,
    }), { logger });

    // The kubelet's part: the ConfigMap mounted as a file, swapped when it changes.
    const rootDir = join(dir, 'istio-ca-root-cert');
    await mkdir(rootDir);
    const rootFile = join(rootDir, 'root-cert.pem');
    let mounted = '';
    const sync = async (): Promise<void> => {
      const data = (api.get('ConfigMap', NS, 'istio-ca-root-cert')?.['data'] as Record<string, string> | undefined)?.['root-cert.pem'];
      if (data === undefined || data === mounted) return;
      await writeFile(`${rootFile}.tmp`, data);
      await rename(`${rootFile}.tmp`, rootFile);
      mounted = data;
    };
    await eventually('istio-ca-root-cert published', async () => {
      await sync();
      return mounted !== '';
    });
    kubelet = globalThis.setInterval(() => void sync(), 100);

    for (const node of cluster.nodes) {
      const token = `jwt-ztunnel-${node.name}`;
      api.reviewableToken(token, {
        username: `system:serviceaccount:${NS}:ztunnel`, audiences: [CA_AUDIENCE],
        extra: { [POD_NAME_EXTRA]: [`ztunnel-${node.name}`], [NODE_NAME_EXTRA]: [node.name] },
      });
      const tokenFile = join(dir, `${node.name}.token`);
      await writeFile(tokenFile, token, { mode: 0o600 });
      const cfg = parseZtunnelConfig([
        '--node', node.name, '--controller', controller.url, '--root-cert', rootFile, '--token-file', tokenFile,
        '--admin-host', node.ip, '--remove-capture-on-exit',
      ], {});
      ztunnels.push(await startFromConfig(cfg, new Logger({ level: 'off' }), { admin: { listen: (host, port) => listenInNetns(node.netnsPath, { address: host, port }) } }));
    }
  });

  after(async () => {
    clearInterval(kubelet);
    for (const z of ztunnels) await z.close().catch(() => undefined);
    await controller?.close();
    await h?.close();
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const call = async (): Promise<{ ok: boolean; detail: string }> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '3', `http://${echo.ip}:8080/`]);
    return { ok: r.code === 0, detail: r.stderr };
  };

  test('traffic from node1 to node2 keeps flowing while cacerts moves to a new root; both ztunnels fetch certificates from the new CA', async () => {
    const api = h!.server;
    const c = controller!;
    await eventually('both pods enrolled and traffic tunnelled', async () => ztunnels.every((z) => z.ztunnel.enrolled().length === 1) && (await call()).ok);

    // Calls one after another for the whole rotation; every one must succeed.
    const failures: string[] = [];
    let calls = 0;
    let calling = true;
    const traffic = (async () => {
      while (calling) {
        const r = await call();
        calls++;
        if (!r.ok) failures.push(r.detail);
      }
    })();

    const root2 = await createRoot({ trustDomain: 'cluster.local', ttlDays: 365, now: Date.now() });
    const before = c.ca;
    const secret = api.get('Secret', NS, 'cacerts') ?? {};
    api.update({ ...secret, data: cacerts(testIntermediate(root2, 'mesh two'), root2.certPem) });
    await eventually('the new root in the bundle', () => c.rootsPem.length === 2);
    await eventually('the new CA signing', () => c.ca !== before);
    const switchedAt = Date.now();
    const identities = ['spiffe://cluster.local/ns/shop/sa/sleep', 'spiffe://cluster.local/ns/shop/sa/echo'];
    await eventually('both ztunnels fetching again from the new CA', () => identities.every((id) => issued.some((i) => i.identity === id && i.at >= switchedAt)));
    const callsAtSwitch = calls;
    await eventually('traffic after the proxies took their new certificates', () => calls >= callsAtSwitch + 5);
    calling = false;
    await traffic;
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.equal(c.rootPem, root2.certPem.endsWith('\n') ? root2.certPem : `${root2.certPem}\n`, 'the new root comes first');
  });
});
