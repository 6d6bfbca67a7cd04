// Test PKI for HBONE tests and benchmarks, built with the openssl CLI: one root (ECDSA
// P-256) and leaf certificates carrying a SPIFFE URI SAN, with chosen validity windows.
// Interim stand-in with the same shape as the CA's test helper.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkloadCertificate } from '#core/certs/types.ts';

const run = promisify(execFile);

export interface IssueOptions {
  ttlSeconds?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Leave the URI SAN out (a DNS SAN is put instead), to test rejection. */
  withoutUriSan?: boolean;
}

export interface TestPki {
  ca: { rootPem: string };
  issue(identity: string, options?: IssueOptions): Promise<WorkloadCertificate>;
}

function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

let serial = 0x1000;

export async function testPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-hbone-pki-'));
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'root.key'), '-out', join(dir, 'root.pem'), '-days', '2', '-subj', '/O=weft test root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const rootKey = await readFile(join(dir, 'root.key'), 'utf8');
    const rootPem = await readFile(join(dir, 'root.pem'), 'utf8');
    return {
      ca: { rootPem },
      issue: (identity, options = {}) => issueLeaf(rootKey, rootPem, identity, options),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function issueLeaf(rootKey: string, rootPem: string, identity: string, options: IssueOptions): Promise<WorkloadCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-hbone-leaf-'));
  try {
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 60_000 + (options.ttlSeconds ?? 3600) * 1000);
    const san = options.withoutUriSan === true ? 'DNS:workload.example' : `URI:${identity}`;
    await writeFile(join(dir, 'root.key'), rootKey, { mode: 0o600 });
    await writeFile(join(dir, 'root.pem'), rootPem);
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), (serial++).toString(16).padStart(4, '0') + '\n');
    await writeFile(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = d', '[d]', `database = ${join(dir, 'index.txt')}`, `new_certs_dir = ${dir}`,
      `serial = ${join(dir, 'serial')}`, 'default_md = sha256', 'policy = p', 'unique_subject = no',
      '[p]', 'organizationName = optional', '',
    ].join('\n'));
    await writeFile(join(dir, 'ext.cnf'), [
      'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth,clientAuth', `subjectAltName = critical,${san}`, '',
    ].join('\n'));
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'leaf.key'), '-out', join(dir, 'leaf.csr'), '-subj', '/O=weft']);
    await run('openssl', ['ca', '-batch', '-notext', '-config', join(dir, 'ca.cnf'), '-cert', join(dir, 'root.pem'),
      '-keyfile', join(dir, 'root.key'), '-in', join(dir, 'leaf.csr'), '-out', join(dir, 'leaf.pem'),
      '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-extfile', join(dir, 'ext.cnf')]);
    return {
      identity,
      keyPem: await readFile(join(dir, 'leaf.key'), 'utf8'),
      certPem: await readFile(join(dir, 'leaf.pem'), 'utf8'),
      chainPem: [],
      rootsPem: [rootPem],
      notBefore,
      notAfter,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
