// A cluster source backed by folders of manifests, with `kubectl apply -f DIR` semantics:
// each file contributes its objects, a changed file replaces its contribution, a deleted
// file withdraws it. The embedded cluster and the user both write into such folders.
import { watch, type Dirent, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { isObject } from '#controller/source/fields.ts';
import { parseObject } from '#controller/source/parse.ts';
import {
  emptyClusterObjects,
  objectKey,
  type ClusterObject,
  type ClusterObjects,
  type ClusterSource,
  type Namespace,
  type SourceRejection,
} from '#controller/source/types.ts';

export interface LocalSourceOptions {
  /** Folders scanned recursively; created when missing so a writer can start later. */
  dirs: string[];
  logger: Logger;
  /** Quiet time after the last file event before rescanning. */
  debounceMs?: number;
}

interface FileEntry {
  /** Identity of the version parsed, so unchanged files are not parsed again. */
  stamp: string;
  objects: ClusterObject[];
  rejections: SourceRejection[];
}

const MANIFEST = /\.(ya?ml|json)$/i;

export class LocalSource implements ClusterSource {
  readonly #dirs: string[];
  readonly #logger: Logger;
  readonly #debounceMs: number;
  readonly #listeners = new Set<() => void>();
  #files = new Map<string, FileEntry>();
  #snapshot: ClusterObjects = emptyClusterObjects();
  #fingerprint = '';
  #rejections: SourceRejection[] = [];
  /** One watcher per directory: Node's recursive mode on Linux loses files replaced by rename. */
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #rescanAgain = false;
  #stopped = false;

  constructor(options: LocalSourceOptions) {
    this.#dirs = [...options.dirs];
    this.#logger = options.logger.child({ component: 'local-source' });
    this.#debounceMs = options.debounceMs ?? 50;
  }

  async start(): Promise<void> {
    for (const dir of this.#dirs) await mkdir(dir, { recursive: true });
    await this.#rescan();
  }

  current(): ClusterObjects {
    return this.#snapshot;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  rejected(): ReadonlyArray<SourceRejection> {
    return this.#rejections;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#scanning;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#rescan().catch((err: unknown) => this.#logger.error('rescan failed', { err }));
    }, this.#debounceMs);
  }

  /** One scan at a time; events during a scan trigger exactly one more. */
  async #rescan(): Promise<void> {
    if (this.#scanning !== undefined) {
      this.#rescanAgain = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#rescanAgain = false;
        await this.#scanOnce();
      } while (this.#rescanAgain && !this.#stopped);
    })();
    try {
      await this.#scanning;
    } finally {
      this.#scanning = undefined;
    }
  }

  async #scanOnce(): Promise<void> {
    const paths: string[] = [];
    const dirs: string[] = [];
    for (const dir of this.#dirs) {
      const found = await listTree(dir);
      paths.push(...found.files);
      dirs.push(...found.dirs);
    }
    paths.sort();
    this.#watchDirs(dirs);
    const next = new Map<string, FileEntry>();
    for (const path of paths) {
      const entry = await this.#load(path);
      if (entry !== undefined) next.set(path, entry);
    }
    this.#files = next;
    this.#publish();
  }

  /** Watches every directory of the trees (new subfolders included), drops vanished ones. */
  #watchDirs(dirs: readonly string[]): void {
    if (this.#stopped) return;
    const wanted = new Set(dirs);
    for (const [dir, w] of this.#watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.#schedule());
        w.on('error', (err) => {
          this.#logger.debug('watch ended', { dir, err });
          w.close();
          this.#watchers.delete(dir);
          this.#schedule();
        });
        this.#watchers.set(dir, w);
      } catch (err) {
        this.#logger.warn('cannot watch folder', { dir, err });
      }
    }
  }

  async #load(path: string): Promise<FileEntry | undefined> {
    let stamp: string;
    let text: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      const previous = this.#files.get(path);
      if (previous?.stamp === stamp) return previous;
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Removed between listing and reading: the next event rescans.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { stamp: 'unreadable', objects: [], rejections: [{ file: path, reason: `cannot read: ${errorMessage(err)}` }] };
    }
    return { stamp, ...parseFile(path, text) };
  }

  #publish(): void {
    const merged = mergeFiles(this.#files);
    this.#rejections = merged.rejections;
    const fingerprint = JSON.stringify([...this.#files].map(([p, e]) => [p, e.objects, e.rejections]));
    if (fingerprint === this.#fingerprint) return;
    this.#fingerprint = fingerprint;
    this.#snapshot = merged.objects;
    this.#logger.debug('manifests changed', { files: this.#files.size, rejected: this.#rejections.length });
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#logger.error('change listener failed', { err });
      }
    }
  }
}

