import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer, request } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { createCsr } from '#core/ca/csr.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { isWeftError } from '#core/errors.ts';
import { modelOf } from '#controller/push/testing.ts';
import { CERTIFICATES_PATH, CaEndpoint, authorizedIdentities } from './server.ts';
import { issueServerCertificate, ipBytes } from './server-cert.ts';
import { ClientTokens } from './tokens.ts';

const podOnNode1 = 'spiffe://cluster.local/ns/default/sa/web';
const podOnNode2 = 'spiffe://cluster.local/ns/default/sa/db';
const waypoint = 'spiffe://cluster.local/ns/default/sa/waypoint';
const model = {
  ...modelOf([]),
  identitiesByNode: new Map([['node-1', new Set([podOnNode1])], ['node-2', new Set([podOnNode2])]]),
  waypointIdentities: new Set([waypoint]),
};

let server: Server;
let url: string;
let rootsPem: string[];
let tokens: ClientTokens;

before(async () => {
  const store = new MemoryCaStore();
  const ca = await CertificateAuthority.open({ store });
  const root = await store.load();
  assert.ok(root);
  rootsPem = ca.rootsPem;
  tokens = new ClientTokens(randomBytes(32));
  // Tokens `review:…` stand for those checked elsewhere (TokenReview): answered later, or not at all.
  const reviewed = async (t: string): Promise<ClientDescriptor | undefined> => {
    await new Promise((r) => setTimeout(r, 5));
    if (t === 'review:down') throw new Error('API server unreachable');
    return t === 'review:node-1' ? { kind: 'ztunnel', node: 'node-1' } : undefined;
  };
  const endpoint = new CaEndpoint({
    ca, authenticate: (t) => (t.startsWith('review:') ? reviewed(t) : tokens.verify(t)), identitiesFor: (c) => authorizedIdentities(model, c),
  });
  const cert = await issueServerCertificate(root, { dnsNames: ['weft-controller'], ipAddresses: ['127.0.0.1'], uris: ['spiffe://cluster.local/ns/weft-system/sa/weft-controller'] });
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    if (!endpoint.handle(req, res)) res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}${CERTIFICATES_PATH}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function fetcherFor(client: ClientDescriptor | string): ReturnType<typeof httpsFetcher> {
  return httpsFetcher({ url, rootsPem, token: typeof client === 'string' ? client : tokens.mint(client) });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isWeftError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'not refused';
}

test('a ztunnel obtains a certificate for a pod identity on its node', async () => {
  const { csrPem } = await createCsr(podOnNode1);
  const got = await fetcherFor({ kind: 'ztunnel', node: 'node-1' })(csrPem, podOnNode1);
  const leaf = new X509Certificate(got.certPem);
  assert.equal(leaf.subjectAltName, `URI:${podOnNode1}`);
  assert.ok(leaf.verify(new X509Certificate(rootsPem[0] ?? '').publicKey));
  assert.deepEqual(got.rootsPem, rootsPem);
});

test('a ztunnel is refused an identity of a pod on another node', async () => {
  const { csrPem } = await createCsr(podOnNode2);
  assert.match(await refusal(fetcherFor({ kind: 'ztunnel', node: 'node-1' })(csrPem, podOnNode2)), /^WEFT_ERR_CSR_UNAUTHORIZED: .*node node-1 runs no pod/);
});

test('a CSR for another identity than the one requested is refused', async () => {
  const { csrPem } = await createCsr(podOnNode2);
  assert.match(await refusal(fetcherFor({ kind: 'ztunnel', node: 'node-1' })(csrPem, podOnNode1)), /^WEFT_ERR_CSR_UNAUTHORIZED/);
});

test('a waypoint obtains only its own identity', async () => {
  const own = await createCsr(waypoint);
  const got = await fetcherFor({ kind: 'waypoint', identity: waypoint })(own.csrPem, waypoint);
  assert.equal(new X509Certificate(got.certPem).subjectAltName, `URI:${waypoint}`);
  const other = await createCsr(podOnNode1);
  assert.match(await refusal(fetcherFor({ kind: 'waypoint', identity: waypoint })(other.csrPem, podOnNode1)), /^WEFT_ERR_CSR_UNAUTHORIZED/);
  // A waypoint token for an identity that is no waypoint gets nothing.
  const fake = 'spiffe://cluster.local/ns/default/sa/web';
  assert.match(await refusal(fetcherFor({ kind: 'waypoint', identity: fake })((await createCsr(fake)).csrPem, fake)), /^WEFT_ERR_CSR_UNAUTHORIZED/);
});

test('bad, forged and missing tokens are refused with 401', async () => {
  const { csrPem } = await createCsr(podOnNode1);
  const forged = tokens.mint({ kind: 'ztunnel', node: 'node-1' }).slice(0, -4) + 'AAAA';
  const otherKey = new ClientTokens(randomBytes(32)).mint({ kind: 'ztunnel', node: 'node-1' });
  for (const t of ['garbage', forged, otherKey]) {
    assert.match(await refusal(fetcherFor(t)(csrPem, podOnNode1)), /^WEFT_ERR_CERT_AUTH: .*HTTP 401/);
  }
  const res = await fetch(url.replace('https', 'http')).catch((err: unknown) => err);
  assert.ok(res instanceof Error, 'plain HTTP is not served');
});

test('the controller certificate carries DNS, URI and IP SANs', async () => {
  const store = new MemoryCaStore();
  await CertificateAuthority.open({ store });
  const root = await store.load();
  assert.ok(root);
  const cert = await issueServerCertificate(root, { dnsNames: ['weft-controller'], ipAddresses: ['127.0.0.1', '::1', 'fd00::1:2'], uris: ['spiffe://cluster.local/ns/weft-system/sa/weft-controller'] });
  const x = new X509Certificate(cert.certPem);
  assert.equal(x.subjectAltName, 'DNS:weft-controller, URI:spiffe://cluster.local/ns/weft-system/sa/weft-controller, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:1:2');
  assert.equal(x.checkHost('weft-controller'), 'weft-controller');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(x.ca, false);
  assert.ok(x.checkIssued(new X509Certificate(root.certPem)));
});

test('ipBytes', () => {
  const cases: [string, string][] = [
    ['10.1.2.3', '0a010203'], ['::1', '00000000000000000000000000000001'], ['fd00::1:2', 'fd000000000000000000000000010002'],
    ['1::', '00010000000000000000000000000000'], ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
  ];
  for (const [ip, hex] of cases) assert.equal(ipBytes(ip).toString('hex'), hex, ip);
});

test('client tokens: round trip, tamper and cross-kind', () => {
  const t = tokens.mint({ kind: 'ztunnel', node: 'node-1' });
  assert.deepEqual(tokens.verify(t), { kind: 'ztunnel', node: 'node-1' });
  const w = tokens.mint({ kind: 'waypoint', identity: waypoint });
  assert.deepEqual(tokens.verify(w), { kind: 'waypoint', identity: waypoint });
  const [p, , subject, mac] = t.split('.');
  assert.equal(tokens.verify([p, 'waypoint', subject, mac].join('.')), undefined);
  assert.equal(tokens.verify([p, 'ztunnel', Buffer.from('node-2').toString('base64url'), mac].join('.')), undefined);
  assert.equal(tokens.verify(''), undefined);
  assert.throws(() => tokens.mint({ kind: 'ztunnel', node: '../etc' }), /not a valid node name/);
});

test('after a 413 the client\'s next request on the same keep-alive agent is answered at once', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: rootsPem });
  const token = tokens.mint({ kind: 'ztunnel', node: 'node-1' });
  const post = (body: string[], chunked: boolean): Promise<{ status: number; connection: string | undefined; ms: number }> => new Promise((resolve, reject) => {
    const started = Date.now();
    const size = body.reduce((n, b) => n + Buffer.byteLength(b), 0);
    const req = request(url, {
      method: 'POST', agent, servername: 'weft-controller',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(chunked ? {} : { 'content-length': size }) },
    }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, ms: Date.now() - started }));
    });
    req.once('error', reject);
    for (const b of body) req.write(b);
    req.end();
  });
  const { csrPem } = await createCsr(podOnNode1);
  const good = JSON.stringify({ csr: csrPem, identity: podOnNode1 });
  const huge = JSON.stringify({ csr: 'x'.repeat(200_000), identity: podOnNode1 });
  try {
    for (const chunked of [false, true]) {
      const parts = chunked ? [huge.slice(0, 40_000), huge.slice(40_000, 120_000), huge.slice(120_000)] : [huge];
      const refused = await post(parts, chunked);
      assert.equal(refused.status, 413, `chunked=${chunked}`);
      const next = await post([good], false).catch((err: unknown) => ({ status: String(err), connection: undefined, ms: 0 }));
      assert.equal(next.status, 200, `chunked=${chunked}`);
      assert.ok(next.ms < 2000, `the next request took ${next.ms} ms (chunked=${chunked})`);
      assert.equal(refused.connection, 'close', 'the connection the 413 left half-read is closed');
      // A refusal that read the whole body keeps the connection.
      const answered = await post([JSON.stringify({ csr: csrPem, identity: podOnNode2 })], false);
      assert.deepEqual([answered.status, answered.connection], [403, 'keep-alive']);
    }
  } finally {
    agent.destroy();
  }
});

test('a token checked elsewhere is awaited; when it cannot be checked the answer is 503, not 401', async () => {
  const { csrPem } = await createCsr(podOnNode1);
  const got = await fetcherFor('review:node-1')(csrPem, podOnNode1);
  assert.equal(new X509Certificate(got.certPem).subjectAltName, `URI:${podOnNode1}`);
  assert.match(await refusal(fetcherFor('review:node-1')(csrPem, podOnNode2)), /node node-1 runs no pod/);
  assert.match(await refusal(fetcherFor('review:unknown')(csrPem, podOnNode1)), /401|invalid bearer token/);
  assert.match(await refusal(fetcherFor('review:down')(csrPem, podOnNode1)), /503|unreachable/);
});
