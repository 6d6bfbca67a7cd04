// The mesh config as the controller holds it: a YAML file (on Kubernetes the `mesh` key of
// ConfigMap `istio`, mounted), read at start and again whenever its folder changes, since the
// kubelet swaps a mounted ConfigMap by renaming a symlink. A file that cannot be read or is
// not YAML keeps the last good config in force, with a problem naming the file that the
// MeshConfig condition shows, so a typo loses nothing that applied before it. No file at all
// at start is an empty mesh config.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { EMPTY_MESH_CONFIG, parseMeshConfig, type MeshConfig } from '#controller/model/mesh-config.ts';

/** How often a mesh config folder that is not there is looked for again. */
const FOLDER_RETRY_MS = 5_000;

export class MeshConfigFile {
  readonly path: string;
  readonly #logger: Logger;
  #good: MeshConfig = EMPTY_MESH_CONFIG;
  #current: MeshConfig = EMPTY_MESH_CONFIG;
  #text: string | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #folderMissing = false;
  #closed = false;
  /** Reads in order: a slow read never overwrites a later one. */
  #reading: Promise<void> = Promise.resolve();

  private constructor(path: string, logger: Logger) {
    this.path = path;
    this.#logger = logger;
  }

  /** Reads the file and watches it; `onChange` hears of every config that differs from the one before. */
  static async open(path: string, logger: Logger, onChange: (mesh: MeshConfig) => void, settleMs = 100, retryMs = FOLDER_RETRY_MS): Promise<MeshConfigFile> {
    const file = new MeshConfigFile(path, logger);
    await file.#read(() => undefined);
    file.#watch(onChange, settleMs, retryMs);
    return file;
  }

  /**
   * Watches the file's folder. A folder that is not there (yet), or goes away, is looked for
   * again every `retryMs`, and the file read once it is: the controller starts and serves
   * without it.
   */
  #watch(onChange: (mesh: MeshConfig) => void, settleMs: number, retryMs: number): void {
    if (this.#closed) return;
    const reread = (): void => {
      this.#reading = this.#reading.then(() => this.#read(onChange));
    };
    const retry = (): void => {
      this.#watcher?.close();
      this.#watcher = undefined;
      this.#retry = setTimeout(() => {
        this.#watch(onChange, settleMs, retryMs);
        if (this.#watcher !== undefined) reread();
      }, retryMs);
      this.#retry.unref();
    };
    try {
      this.#watcher = watch(dirname(this.path), () => {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(reread, settleMs);
      });
    } catch (err) {
      if (this.#folderMissing === false) this.#logger.info('mesh config folder not there; looking again', { path: this.path, err: errorMessage(err) });
      this.#folderMissing = true;
      retry();
      return;
    }
    this.#folderMissing = false;
    this.#watcher.on('error', (err) => {
      this.#logger.warn('mesh config folder watch failed; looking again', { path: this.path, err: errorMessage(err) });
      retry();
    });
  }

  /** The config in force: the last good one, with the file's present fault among its problems. */
  current(): MeshConfig {
    return this.#current;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retry);
    this.#watcher?.close();
  }

  async #read(onChange: (mesh: MeshConfig) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      // No file before any was read: no mesh config yet (an optional ConfigMap not created), so
      // Istio's defaults, and nothing wrong. A file that goes away later keeps what it said.
      if (this.#text === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#logger.info('no mesh config file yet; the defaults apply', { path: this.path });
        return;
      }
      this.#fault(`cannot read ${this.path}: ${errorMessage(err)}`, '', onChange);
      return;
    }
    if (text === this.#text) return;
    try {
      this.#good = parseMeshConfig(text);
    } catch (err) {
      // The YAML parser's message goes on to draw the line; its first line says it.
      this.#fault(`${this.path}: ${errorMessage(err).split('\n')[0] ?? ''}`, text, onChange);
      return;
    }
    this.#text = text;
    this.#current = this.#good;
    if (this.#good.problems.length > 0) this.#logger.warn('mesh config read with problems', { path: this.path, problems: this.#good.problems });
    else this.#logger.info('mesh config read', { path: this.path, providers: [...this.#good.extensionProviders.keys()] });
    onChange(this.#current);
  }

  #fault(problem: string, text: string, onChange: (mesh: MeshConfig) => void): void {
    // The same fault again (an unrelated event in the folder) is no news.
    if (this.#text === `\0${text}`) return;
    this.#text = `\0${text}`;
    this.#logger.error('mesh config unusable; keeping the last good one', { path: this.path, problem });
    this.#current = { ...this.#good, problems: [...this.#good.problems, `${problem}; the last good mesh config stays in force`] };
    onChange(this.#current);
  }
}
