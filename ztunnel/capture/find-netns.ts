// Finds the network namespace of a running pod without restarting it, from what a node's
// container runtime leaves visible to a DaemonSet with hostPID and /var/run/netns mounted:
// named namespaces (/var/run/netns/*, where CNI runtimes put a pod's sandbox namespace) and
// the namespaces of running processes (/proc/<pid>/ns/net). Rules, in order:
//   1. never ztunnel's own namespace, nor the host's (that of PID 1): a host-network pod is
//      never captured;
//   2. a namespace whose processes' cgroups name the pod's UID (kubepods…pod<uid>) is the
//      pod's, if it holds the pod's IP on a non-loopback interface (else: not ready yet);
//   3. otherwise the one namespace holding the IP, among those no other pod's cgroups claim;
//      two such namespaces is an error, never a guess (a deleted pod's namespace may linger).
// A /proc answer names the namespace through its longest-running process (the pod's
// sandbox, which lives as long as the pod). Used at enrollment only, so it spawns `ip` per
// candidate namespace and caches nothing.
import { readFile, readdir, stat } from 'node:fs/promises';
import net from 'node:net';
import { WeftError } from '#core/errors.ts';
import { runInNetns } from './run.ts';

export interface NetnsRoots {
  /** The host's /proc (the DaemonSet runs with hostPID). */
  procDir: string;
  /** Named namespaces (mounted with HostToContainer propagation). */
  namedDir: string;
}

export const HOST_ROOTS: NetnsRoots = Object.freeze({ procDir: '/proc', namedDir: '/var/run/netns' });

export interface NetnsCandidate {
  /** The path to open it by: its name when it has one, else its oldest process's. */
  path: string;
  ino: number;
  /** Pod UIDs named by the cgroups of processes inside it. */
  podUids: string[];
}

/** What is known of the pod being looked for. */
export interface PodToFind {
  uid: string;
  ip: string;
}

/** Whether `ip -j addr show` output has ip on an interface other than loopback. Pure. */
export function hasAddressOffLoopback(ipAddrJson: unknown, ip: string): boolean {
  if (!Array.isArray(ipAddrJson)) return false;
  return ipAddrJson.some((link: unknown) => {
    if (typeof link !== 'object' || link === null) return false;
    const flags: unknown = Reflect.get(link, 'flags');
    const loopback = Reflect.get(link, 'link_type') === 'loopback' || (Array.isArray(flags) && flags.includes('LOOPBACK'));
    const addrs: unknown = Reflect.get(link, 'addr_info');
    return !loopback && Array.isArray(addrs) && addrs.some((a: unknown) =>
      typeof a === 'object' && a !== null && Reflect.get(a, 'family') === 'inet' && Reflect.get(a, 'local') === ip);
  });
}

// kubelet names a pod's cgroup after its UID: "pod<uid>" (cgroupfs driver) or
// "kubepods-<qos>-pod<uid with _ for ->.slice" (systemd driver), under cgroup v1 or v2.
const POD_CGROUP = /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?=\/|$)/i;

/** The pod UID a /proc/<pid>/cgroup text names, or undefined (not a Kubernetes pod). Pure. */
export function podUidFromCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    const m = POD_CGROUP.exec(path);
    if (m?.[1] !== undefined) return m[1].replaceAll('_', '-').toLowerCase();
  }
  return undefined;
}

/** Start time of a process in clock ticks (field 22 of /proc/<pid>/stat), or undefined. Pure. */
export function startTimeFromStat(text: string): number | undefined {
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]);
  return Number.isFinite(v) ? v : undefined;
}

