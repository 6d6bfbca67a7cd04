// A certificate with a valid chain but no URI SAN (a DNS SAN instead), from a throwaway
// root made with the openssl CLI: the mesh test PKI only issues SPIFFE certificates, and
// the server must be shown to refuse a chain-valid certificate that names no workload.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkloadCertificate } from '#core/certs/types.ts';

const run = promisify(execFile);

export async function noSanCertificate(): Promise<{ rootPem: string; cert: WorkloadCertificate }> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-hbone-nosan-'));
  const f = (n: string): string => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', f('root.key'), '-out', f('root.pem'), '-days', '1',
      '-subj', '/O=weft test root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    await run('openssl', ['req', '-new', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/O=weft']);
    await writeFile(f('ext.cnf'),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:workload.example\n');
    await run('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-set_serial', '4242',
      '-days', '1', '-extfile', f('ext.cnf'), '-out', f('leaf.pem')]);
    const rootPem = await readFile(f('root.pem'), 'utf8');
    const now = Date.now();
    return {
      rootPem,
      cert: {
        identity: 'none', keyPem: await readFile(f('leaf.key'), 'utf8'), certPem: await readFile(f('leaf.pem'), 'utf8'),
        chainPem: [], rootsPem: [rootPem], notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
