// The controller on a cluster (the in-repo API server): proxies authenticate with projected
// service-account tokens checked by TokenReview, a ztunnel gets certificates only for pods on
// its own node, a plug-in CA from Secret cacerts signs everything (the serving certificate
// included), the root it trusts is published as ConfigMap istio-ca-root-cert, and a changed
// cacerts is taken without a restart. (No Kubernetes API server can be installed here: the
// in-repo double speaks the real protocol to the real client library.)
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createCsr } from '#core/ca/csr.ts';
import { createRoot } from '#core/ca/root.ts';
import { testIntermediate as intermediate } from '#core/ca/testing.ts';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import { ConfigClient } from '#core/config/client.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { isWeftError } from '#core/errors.ts';
import { Logger, silentLogger } from '#core/log.ts';
import { makeControllerConfig } from '#controller/config.ts';
import { startController } from '#controller/main.ts';
import type { RunningController } from '#controller/main.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { PluggedCaKeys, pluggedCaFromSecretData, splitPemCertificates } from './plugged-secret.ts';
import { CA_AUDIENCE, NODE_NAME_EXTRA, POD_NAME_EXTRA } from './token-review.ts';
import { ClientTokens } from './tokens.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const NS = 'istio-system';
const webOnNode1 = 'spiffe://cluster.local/ns/shop/sa/web';
const dbOnNode2 = 'spiffe://cluster.local/ns/shop/sa/db';

let h: ApiServerHarness;
let dir: string;
let controller: RunningController;
let root: { certPem: string; keyPem: string };
let mid: { certPem: string; keyPem: string };
let mesh: { certPem: string; keyPem: string };
/** The controller's warnings, one parsed JSON record each. */
const warnings: Record<string, unknown>[] = [];

function cacerts(signing: { certPem: string; keyPem: string }, rootPem: string, between: string[]): Record<string, string> {
  return {
    [PluggedCaKeys.cert]: b64(signing.certPem), [PluggedCaKeys.key]: b64(signing.keyPem), [PluggedCaKeys.root]: b64(rootPem),
    [PluggedCaKeys.chain]: b64([signing.certPem, ...between, rootPem].join('')),
  };
}

function pod(podName: string, node: string, sa: string, ip: string): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace: 'shop', uid: `uid-${podName}`, labels: { app: sa } },
    spec: { nodeName: node, serviceAccountName: sa },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

before(async () => {
  h = await startApiServerHarness();
  root = await createRoot({ trustDomain: 'cluster.local', ttlDays: 365, now: Date.now() });
  mid = intermediate(root, 'org intermediate');
  mesh = intermediate(mid, 'mesh intermediate');
  // As Istio's docs build it: the signing certificate, then up to the root.
  h.server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: NS }, data: cacerts(mesh, root.certPem, [mid.certPem]) });
  h.server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  h.server.create(pod('web-1', 'node-1', 'web', '10.1.0.5'));
  h.server.create(pod('db-1', 'node-2', 'db', '10.1.0.6'));
  h.server.reviewableToken('jwt-ztunnel-node-1', {
    username: `system:serviceaccount:${NS}:ztunnel`, audiences: [CA_AUDIENCE],
    extra: { [POD_NAME_EXTRA]: ['ztunnel-abcde'], [NODE_NAME_EXTRA]: ['node-1'] },
  });
  h.server.reviewableToken('jwt-web', {
    username: 'system:serviceaccount:shop:web', audiences: [CA_AUDIENCE], extra: { [POD_NAME_EXTRA]: ['web-1'] },
  });
  dir = await mkdtemp(join(tmpdir(), 'weft-kube-security-'));
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), source: 'kubernetes', kubeconfig: h.kubeconfigPath, listenAddress: '127.0.0.1', port: 0, adminPort: 0,
    debounceMs: 10, rootNamespace: NS, rootRotationGraceSeconds: 1,
  }), { logger: new Logger({ level: 'warn', sink: { write: (line) => warnings.push(JSON.parse(line) as Record<string, unknown>) } }) });
});

