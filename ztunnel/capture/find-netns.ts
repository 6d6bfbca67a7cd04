// Finds the network namespace of a running pod from its IPv4 address, without restarting it:
// named namespaces first (/var/run/netns), then those of running processes. Used at
// enrollment only, so it spawns `ip` per candidate namespace and caches nothing.
import { readdir, stat } from 'node:fs/promises';
import net from 'node:net';
import { WeftError } from '#core/errors.ts';
import { runInNetns } from './run.ts';

const NAMED_DIR = '/var/run/netns';

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

/** Candidate namespace paths, one per distinct namespace, never our own. */
async function* candidates(): AsyncGenerator<string> {
  const seen = new Set<number>();
  const own = await inode('/proc/self/ns/net');
  if (own !== undefined) seen.add(own);
  const named = (await listDir(NAMED_DIR)).sort().map((name) => `${NAMED_DIR}/${name}`);
  const processes = (await listDir('/proc')).filter((name) => /^\d+$/.test(name)).map((pid) => `/proc/${pid}/ns/net`);
  for (const path of [...named, ...processes]) {
    const ino = await inode(path);
    if (ino === undefined || seen.has(ino)) continue;
    seen.add(ino);
    yield path;
  }
}

/**
 * The path of the namespace holding ip on a non-loopback interface, or undefined. A
 * /proc/<pid>/ns/net answer lives only as long as that process: open it promptly.
 */
export async function findNetnsByAddress(ip: string): Promise<string | undefined> {
  if (!net.isIPv4(ip)) throw new WeftError('WEFT_ERR_CAPTURE_CONFIG', `${JSON.stringify(ip)} is not an IPv4 address`);
  for await (const path of candidates()) {
    let text: string;
    try {
      text = await runInNetns(path, ['ip', '-j', '-4', 'addr', 'show']);
    } catch {
      continue; // the process exited meanwhile
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      continue;
    }
    if (hasAddressOffLoopback(json, ip)) return path;
  }
  return undefined;
}
