// Writes and deletes manifest files atomically (temp file + rename): a controller watches the
// folder and must never read half a file. Temp files start with a dot and do not end in .yaml.
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CLUSTER_ANNOTATION } from './manifests.ts';

export class ManifestWriter {
  readonly dir: string;
  /** What each file holds now, so unchanged objects are not rewritten (watchers see no event). */
  readonly #written = new Map<string, string>();
  /** Operations on one file run in call order, so the last write wins on disk too. */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  write(file: string, obj: unknown): Promise<void> {
    const text = stringify(obj);
    return this.#enqueue(file, async () => {
      if (this.#written.get(file) === text) return;
      const tmp = join(this.dir, `.${file}.${randomBytes(4).toString('hex')}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, join(this.dir, file));
      this.#written.set(file, text);
    });
  }

  remove(file: string): Promise<void> {
    return this.#enqueue(file, async () => {
      this.#written.delete(file);
      await rm(join(this.dir, file), { force: true });
    });
  }

  async removeAll(): Promise<void> {
    await Promise.all([...this.#queues.values()]);
    await Promise.all([...this.#written.keys()].map((f) => this.remove(f)));
  }

  /** Synchronous removal of everything written, for exit handlers. */
  removeAllSync(): void {
    for (const f of this.#written.keys()) rmSync(join(this.dir, f), { force: true });
    this.#written.clear();
  }

  #enqueue(file: string, op: () => Promise<void>): Promise<void> {
    const prev = this.#queues.get(file) ?? Promise.resolve();
    const next = prev.then(op);
    const settled = next.catch(() => undefined);
    this.#queues.set(file, settled);
    void settled.then(() => {
      if (this.#queues.get(file) === settled) this.#queues.delete(file);
    });
    return next;
  }
}

/** Deletes the manifests a (dead) cluster left in dir, found by its annotation. */
export async function removeClusterManifests(dir: string, cluster: string): Promise<void> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(files.filter((f) => f.endsWith('.yaml')).map(async (f) => {
    const text = await readFile(join(dir, f), 'utf8').catch(() => '');
    if (!text.includes(CLUSTER_ANNOTATION)) return;
    if (annotationOf(text) === cluster) await rm(join(dir, f), { force: true });
  }));
}

function annotationOf(text: string): unknown {
  try {
    const doc: unknown = parse(text);
    if (typeof doc !== 'object' || doc === null) return undefined;
    const metadata = (doc as Record<string, unknown>)['metadata'];
    if (typeof metadata !== 'object' || metadata === null) return undefined;
    const annotations = (metadata as Record<string, unknown>)['annotations'];
    if (typeof annotations !== 'object' || annotations === null) return undefined;
    return (annotations as Record<string, unknown>)[CLUSTER_ANNOTATION];
  } catch {
    return undefined;
  }
}