after(async () => {
  await controller.close();
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

async function subscribe(who: ClientDescriptor, token: string): Promise<'ready' | 'refused'> {
  const client = new ConfigClient({
    url: controller.pushUrl, client: who, token, rootsPem: [root.certPem], servername: 'weft-controller',
    apply: () => ({ rejected: [] }), logger: silentLogger, backoff: { initialMs: 50, maxMs: 100 },
  }).start();
  try {
    return await Promise.race([
      client.ready().then(() => 'ready' as const),
      new Promise<'refused'>((resolve) => setTimeout(() => resolve('refused'), 1500)),
    ]);
  } finally {
    await client.close();
  }
}

test('cert-chain.pem drops the signing certificate and the root, keeping what lies between', () => {
  const data = { [PluggedCaKeys.cert]: b64(mesh.certPem), [PluggedCaKeys.key]: b64(mesh.keyPem), [PluggedCaKeys.root]: b64(root.certPem) };
  const cases: [string, string | undefined, string[]][] = [
    ['Istio\'s cat ca-cert.pem root-cert.pem, with an intermediate', mesh.certPem + mid.certPem + root.certPem, [mid.certPem]],
    ['only the intermediate', mid.certPem, [mid.certPem]],
    ['no chain at all', undefined, []],
  ];
  for (const [label, chain, want] of cases) {
    const got = pluggedCaFromSecretData(chain === undefined ? data : { ...data, [PluggedCaKeys.chain]: b64(chain) }, 'x/cacerts');
    assert.deepEqual(got.chainPem.map((p) => p.trim()), want.map((p) => p.trim()), label);
  }
  assert.throws(() => pluggedCaFromSecretData({ [PluggedCaKeys.cert]: b64(mesh.certPem) }, 'x/cacerts'),
    (err: unknown) => isWeftError(err, 'WEFT_ERR_CA_CERT') && /lacks ca-key.pem, root-cert.pem/.test(err.message));
  assert.equal(splitPemCertificates(`junk\n${root.certPem}\n${mid.certPem}`).length, 2);
});

test('the plug-in CA signs: the controller trusts the cacerts root and serves its chain', () => {
  assert.equal(new X509Certificate(controller.rootPem).fingerprint256, new X509Certificate(root.certPem).fingerprint256);
});

test('a ztunnel with a bound token subscribes as its node and gets certificates only for that node\'s pods', async () => {
  const ztunnel: ClientDescriptor = { kind: 'ztunnel', node: 'node-1' };
  assert.equal(await subscribe(ztunnel, 'jwt-ztunnel-node-1'), 'ready');
  assert.equal(await subscribe({ kind: 'ztunnel', node: 'node-2' }, 'jwt-ztunnel-node-1'), 'refused', 'another node with this token');
  assert.equal(await subscribe({ kind: 'waypoint', identity: webOnNode1 }, 'jwt-web'), 'refused', 'an app pod is no proxy');
  assert.equal(await subscribe(ztunnel, 'jwt-unknown'), 'refused');

  const fetch = httpsFetcher({ url: controller.caUrl, rootsPem: [root.certPem], token: 'jwt-ztunnel-node-1' });
  const { csrPem } = await createCsr(webOnNode1);
  const got = await fetch(csrPem, webOnNode1);
  const leaf = new X509Certificate(got.certPem);
  assert.equal(leaf.subjectAltName, `URI:${webOnNode1}`);
  // leaf → mesh intermediate → org intermediate → root
  const chain = got.chainPem.map((p) => new X509Certificate(p));
  assert.ok(leaf.verify(chain[0]?.publicKey ?? new X509Certificate(root.certPem).publicKey));
  assert.ok(chain.at(-1)?.verify(new X509Certificate(root.certPem).publicKey));
  const other = await createCsr(dbOnNode2);
  await assert.rejects(fetch(other.csrPem, dbOnNode2), (err: unknown) => isWeftError(err) && /node node-1 runs no pod/.test(err.message));
});

test('a ztunnel asking for the identity of a pod on another node is refused, logged and counted', async () => {
  const unauthorized = async (): Promise<number> => Number(/^weft_ca_requests_total\{result="unauthorized"\} (\d+)$/m.exec(await controller.metrics.render())?.[1] ?? 0);
  const before = await unauthorized();
  const seen = warnings.length;
  const { csrPem } = await createCsr(dbOnNode2);
  await assert.rejects(httpsFetcher({ url: controller.caUrl, rootsPem: [root.certPem], token: 'jwt-ztunnel-node-1' })(csrPem, dbOnNode2),
    (err: unknown) => isWeftError(err, 'WEFT_ERR_CSR_UNAUTHORIZED') && /node node-1 runs no pod with identity spiffe:\/\/cluster.local\/ns\/shop\/sa\/db/.test(err.message));
  assert.equal(await unauthorized(), before + 1);
  const logged = warnings.slice(seen).filter((w) => w['msg'] === 'certificate request refused' && w['identity'] === dbOnNode2);
  assert.equal(logged.length, 1);
  assert.deepEqual([logged[0]?.['caller'], logged[0]?.['status'], logged[0]?.['code']], ['ztunnel/node-1', 403, 'WEFT_ERR_CSR_UNAUTHORIZED']);
  // The pod's own node may have it.
  assert.ok(controller.model()?.identitiesByNode.get('node-2')?.has(dbOnNode2));
});

test('token-review mode keeps no hmac key or token files and refuses hmac tokens', async () => {
  await controller.settled();
  assert.deepEqual((await readdir(join(dir, 'state'))).filter((f) => f === 'token-key' || f === 'tokens'), []);
  assert.throws(() => controller.tokenFor({ kind: 'ztunnel', node: 'node-1' }), /mints no client tokens/);
  // Well formed, sealed under some key: on a cluster only the API server vouches for a client.
  const sealed = new ClientTokens(randomBytes(32)).mint({ kind: 'ztunnel', node: 'node-1' });
  assert.equal(await subscribe({ kind: 'ztunnel', node: 'node-1' }, sealed), 'refused');
  const { csrPem } = await createCsr(webOnNode1);
  await assert.rejects(httpsFetcher({ url: controller.caUrl, rootsPem: [root.certPem], token: sealed })(csrPem, webOnNode1),
    (err: unknown) => isWeftError(err) && /invalid bearer token/.test(err.message));
});

test('the root is published as istio-ca-root-cert where ztunnel and enrolled workloads mount it', async () => {
  const deadline = Date.now() + 5000;
  const data = (ns: string): string | undefined => (h.server.get('ConfigMap', ns, 'istio-ca-root-cert')?.['data'] as Record<string, string> | undefined)?.['root-cert.pem'];
  while (data('shop') === undefined || data(NS) === undefined) {
    if (Date.now() > deadline) throw new Error('no istio-ca-root-cert');
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const ns of [NS, 'shop']) assert.equal(data(ns)?.trim(), root.certPem.trim(), ns);
  assert.equal(h.server.get('ConfigMap', 'default', 'istio-ca-root-cert'), undefined, 'not in a namespace that is not enrolled');
});

interface Held { identity: string; keyPem: string; certPem: string; chainPem: string[]; rootsPem: string[] }

/** A certificate for `identity` as the ztunnel of node-1 obtains it, with the roots that came with it. */
async function obtain(identity: string, trust: string[]): Promise<Held> {
  const { keyPem, csrPem } = await createCsr(identity);
  const got = await httpsFetcher({ url: controller.caUrl, rootsPem: trust, token: 'jwt-ztunnel-node-1' })(csrPem, identity);
  return { identity, keyPem, ...got };
}

/** Whether a mutual TLS handshake from `client` to `server` succeeds, each verifying the other with its own roots. */
async function mutualTls(client: Held, server: Held): Promise<boolean> {
  const pem = (h: Held): string => [h.certPem, ...h.chainPem].join('');
  const srv = createServer({ cert: pem(server), key: server.keyPem, ca: server.rootsPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end('ok'));
  srv.on('tlsClientError', () => undefined);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const socket = connect({
      host: '127.0.0.1', port: (srv.address() as AddressInfo).port, cert: pem(client), key: client.keyPem, ca: client.rootsPem,
      checkServerIdentity: () => undefined,
    });
    const data: Buffer[] = [];
    socket.on('data', (d: Buffer) => data.push(d));
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.once('end', () => resolve(Buffer.concat(data).toString() === 'ok'));
    });
    socket.destroy();
    return ok;
  } finally {
    srv.close();
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const issuerOf = (h: Held): string => new X509Certificate(h.chainPem[0] ?? '').fingerprint256;
const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;
const published = (ns: string): string[] => splitPemCertificates(
  ((h.server.get('ConfigMap', ns, 'istio-ca-root-cert')?.['data'] as Record<string, string> | undefined)?.['root-cert.pem']) ?? '').map(fp);

test('cacerts rotated without a restart: a new intermediate signs at once; a new root is trusted first, then signs, and old and new certificates keep talking', async () => {
  const before = await obtain(webOnNode1, [root.certPem]);
  assert.equal(issuerOf(before), fp(mesh.certPem));

  // A new intermediate under the same root: it signs as soon as the controller sees it.
  const mesh2 = intermediate(mid, 'mesh intermediate 2');
  const secret = (): Record<string, unknown> => h.server.get('Secret', NS, 'cacerts') ?? {};
  h.server.update({ ...secret(), data: cacerts(mesh2, root.certPem, [mid.certPem]) });
  await until('the new intermediate signing', () => controller.ca.rootsPem.length === 1 && controller.ca !== undefined
    && obtain(webOnNode1, [root.certPem]).then((c) => issuerOf(c) === fp(mesh2.certPem)));
  const sameRoot = await obtain(webOnNode1, [root.certPem]);
  assert.deepEqual(controller.rootsPem.map(fp), [fp(root.certPem)], 'the bundle is unchanged');
  assert.ok(await mutualTls(before, sameRoot), 'old certificate to new');
  assert.ok(await mutualTls(sameRoot, before), 'new certificate to old');

  // A new root: first it joins the bundle (published, and sent with every certificate) while the
  // previous CA still signs; after the grace period its CA signs, the old root staying trusted.
  const root2 = await createRoot({ trustDomain: 'cluster.local', ttlDays: 365, now: Date.now() });
  const mesh3 = intermediate(root2, 'mesh intermediate 3');
  h.server.update({ ...secret(), data: cacerts(mesh3, root2.certPem, []) });
  const both = [fp(root.certPem), fp(root2.certPem)];
  await until('the new root in the bundle', () => controller.rootsPem.length === 2);
  const during = await obtain(webOnNode1, [root.certPem]);
  assert.deepEqual(during.rootsPem.map(fp).sort(), [...both].sort(), 'the bundle comes with the certificate');
  await until('the bundle published in the root namespace and the enrolled one', () => [NS, 'shop'].every((ns) => published(ns).sort().join() === [...both].sort().join()));
  if (issuerOf(during) === fp(mesh2.certPem)) {
    // Issued while the new root was spreading: the previous CA still signed it.
    assert.ok(await mutualTls(during, sameRoot));
  }
  await until('the new root\'s CA signing', () => obtain(webOnNode1, [root.certPem, root2.certPem]).then((c) => issuerOf(c) === fp(mesh3.certPem)));
  const after = await obtain(webOnNode1, [root2.certPem]);
  assert.equal(fp(controller.rootPem), fp(root2.certPem), 'the signing root comes first');
  assert.deepEqual(controller.rootsPem.map(fp).sort(), [...both].sort(), 'the old root stays trusted for the certificate lifetime');
  // A proxy that took the bundle (with its certificate from the previous CA) and one with a new certificate.
  const oldWithBundle = { ...during, rootsPem: after.rootsPem };
  assert.ok(await mutualTls(oldWithBundle, after), 'previous CA to new CA');
  assert.ok(await mutualTls(after, oldWithBundle), 'new CA to previous CA');
  // The controller now serves a certificate under the new root (a fresh handshake, no session to resume).
  const handshake = (ca: string[]): Promise<boolean> => new Promise((resolve) => {
    const u = new URL(controller.url);
    const socket = connect({ host: u.hostname, port: Number(u.port), ca, servername: 'weft-controller' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  await until('the serving certificate under the new root', () => handshake([root2.certPem]));
  assert.equal(await handshake([root.certPem]), false, 'a client trusting only the old root no longer reaches the controller');
});

test('an unreadable cacerts is refused and the CA in use keeps signing', async () => {
  const inUse = controller.rootsPem.map(fp);
  const secret = h.server.get('Secret', NS, 'cacerts') ?? {};
  const seen = warnings.length;
  h.server.update({ ...secret, data: { [PluggedCaKeys.cert]: b64('not a certificate') } });
  await until('the refusal logged', () => warnings.slice(seen).some((w) => w['msg'] === 'plug-in CA Secret unreadable; keeping the CA in use' && /lacks ca-key.pem, root-cert.pem/.test(String(w['err']))));
  const got = await obtain(webOnNode1, controller.rootsPem);
  assert.deepEqual(controller.rootsPem.map(fp), inUse);
  assert.ok(new X509Certificate(got.certPem).verify(new X509Certificate(got.chainPem[0] ?? '').publicKey));
});