/** Manifest files and folders below `root`. Hidden entries are editors' and atomic writers' temporaries. */
async function listTree(root: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    dirs.push(dir);
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if ((e.isFile() || e.isSymbolicLink()) && MANIFEST.test(e.name)) files.push(path);
    }
  };
  await walk(root);
  return { files, dirs };
}

/** Parses one file's documents; `kind: List` items are unpacked as kubectl does. */
export function parseFile(file: string, text: string): { objects: ClusterObject[]; rejections: SourceRejection[] } {
  const objects: ClusterObject[] = [];
  const rejections: SourceRejection[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    const at = `document ${index}`;
    if (doc.errors.length > 0) {
      rejections.push({ file, reason: `${at}: not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}` });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document, e.g. a trailing `---`
    const items = isObject(value) && value['kind'] === 'List' && Array.isArray(value['items']) ? (value['items'] as unknown[]) : [value];
    items.forEach((item, i) => {
      const where = items.length === 1 && item === value ? at : `${at} item ${i}`;
      const result = parseObject(item);
      if (result.ok) objects.push(result.object);
      else {
        const { ok: _ok, reason, ...ref } = result;
        rejections.push({ file, ...ref, reason: `${where}: ${reason}` });
      }
    });
  });
  return { objects, rejections };
}

/** Later files (in path order) win when two declare the same object; the loser is reported. */
export function mergeFiles(files: ReadonlyMap<string, { objects: ClusterObject[]; rejections: SourceRejection[] }>): {
  objects: ClusterObjects;
  rejections: SourceRejection[];
} {
  const out = emptyClusterObjects();
  const maps = out as unknown as Record<keyof ClusterObjects, Map<string, ClusterObject>>;
  const origin = new Map<string, string>();
  const rejections: SourceRejection[] = [];
  for (const [file, entry] of files) {
    rejections.push(...entry.rejections);
    for (const obj of entry.objects) {
      const key = objectKey(obj.metadata);
      const id = `${obj.kind}/${key}`;
      const earlier = origin.get(id);
      if (earlier !== undefined && earlier !== file) {
        rejections.push({
          file: earlier,
          kind: obj.kind,
          ...(obj.metadata.namespace === '' ? {} : { namespace: obj.metadata.namespace }),
          name: obj.metadata.name,
          reason: `also declared in ${relative(process.cwd(), file)}, which wins`,
        });
      }
      origin.set(id, file);
      maps[collectionOf(obj)].set(key, obj);
    }
  }
  addImplicitNamespaces(maps['namespaces'] as Map<string, Namespace>, out);
  return { objects: out, rejections };
}

function collectionOf(obj: ClusterObject): keyof ClusterObjects {
  switch (obj.kind) {
    case 'Namespace': return 'namespaces';
    case 'Pod': return 'pods';
    case 'Service': return 'services';
    case 'EndpointSlice': return 'endpointSlices';
    case 'Node': return 'nodes';
    case 'Gateway': return 'gateways';
    case 'HTTPRoute': return 'httpRoutes';
    case 'GRPCRoute': return 'grpcRoutes';
    case 'AuthorizationPolicy': return 'authorizationPolicies';
    case 'PeerAuthentication': return 'peerAuthentications';
    case 'VirtualService': return 'virtualServices';
    case 'DestinationRule': return 'destinationRules';
    case 'BackendTrafficPolicy': return 'backendTrafficPolicies';
    case 'Telemetry': return 'telemetries';
  }
}

/** Objects in an undeclared namespace still work: the namespace exists, without labels. */
function addImplicitNamespaces(namespaces: Map<string, Namespace>, objects: ClusterObjects): void {
  const all: ReadonlyMap<string, ClusterObject>[] = [
    objects.pods, objects.services, objects.endpointSlices, objects.gateways, objects.httpRoutes,
    objects.grpcRoutes, objects.authorizationPolicies, objects.peerAuthentications, objects.virtualServices, objects.destinationRules,
    objects.backendTrafficPolicies, objects.telemetries,
  ];
  for (const map of all) {
    for (const obj of map.values()) {
      const ns = obj.metadata.namespace;
      if (ns !== '' && !namespaces.has(ns)) {
        namespaces.set(ns, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, namespace: '', labels: {}, annotations: {} } });
      }
    }
  }
}
