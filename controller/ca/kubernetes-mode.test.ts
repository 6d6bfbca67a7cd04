// The controller on a cluster (the in-repo API server): proxies authenticate with projected
// service-account tokens checked by TokenReview, a ztunnel gets certificates only for pods on
// its own node, a plug-in CA from Secret cacerts signs everything (the serving certificate
// included), and the root it trusts is published as ConfigMap istio-ca-root-cert.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createCsr } from '#core/ca/csr.ts';
import { OID, encode, name, pemEncode } from '#core/ca/der.ts';
import { createRoot } from '#core/ca/root.ts';
import { ext, keyIdentifier, randomSerial, readCertificate, signCertificate } from '#core/ca/x509.ts';
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

/** A CA certificate for `cn` signed by `parent`. */
function intermediate(parent: { certPem: string; keyPem: string }, cn: string): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const p = readCertificate(new X509Certificate(parent.certPem).raw);
  const der = signCertificate({
    serial: randomSerial(), issuer: p.subject, subject: encode(name([[OID.organization, 'cluster.local'], [OID.commonName, cn]])),
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 30 * 86_400_000), spki,
    extensions: [ext.basicConstraints(true), ext.keyUsage([5, 6]), ext.subjectKeyId(keyIdentifier(spki)), ext.authorityKeyId(keyIdentifier(p.spki))],
  }, createPrivateKey(parent.keyPem));
  return { certPem: pemEncode('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

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
  h.server.create({
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: NS },
    data: {
      [PluggedCaKeys.cert]: b64(mesh.certPem), [PluggedCaKeys.key]: b64(mesh.keyPem), [PluggedCaKeys.root]: b64(root.certPem),
      [PluggedCaKeys.chain]: b64(mesh.certPem + mid.certPem + root.certPem),
    },
  });
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
    debounceMs: 10, rootNamespace: NS,
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
