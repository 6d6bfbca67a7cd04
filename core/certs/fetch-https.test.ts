import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { isWeftError } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import { testPki } from '#core/ca/testing.ts';
import { CertificateManager } from '#core/certs/manager.ts';
import { httpsFetcher, parseCertificateResponse } from '#core/certs/fetch-https.ts';

const CONTROLLER = 'spiffe://cluster.local/ns/weft-system/sa/weft-controller';
const ID = 'spiffe://cluster.local/ns/default/sa/web';
const pki = await testPki();
let server: Server;
let url = '';
const seen: Array<{ auth: string | undefined; identity: unknown }> = [];
let mode: 'ok' | 'garbage' = 'ok';

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return JSON.parse(text);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req) as { csr?: unknown; identity?: unknown };
  seen.push({ auth: req.headers.authorization, identity: body.identity });
  if (req.headers.authorization !== 'Bearer good-token') {
    res.writeHead(401, { 'content-type': 'text/plain' }).end('token rejected');
    return;
  }
  if (mode === 'garbage') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ certChain: 'nope' }));
    return;
  }
  try {
    const signed = pki.ca.sign(String(body.csr), { authorizedIdentities: [ID] });
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ certChain: [signed.certPem, ...signed.chainPem, ...pki.rootsPem], rootCerts: pki.rootsPem }));
  } catch (err) {
    const e = err as { code?: string; message?: string };
    res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ code: e.code, message: e.message }));
  }
}

before(async () => {
  const serving = await pki.issue(CONTROLLER);
  server = createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}/v1/certificate`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('the fetcher obtains a certificate over HTTPS and the manager accepts it', async () => {
  const fetch = httpsFetcher({ url, rootsPem: pki.rootsPem, token: async () => 'good-token', serverIdentity: CONTROLLER });
  const m = new CertificateManager({ fetch, logger: silentLogger });
  try {
    const cert = await m.get(ID);
    assert.equal(new X509Certificate(cert.certPem).subjectAltName, `URI:${ID}`);
    assert.deepEqual(cert.chainPem, [], 'the root repeated in certChain is dropped');
    assert.deepEqual(cert.rootsPem, pki.rootsPem);
    assert.deepEqual(seen.at(-1), { auth: 'Bearer good-token', identity: ID });
  } finally {
    m.close();
  }
});

test('server refusals become WeftErrors carrying the server message', async () => {
  const { createCsr } = await import('#core/ca/csr.ts');
  const other = 'spiffe://cluster.local/ns/default/sa/other';
  const { csrPem } = await createCsr(other);
  const good = httpsFetcher({ url, rootsPem: pki.rootsPem, token: 'good-token', serverIdentity: CONTROLLER });
  await assert.rejects(good(csrPem, other), (e: unknown) =>
    isWeftError(e, 'WEFT_ERR_CSR_UNAUTHORIZED') && /HTTP 403: requester is not authorized for spiffe:\/\/cluster\.local\/ns\/default\/sa\/other/.test(e.message));

  const badToken = httpsFetcher({ url, rootsPem: pki.rootsPem, token: 'stolen', serverIdentity: CONTROLLER });
  await assert.rejects(badToken(csrPem, other), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_AUTH') && /HTTP 401: token rejected/.test(e.message));

  mode = 'garbage';
  try {
    await assert.rejects(good(csrPem, other), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_FETCH') && /certChain must be/.test(e.message));
  } finally {
    mode = 'ok';
  }
});

test('the controller must prove the expected identity under the mesh roots', async () => {
  const { csrPem } = await (await import('#core/ca/csr.ts')).createCsr(ID);
  const before = seen.length;
  const wrongId = httpsFetcher({ url, rootsPem: pki.rootsPem, token: 'good-token', serverIdentity: 'spiffe://cluster.local/ns/evil/sa/x' });
  await assert.rejects(wrongId(csrPem, ID), /expected URI:spiffe:\/\/cluster\.local\/ns\/evil\/sa\/x/);
  const otherRoots = await testPki();
  const untrusted = httpsFetcher({ url, rootsPem: otherRoots.rootsPem, token: 'good-token', serverIdentity: CONTROLLER });
  await assert.rejects(untrusted(csrPem, ID), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_FETCH'));
  assert.equal(seen.length, before, 'no request reached an unverified server');
  assert.throws(() => httpsFetcher({ url: 'http://127.0.0.1:1/x', rootsPem: [], token: '' }), /must be https/);
});

test('response parsing guards every field', () => {
  const root = pki.rootsPem[0] ?? '';
  assert.throws(() => parseCertificateResponse(null, 'x'), /not an object/);
  assert.throws(() => parseCertificateResponse({ certChain: [], rootCerts: [root] }, 'x'), /certChain/);
  assert.throws(() => parseCertificateResponse({ certChain: [root], rootCerts: 'x' }, 'x'), /rootCerts/);
  assert.throws(() => parseCertificateResponse({ certChain: ['hello'], rootCerts: [root] }, 'x'), /certChain/);
  const got = parseCertificateResponse({ certChain: ['-----BEGIN CERTIFICATE-----A', '-----BEGIN CERTIFICATE-----B', root], rootCerts: [root] }, 'x');
  assert.deepEqual(got, { certPem: '-----BEGIN CERTIFICATE-----A', chainPem: ['-----BEGIN CERTIFICATE-----B'], rootsPem: [root] });
});
