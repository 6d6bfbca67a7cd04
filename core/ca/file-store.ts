// A CaStore in a directory: root-key.pem (mode 0600) and root-cert.pem. Writes go through a
// temporary file and rename so a crash never leaves half a key behind.
import { chmod, link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '#core/errors.ts';
import type { CaMaterial, CaStore } from './store.ts';

export class FileCaStore implements CaStore {
  readonly keyPath: string;
  readonly certPath: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.keyPath = join(dir, 'root-key.pem');
    this.certPath = join(dir, 'root-cert.pem');
  }

  async load(): Promise<CaMaterial | undefined> {
    const [keyPem, certPem] = await Promise.all([readIfExists(this.keyPath), readIfExists(this.certPath)]);
    if (keyPem === undefined && certPem === undefined) return undefined;
    if (keyPem === undefined || certPem === undefined) {
      throw new WeftError('WEFT_ERR_CA_STORE', `CA directory ${this.#dir} holds only one of root-key.pem and root-cert.pem`, {
        hint: 'restore the missing file, or remove both to create a new root (every workload certificate changes)',
      });
    }
    return { keyPem, certPem };
  }

  async save(material: CaMaterial): Promise<boolean> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    // The certificate is the commit point: it is linked into place without overwriting, so
    // of two concurrent creators exactly one wins and the other reloads.
    const suffix = `.${process.pid}.${Date.now()}.tmp`;
    const keyTmp = this.keyPath + suffix;
    const certTmp = this.certPath + suffix;
    try {
      await writeFile(keyTmp, material.keyPem, { mode: 0o600 });
      await chmod(keyTmp, 0o600);
      await writeFile(certTmp, material.certPem, { mode: 0o644 });
      try {
        await link(certTmp, this.certPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      }
      await rename(keyTmp, this.keyPath);
      return true;
    } finally {
      await unlink(keyTmp).catch(() => undefined);
      await unlink(certTmp).catch(() => undefined);
    }
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
