// Certificates for the nginx/HAProxy side of the waypoint benchmark, made with openssl: a
// self-signed CA, and ECDSA P-256 leaves it signs (the key type HBONE uses) for the proxy's
// listener, the backends, and the proxy's client certificate towards the backends.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '#local/run.ts';

export interface Leaf {
  certFile: string;
  keyFile: string;
  /** Certificate then key in one file, as HAProxy's `crt` wants it. */
  pemFile: string;
}

export interface BenchCerts {
  caFile: string;
  proxy: Leaf;
  backend: Leaf;
  client: Leaf;
}

async function openssl(args: readonly string[]): Promise<void> {
  const r = await runCommand('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;

async function leaf(dir: string, name: string, ca: { cert: string; key: string }, ext: string): Promise<Leaf> {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, `${ext}\n`);
  await openssl(['req', '-new', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', certFile, '-extfile', extFile]);
  const pemFile = join(dir, `${name}.pem`);
  await writeFile(pemFile, (await readFile(certFile, 'utf8')) + (await readFile(keyFile, 'utf8')), { mode: 0o600 });
  return { certFile, keyFile, pemFile };
}

/** Writes the CA and the three leaves into dir; backendName goes in the backends' SAN. */
export async function makeBenchCerts(dir: string, backendName: string): Promise<BenchCerts> {
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl(['req', '-x509', ...EC, '-keyout', ca.key, '-out', ca.cert, '-days', '2', '-subj', '/CN=weft-bench-ca']);
  const server = (san: string): string => `subjectAltName=DNS:${san}\nextendedKeyUsage=serverAuth`;
  return {
    caFile: ca.cert,
    proxy: await leaf(dir, 'proxy', ca, server('proxy.bench')),
    backend: await leaf(dir, 'backend', ca, server(backendName)),
    client: await leaf(dir, 'client', ca, 'extendedKeyUsage=clientAuth'),
  };
}
