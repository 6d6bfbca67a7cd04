// Removes what an embedded cluster left behind: processes in its netns, the netns (which
// takes their veths, bridge and iptables rules along), root-netns links, claims, manifests.
import { WeftError } from '#core/errors.ts';
import { ipBatchForce, listNetns, listRootLinks, netnsPids } from './ip.ts';
import { clusterPrefix } from './naming.ts';
import { isAlive, listOwners, readOwner, releaseIndexes, releaseName } from './ownership.ts';
import { removeClusterManifests } from './manifest-writer.ts';

/** Kernel objects whose names start with `<prefix>-`. */
export async function sweepKernelObjects(prefix: string): Promise<void> {
  const owned = `${prefix}-`;
  const netns = (await listNetns()).filter((n) => n.startsWith(owned));
  const pids = (await Promise.all(netns.map(netnsPids))).flat();
  for (const pid of new Set(pids)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ipBatchForce(netns.map((n) => `netns del ${n}`));
  // Deleting the underlay netns takes the host veth with it; this catches anything left over.
  const links = (await listRootLinks()).filter((l) => l.startsWith(owned));
  await ipBatchForce(links.map((l) => `link del ${l}`));
}

/**
 * Sweeps the leftovers of the cluster called name, or of every cluster whose owner process is
 * gone when name is omitted. A live cluster is refused. Returns the names swept.
 */
export async function sweepClusters(name?: string): Promise<string[]> {
  if (name !== undefined) {
    const owner = await readOwner(name);
    if (owner !== undefined && isAlive(owner.pid, owner.pidStart)) {
      throw new WeftError('WEFT_ERR_LOCAL_NAME_IN_USE', `embedded cluster ${name} is running (pid ${owner.pid})`, {
        hint: 'stop it first; only clusters whose process has died are swept',
      });
    }
    await sweepKernelObjects(owner?.prefix ?? clusterPrefix(name));
    if (owner?.manifestDir != null) await removeClusterManifests(owner.manifestDir, name);
    await releaseIndexes(name);
    await releaseName(name);
    return [name];
  }
  const dead = (await listOwners()).filter((o) => !isAlive(o.pid, o.pidStart));
  for (const o of dead) await sweepClusters(o.name);
  return dead.map((o) => o.name);
}