async function inode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined; // gone, or not ours to see
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** Every namespace visible through roots, one entry each, without ours and the host's. */
export async function listNetns(roots: NetnsRoots = HOST_ROOTS): Promise<NetnsCandidate[]> {
  const excluded = new Set<number>();
  for (const who of ['self', '1']) {
    const ino = await inode(`${roots.procDir}/${who}/ns/net`);
    if (ino !== undefined) excluded.add(ino);
  }
  const byIno = new Map<number, { named?: string; oldest?: { path: string; start: number }; podUids: Set<string> }>();
  const entry = (ino: number) => {
    let e = byIno.get(ino);
    if (e === undefined) byIno.set(ino, e = { podUids: new Set() });
    return e;
  };
  for (const name of (await listDir(roots.namedDir)).sort()) {
    if (name.startsWith('.')) continue;
    const path = `${roots.namedDir}/${name}`;
    const ino = await inode(path);
    if (ino === undefined || excluded.has(ino)) continue;
    const e = entry(ino);
    e.named ??= path;
  }
  for (const pid of await listDir(roots.procDir)) {
    if (!/^\d+$/.test(pid)) continue;
    const path = `${roots.procDir}/${pid}/ns/net`;
    const ino = await inode(path);
    if (ino === undefined || excluded.has(ino)) continue;
    const e = entry(ino);
    const uid = podUidFromCgroup(await readText(`${roots.procDir}/${pid}/cgroup`));
    if (uid !== undefined) e.podUids.add(uid);
    const start = startTimeFromStat(await readText(`${roots.procDir}/${pid}/stat`)) ?? Number.MAX_SAFE_INTEGER;
    if (e.oldest === undefined || start < e.oldest.start) e.oldest = { path, start };
  }
  const out: NetnsCandidate[] = [];
  for (const [ino, e] of byIno) {
    const path = e.named ?? e.oldest?.path;
    if (path !== undefined) out.push({ path, ino, podUids: [...e.podUids].sort() });
  }
  return out;
}

/**
 * Applies rules 2 and 3 to the candidates: the path of the pod's namespace, or undefined
 * when none holds its address yet. `holds` asks a namespace whether it has the IP.
 */
export async function pickNetns(candidates: readonly NetnsCandidate[], pod: PodToFind, holds: (path: string) => Promise<boolean>): Promise<string | undefined> {
  const uid = pod.uid.toLowerCase();
  const own = candidates.filter((c) => c.podUids.includes(uid));
  if (own.length > 0) {
    for (const c of own) if (await holds(c.path)) return c.path;
    return undefined; // the pod's sandbox is there, its address not yet
  }
  const found: string[] = [];
  for (const c of candidates) {
    if (c.podUids.length > 0) continue; // another pod's
    if (await holds(c.path)) found.push(c.path);
  }
  if (found.length > 1) {
    throw new WeftError('WEFT_ERR_CAPTURE_NETNS', `${pod.ip} is on more than one network namespace (${found.join(', ')}); not guessing which is pod ${pod.uid}`, {
      hint: 'a deleted pod\'s namespace may still hold the address; it is retried until only one does',
    });
  }
  return found[0];
}

async function holdsAddress(path: string, ip: string): Promise<boolean> {
  let text: string;
  try {
    text = await runInNetns(path, ['ip', '-j', '-4', 'addr', 'show']);
  } catch {
    return false; // the process exited meanwhile
  }
  try {
    return hasAddressOffLoopback(JSON.parse(text), ip);
  } catch {
    return false;
  }
}

/**
 * The path of the pod's namespace (rules above), or undefined when none is found yet. A
 * /proc/<pid>/ns/net answer lives only as long as that process: open it promptly.
 */
export async function findPodNetns(pod: PodToFind, roots: NetnsRoots = HOST_ROOTS): Promise<string | undefined> {
  if (!net.isIPv4(pod.ip)) throw new WeftError('WEFT_ERR_CAPTURE_CONFIG', `${JSON.stringify(pod.ip)} is not an IPv4 address`);
  return pickNetns(await listNetns(roots), pod, (path) => holdsAddress(path, pod.ip));
}

/** The namespace holding ip, for a pod whose UID is not known (no cgroup rule). */
export async function findNetnsByAddress(ip: string, roots: NetnsRoots = HOST_ROOTS): Promise<string | undefined> {
  return findPodNetns({ uid: '', ip }, roots);
}
