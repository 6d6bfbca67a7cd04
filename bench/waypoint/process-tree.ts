// A proxy's whole process tree (nginx runs a master and workers), so its CPU and memory are
// counted in full. The kernel here has no /proc/<pid>/task/<tid>/children, so parents are
// read from every /proc/<pid>/stat.
import { readFile, readdir } from 'node:fs/promises';

/** The parent pid (field 4) of a /proc/<pid>/stat line; the name (field 2) may hold spaces and parentheses. */
export function parsePpid(stat: string): number {
  const close = stat.lastIndexOf(')');
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  if (close < 0 || !Number.isInteger(ppid)) throw new Error('not a /proc/<pid>/stat line');
  return ppid;
}

/** root and every process below it, given child → parent links; root first. */
export function subtree(root: number, parents: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    out.push(pid);
    queue.push(...(children.get(pid) ?? []).sort((a, b) => a - b));
  }
  return out;
}

export async function processTree(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    // A process may exit between the listing and the read.
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
    if (stat !== undefined) parents.set(Number(name), parsePpid(stat));
  }
  return subtree(root, parents);
}
