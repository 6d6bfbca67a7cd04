// The mesh's trust bundle as a proxy reads it: a file (on Kubernetes the istio-ca-root-cert
// ConfigMap, mounted) that may hold several roots while the CA rotates. It is read again when
// its folder changes (the kubelet swaps a ConfigMap's files by renaming a symlink, so any
// event in the folder counts); `onChange` hears of a different, readable bundle, upon which
// the proxy fetches its certificates again. A bundle that cannot be read keeps the last one.
import { X509Certificate } from 'node:crypto';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a bundle; throws when there is none or one is unreadable. */
export function readRootBundle(text: string, path: string): string[] {
  const pems = [...text.matchAll(PEM_CERTIFICATE)].map((m) => `${m[0]}\n`);
  try {
    for (const pem of pems) new X509Certificate(pem);
  } catch (err) {
    throw new WeftError('WEFT_ERR_ROOT_CERT', `root certificate file ${path}: unreadable certificate: ${errorMessage(err)}`, { cause: err });
  }
  if (pems.length === 0) throw new WeftError('WEFT_ERR_ROOT_CERT', `root certificate file ${path} holds no certificate`);
  return pems;
}

export class RootFile {
  readonly path: string;
  #roots: string[];
  #text: string;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(path: string, text: string) {
    this.path = path;
    this.#text = text;
    this.#roots = readRootBundle(text, path);
  }

  /** Reads the bundle (failing when it cannot be read) and, with `onChange`, watches it. */
  static async open(path: string, logger: Logger, onChange?: (roots: string[]) => void): Promise<RootFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new WeftError('WEFT_ERR_ROOT_CERT', `cannot read root certificate ${path}: ${errorMessage(err)}`, { cause: err });
    }
    const file = new RootFile(path, text);
    if (onChange !== undefined) file.#watch(logger, onChange);
    return file;
  }

  /** The roots now. */
  current(): string[] {
    return this.#roots;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  #watch(logger: Logger, onChange: (roots: string[]) => void): void {
    this.#watcher = watch(dirname(this.path), () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#reload(logger, onChange), 100);
    });
  }

  async #reload(logger: Logger, onChange: (roots: string[]) => void): Promise<void> {
    let text: string;
    let roots: string[];
    try {
      text = await readFile(this.path, 'utf8');
      if (text === this.#text) return;
      roots = readRootBundle(text, this.path);
    } catch (err) {
      logger.warn('root certificate file unreadable; keeping the last bundle', { path: this.path, err: errorMessage(err) });
      return;
    }
    this.#text = text;
    this.#roots = roots;
    logger.info('trust bundle changed; fetching certificates again', { path: this.path, roots: roots.length });
    onChange(roots);
  }
}
