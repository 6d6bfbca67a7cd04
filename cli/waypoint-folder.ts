// `weft waypoint` on the embedded cluster: the controller reads folders of manifests
// (`kubectl apply -f DIR` semantics), so a waypoint is a Gateway manifest in the user's folder.
// Existing documents are edited where they are, whichever file holds them; a new Gateway goes
// to `gateway.<namespace>.<name>.yaml` in the first folder. Writes are atomic (a hidden temp
// file renamed into place), so the controller never reads half a file.
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { Document, parseAllDocuments } from 'yaml';
import { WeftError } from '#core/errors.ts';
import { Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { checkWaypointRef, gatewayClassOf, waypointGateway, waypointRow } from '#cli/waypoint-gateway.ts';
import type { WaypointBackend, WaypointRow, WaypointSpec } from '#cli/waypoint-gateway.ts';

const MANIFEST = /\.(ya?ml|json)$/i;

interface Found {
  file: string;
  docs: Document[];
  index: number;
}

export class FolderWaypoints implements WaypointBackend {
  readonly #dirs: readonly string[];

  constructor(dirs: readonly string[]) {
    if (dirs.length === 0) throw new WeftError('WEFT_ERR_WAYPOINT', 'no manifest folder given');
    this.#dirs = dirs;
  }

  defaultNamespace(): string {
    return 'default';
  }

  async apply(spec: WaypointSpec): Promise<string> {
    const gateway = waypointGateway(spec);
    const found = await this.#find('Gateway', spec.namespace, spec.name);
    if (found.length > 1) throw duplicate('Gateway', spec.namespace, spec.name, found);
    const at = found[0];
    if (at === undefined) {
      const file = join(this.#dirs[0] ?? '', `gateway.${spec.namespace}.${spec.name}.yaml`);
      await writeAtomic(file, new Document(gateway).toString());
      return file;
    }
    const cls = gatewayClassOf(at.docs[at.index]?.toJS());
    if (cls !== WAYPOINT_CLASS) throw notWaypoint(spec.namespace, spec.name, cls, at.file);
    at.docs[at.index] = new Document(gateway);
    await writeAtomic(at.file, joinDocs(at.docs));
    return at.file;
  }

  async enrollNamespace(namespace: string, name: string): Promise<void> {
    await this.labelNamespace(namespace, { [Labels.useWaypoint]: name });
  }

  async labelNamespace(namespace: string, labels: Readonly<Record<string, string | null>>): Promise<void> {
    const found = await this.#find('Namespace', '', namespace);
    const at = found[0];
    if (at === undefined) {
      throw new WeftError('WEFT_ERR_NAMESPACE', `no Namespace ${namespace} in ${this.#dirs.join(', ')}`, {
        hint: 'pass the folder that declares the namespace with another --manifests (the embedded cluster writes its own), or add the label there yourself',
      });
    }
    if (found.length > 1) throw duplicate('Namespace', '', namespace, found);
    const doc = at.docs[at.index];
    for (const [key, value] of Object.entries(labels)) {
      if (value === null) doc?.deleteIn(['metadata', 'labels', key]);
      else doc?.setIn(['metadata', 'labels', key], value);
    }
    await writeAtomic(at.file, joinDocs(at.docs));
  }

  async list(namespace: string | undefined): Promise<WaypointRow[]> {
    const rows: WaypointRow[] = [];
    for (const { docs } of await this.#read()) {
      for (const doc of docs) {
        const row = waypointRow(doc.toJS());
        if (row !== undefined && (namespace === undefined || row.namespace === namespace)) rows.push(row);
      }
    }
    return rows;
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    checkWaypointRef(namespace, name);
    const found = await this.#find('Gateway', namespace, name);
    for (const at of found) {
      const cls = gatewayClassOf(at.docs[at.index]?.toJS());
      if (cls !== WAYPOINT_CLASS) throw notWaypoint(namespace, name, cls, at.file);
    }
    // Back to front, so the indexes of earlier documents in the same file stay right.
    for (const at of found.reverse()) {
      at.docs.splice(at.index, 1);
      if (at.docs.length === 0) await rm(at.file, { force: true });
      else await writeAtomic(at.file, joinDocs(at.docs));
    }
    return found.length > 0;
  }

  /** Every document declaring this object; namespaced kinds default to `default` as kubectl does. */
  async #find(kind: string, namespace: string, name: string): Promise<Found[]> {
    const out: Found[] = [];
    for (const { file, docs } of await this.#read()) {
      docs.forEach((doc, index) => {
        const o: unknown = doc.toJS();
        if (typeof o !== 'object' || o === null) return;
        const { kind: k, metadata } = o as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        const ns = kind === 'Namespace' ? '' : typeof metadata?.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : 'default';
        if (k === kind && metadata?.name === name && ns === namespace) out.push({ file, docs, index });
      });
    }
    return out;
  }

  /** The manifest files of the folders, parsed; unreadable YAML is skipped (analyze reports it). */
  async #read(): Promise<{ file: string; docs: Document[] }[]> {
    const out: { file: string; docs: Document[] }[] = [];
    for (const file of (await Promise.all(this.#dirs.map(listTree))).flat().sort()) {
      const docs = parseAllDocuments(await readFile(file, 'utf8'));
      if (!Array.isArray(docs) || docs.some((d) => d.errors.length > 0)) continue;
      out.push({ file, docs: docs.filter((d) => d.contents !== null) });
    }
    return out;
  }
}

async function listTree(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    // Hidden entries are editors' and atomic writers' temporaries, as the controller skips them.
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...await listTree(path));
    else if (MANIFEST.test(e.name)) out.push(path);
  }
  return out;
}

function joinDocs(docs: readonly Document[]): string {
  return docs.map((d) => d.toString()).join('---\n');
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const slash = file.lastIndexOf('/');
  const tmp = `${file.slice(0, slash + 1)}.${file.slice(slash + 1)}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function notWaypoint(namespace: string, name: string, cls: string | undefined, file: string): WeftError {
  return new WeftError('WEFT_ERR_WAYPOINT', `Gateway ${namespace}/${name} in ${file} is of class ${JSON.stringify(cls ?? '')}, not a waypoint`, {
    hint: `pick another --name; weft only manages Gateways of class ${WAYPOINT_CLASS}`,
  });
}

function duplicate(kind: string, namespace: string, name: string, found: readonly Found[]): WeftError {
  const what = namespace === '' ? name : `${namespace}/${name}`;
  return new WeftError('WEFT_ERR_WAYPOINT', `${kind} ${what} is declared more than once (${found.map((f) => f.file).join(', ')})`, {
    hint: 'the controller uses the last file only; keep one declaration',
  });
}
