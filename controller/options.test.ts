// startController honours the options an operator sets from outside: the workload
// certificate lifetime, and the limits of its push/CA listener.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr } from '#core/ca/csr.ts';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import { silentLogger } from '#core/log.ts';
import { makeControllerConfig } from './config.ts';
import { startController, type RunningController } from './main.ts';

const IDENTITY = 'spiffe://cluster.local/ns/shop/sa/web';
const MANIFESTS = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  uid: pod-uid-1
spec:
  nodeName: node-1
  serviceAccountName: web
status:
  phase: Running
  podIP: 10.1.0.5
  podIPs:
    - ip: 10.1.0.5
`;

let dir: string;
let controller: RunningController;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-ctl-options-'));
  await writeFile(join(dir, 'cluster.yaml'), MANIFESTS);
  controller = await startController(makeControllerConfig({
    stateDir: join(dir, 'state'), manifestDirs: [dir], listenAddress: '127.0.0.1', port: 0, adminPort: 0, debounceMs: 20, logLevel: 'off',
    workloadCertTtlSeconds: 90, handshakeTimeoutMs: 400, maxConnectionsPerSource: 4,
  }), { logger: silentLogger });
});

after(async () => {
  await controller.close();
  await rm(dir, { recursive: true, force: true });
});

test('workload certificates are signed for the configured lifetime', async () => {
  const { csrPem } = await createCsr(IDENTITY);
  const fetch = httpsFetcher({ url: controller.caUrl, rootsPem: controller.rootsPem, token: controller.tokenFor({ kind: 'ztunnel', node: 'node-1' }) });
  const before = Date.now();
  const got = await fetch(csrPem, IDENTITY);
  const lifetime = new Date(new X509Certificate(got.certPem).validTo).getTime() - before;
  assert.ok(lifetime > 85_000 && lifetime <= 91_000, `certificate lives ${lifetime} ms`);
});

test('stalled handshakes are cut at the configured timeout and one source is capped', { timeout: 10_000 }, async () => {
  const port = Number(new URL(controller.url).port);
  const started = Date.now();
  const sockets = Array.from({ length: 6 }, () => net.connect({ host: '127.0.0.1', port }).on('error', () => undefined));
  const closedAfter = await Promise.all(sockets.map(async (s) => {
    await once(s, 'close');
    return Date.now() - started;
  }));
  closedAfter.sort((a, b) => a - b);
  assert.ok((closedAfter[1] ?? Infinity) < 300, `two over the cap of 4 are refused at once: ${closedAfter.join(', ')}`);
  assert.ok((closedAfter[5] ?? Infinity) < 2500, `the rest are cut at the 400 ms handshake timeout: ${closedAfter.join(', ')}`);
});
