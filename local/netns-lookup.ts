// Finds the named netns that holds an address, the way a node agent finds a running pod's
// network namespace from the pod IP it was told about.
import { runCommand } from './run.ts';
import { listNetns } from './ip.ts';
import { NETNS_DIR } from './netns-member.ts';

export interface NetnsMatch {
  readonly netns: string;
  readonly netnsPath: string;
}

/**
 * The named netns (among those starting with prefix, when given) with ip on one of its
 * interfaces other than lo; undefined if none. Looks at every candidate, so keep prefix tight.
 */
export async function findNetnsByIp(ip: string, prefix?: string): Promise<NetnsMatch | undefined> {
  const candidates = (await listNetns()).filter((n) => prefix === undefined || n.startsWith(prefix));
  const hits = await Promise.all(candidates.map(async (netns) => {
    const res = await runCommand('ip', ['-n', netns, '-o', '-4', 'addr', 'show']);
    const found = res.stdout.split('\n').some((line) => {
      const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(line);
      return m !== null && m[1] !== 'lo' && m[2] === ip;
    });
    return found ? netns : undefined;
  }));
  const netns = hits.find((n) => n !== undefined);
  return netns === undefined ? undefined : { netns, netnsPath: `${NETNS_DIR}/${netns}` };
}
