// The node-local enrollment interface as files: a per-node folder that whoever creates pods on
// the node (a CNI plugin, the node's pod watch, the embedded cluster) writes pod and namespace
// records into, and ztunnel answers with one ack per pod. Files outlive a ztunnel restart,
// so a restarted ztunnel knows every pod of its node before the controller answers.
//   <dir>/ztunnel.json            a ztunnel captures this node's pods (kept across restarts)
//   <dir>/pods/<uid>.json         NodePod, written at pod creation, removed at deletion
//   <dir>/namespaces/<name>.json  NodeNamespace, rewritten when its labels change
//   <dir>/acks/<uid>.json         CaptureAck, written by ztunnel
// Every write is a temp file renamed into place; readers skip dot files.
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { errorMessage } from '#core/errors.ts';
import { parseNodeNamespace, parseNodePod, type CaptureAck, type NodeNamespace, type NodePod } from '#ztunnel/enroll/node-pods.ts';

export const NodeDirLayout = {
  marker: 'ztunnel.json',
  pods: 'pods',
  namespaces: 'namespaces',
  acks: 'acks',
} as const;

/** The marker's content: which ztunnel took the node, for operators reading the folder. */
export interface NodeDirMarker {
  node: string;
  pid: number;
  since: string;
}

/** A uid as a file name: nothing that is a path separator or hides the file. */
export function recordFileName(key: string): string {
  return `${encodeURIComponent(key).replace(/^\./, '%2E')}.json`;
}

/** Writes body as JSON to dir/file through a temp file renamed into place. */
export async function writeAtomic(dir: string, file: string, body: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${file}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(tmp, `${JSON.stringify(body)}\n`);
  await rename(tmp, join(dir, file));
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

/** Records a pod created on the node (the CNI ADD); replaces an earlier record of the same uid. */
export async function writeNodePod(dir: string, pod: NodePod): Promise<void> {
  await writeAtomic(join(dir, NodeDirLayout.pods), recordFileName(pod.uid), pod);
}

/** Forgets a pod (the CNI DEL); its ack goes too. A pod never recorded is fine. */
export async function removeNodePod(dir: string, uid: string): Promise<void> {
  await unlinkQuiet(join(dir, NodeDirLayout.pods, recordFileName(uid)));
  await unlinkQuiet(join(dir, NodeDirLayout.acks, recordFileName(uid)));
}

export async function writeNodeNamespace(dir: string, ns: NodeNamespace): Promise<void> {
  await writeAtomic(join(dir, NodeDirLayout.namespaces), `${ns.name}.json`, ns);
}

export async function writeMarker(dir: string, marker: NodeDirMarker): Promise<void> {
  await writeAtomic(dir, NodeDirLayout.marker, marker);
}

export async function removeMarker(dir: string): Promise<void> {
  await unlinkQuiet(join(dir, NodeDirLayout.marker));
}

/** Whether a ztunnel has taken this node: then a new pod waits for its ack before it runs. */
export async function nodeDirServed(dir: string): Promise<boolean> {
  return readFile(join(dir, NodeDirLayout.marker)).then(() => true, () => false);
}

export async function writeAck(dir: string, ack: CaptureAck): Promise<void> {
  await writeAtomic(join(dir, NodeDirLayout.acks), recordFileName(ack.uid), ack);
}

export async function removeAck(dir: string, uid: string): Promise<void> {
  await unlinkQuiet(join(dir, NodeDirLayout.acks, recordFileName(uid)));
}

function parseAck(v: unknown): CaptureAck | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { uid, captured, reason } = v as Record<string, unknown>;
  return typeof uid === 'string' && typeof captured === 'boolean' && typeof reason === 'string' ? { uid, captured, reason } : undefined;
}

export async function readAck(dir: string, uid: string): Promise<CaptureAck | undefined> {
  try {
    return parseAck(JSON.parse(await readFile(join(dir, NodeDirLayout.acks, recordFileName(uid)), 'utf8')));
  } catch {
    return undefined;
  }
}

/** Polls for a pod's ack; undefined when none came within timeoutMs (or the wait was given up). */
export async function waitForAck(
  dir: string, uid: string, timeoutMs: number, opts: { pollMs?: number; givenUp?: () => boolean } = {},
): Promise<CaptureAck | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ack = await readAck(dir, uid);
    if (ack !== undefined || Date.now() >= deadline || opts.givenUp?.() === true) return ack;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 25));
  }
}

/** A file the reader could not use, and why (it is skipped, the rest still count). */
export interface RecordProblem {
  file: string;
  reason: string;
}

export interface NodeDirContents {
  pods: NodePod[];
  namespaces: Map<string, NodeNamespace>;
  acks: Map<string, CaptureAck>;
  problems: RecordProblem[];
}

async function readJsonFiles(dir: string): Promise<{ file: string; value: unknown; error?: string }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: { file: string; value: unknown; error?: string }[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      out.push({ file, value: JSON.parse(await readFile(file, 'utf8')) as unknown });
    } catch (err) {
      // Gone between readdir and read (a removal) is not a problem.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') out.push({ file, value: undefined, error: errorMessage(err) });
    }
  }
  return out;
}

/** Everything the folder holds now; a missing folder reads as empty. */
export async function readNodeDir(dir: string): Promise<NodeDirContents> {
  const contents: NodeDirContents = { pods: [], namespaces: new Map(), acks: new Map(), problems: [] };
  for (const f of await readJsonFiles(join(dir, NodeDirLayout.pods))) {
    const p = f.error === undefined ? parseNodePod(f.value) : f.error;
    if (typeof p === 'string') contents.problems.push({ file: f.file, reason: p });
    else contents.pods.push(p);
  }
  for (const f of await readJsonFiles(join(dir, NodeDirLayout.namespaces))) {
    const n = f.error === undefined ? parseNodeNamespace(f.value) : f.error;
    if (typeof n === 'string') contents.problems.push({ file: f.file, reason: n });
    else contents.namespaces.set(n.name, n);
  }
  for (const f of await readJsonFiles(join(dir, NodeDirLayout.acks))) {
    const a = parseAck(f.value);
    if (a !== undefined) contents.acks.set(a.uid, a);
  }
  return contents;
}
