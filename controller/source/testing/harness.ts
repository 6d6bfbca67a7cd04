// Test harness: the in-repo API server over HTTPS with a bearer token, and a kubeconfig file
// that points the real client library at it (so tests exercise TLS, auth and file loading).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { issueServerCertificate } from '#controller/ca/server-cert.ts';
import { TestApiServer } from '#controller/source/testing/apiserver.ts';
import type { TestApiServerOptions } from '#controller/source/testing/apiserver.ts';

export interface ApiServerHarness {
  server: TestApiServer;
  /** A kubeconfig file naming the server, its CA and the token. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  close(): Promise<void>;
}

export async function startApiServerHarness(options: Omit<TestApiServerOptions, 'tls' | 'token'> = {}): Promise<ApiServerHarness> {
  const store = new MemoryCaStore();
  await CertificateAuthority.open({ store });
  const root = await store.load();
  if (root === undefined) throw new Error('no CA root after open');
  const cert = await issueServerCertificate(root, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', ...(options.host === undefined ? [] : [options.host])] });
  const token = randomBytes(16).toString('hex');
  const server = await TestApiServer.start({ ...options, tls: { certPem: cert.certPem, keyPem: cert.keyPem }, token });
  const dir = await mkdtemp(join(tmpdir(), 'weft-apiserver-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const caData = Buffer.from(root.certPem).toString('base64');
  await writeFile(kubeconfigPath, `apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: ${server.url}
      certificate-authority-data: ${caData}
users:
  - name: weft
    user:
      token: ${token}
contexts:
  - name: test
    context: { cluster: test, user: weft }
current-context: test
`, { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    server, kubeconfigPath, kubeConfig,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `pred` until it holds; fails naming `label` after `ms`. */
export async function waitFor(pred: () => boolean, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
