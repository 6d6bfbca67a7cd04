// Who owns a cluster name and an address index: an owner record under /run/weft/<name>/ and
// one claim file per index, both created atomically, both checked against a live pid (plus
// its start time, so a recycled pid does not count as the old owner).
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { WeftError } from '#core/errors.ts';
import { MAX_CLUSTERS } from './addressing.ts';

export const RUN_DIR = process.env['WEFT_RUN_DIR'] ?? '/run/weft';

export interface OwnerRecord {
  readonly name: string;
  readonly prefix: string;
  readonly pid: number;
  /** Start time of pid (clock ticks since boot, from /proc/<pid>/stat). */
  readonly pidStart: string;
  readonly index: number;
  readonly manifestDir: string | null;
  readonly startedAt: string;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, pidStart: string): boolean {
  return processStartTime(pid) === pidStart;
}

export function selfOwner(): { pid: number; pidStart: string } {
  return { pid: process.pid, pidStart: processStartTime(process.pid) ?? '' };
}

function ownerDir(name: string): string {
  return join(RUN_DIR, name);
}

function indexFile(index: number): string {
  return join(RUN_DIR, `index-${index}.json`);
}

export async function readOwner(name: string): Promise<OwnerRecord | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(ownerDir(name), 'owner.json'), 'utf8'));
    return isOwnerRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isOwnerRecord(v: unknown): v is OwnerRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r['name'] === 'string' && typeof r['prefix'] === 'string' && typeof r['pid'] === 'number' &&
    typeof r['pidStart'] === 'string' && typeof r['index'] === 'number' &&
    (typeof r['manifestDir'] === 'string' || r['manifestDir'] === null) && typeof r['startedAt'] === 'string';
}

/** Every owner record under the run directory. */
export async function listOwners(): Promise<OwnerRecord[]> {
  let entries: string[];
  try {
    entries = await readdir(RUN_DIR);
  } catch {
    return [];
  }
  const owners = await Promise.all(entries.filter((e) => !e.startsWith('.') && !e.startsWith('index-')).map(readOwner));
  return owners.filter((o): o is OwnerRecord => o !== undefined);
}

/**
 * Creates /run/weft/<name>/owner.json in one step (a filled temp directory renamed into place),
 * so a reader never sees a half-written claim. Returns false if the name is already claimed.
 */
export async function claimName(record: OwnerRecord): Promise<boolean> {
  await mkdir(RUN_DIR, { recursive: true });
  const tmp = join(RUN_DIR, `.claim-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, 'owner.json'), JSON.stringify(record, null, 2) + '\n');
    await rename(tmp, ownerDir(record.name));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function writeOwner(record: OwnerRecord): Promise<void> {
  const file = join(ownerDir(record.name), 'owner.json');
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n');
  await rename(tmp, file);
}

export async function releaseName(name: string): Promise<void> {
  await rm(ownerDir(name), { recursive: true, force: true });
}

interface IndexClaim { name: string; pid: number; pidStart: string }

async function readIndexClaim(index: number): Promise<IndexClaim | undefined> {
  try {
    const v: unknown = JSON.parse(await readFile(indexFile(index), 'utf8'));
    if (typeof v !== 'object' || v === null) return undefined;
    const r = v as Record<string, unknown>;
    const { name, pid, pidStart } = r;
    return typeof name === 'string' && typeof pid === 'number' && typeof pidStart === 'string'
      ? { name, pid, pidStart } : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lowest free index 0..15, taking over indexes whose owner has died. */
export async function claimIndex(name: string): Promise<number> {
  await mkdir(RUN_DIR, { recursive: true });
  const me = selfOwner();
  const body = JSON.stringify({ name, ...me }) + '\n';
  for (let index = 0; index < MAX_CLUSTERS; index++) {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(indexFile(index), 'wx');
        try {
          await fh.writeFile(body);
        } finally {
          await fh.close();
        }
        return index;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const claim = await readIndexClaim(index);
      if (claim === undefined) {
        // A claim being written right now reads as empty: leave it to its writer, unless it
        // has stayed empty long enough to be the remains of a crash.
        const age = await stat(indexFile(index)).then((st) => Date.now() - st.mtimeMs, () => 0);
        if (age < 5000) break;
      } else if (isAlive(claim.pid, claim.pidStart)) {
        break;
      }
      await unlink(indexFile(index)).catch(() => undefined);
    }
  }
  throw new WeftError('WEFT_ERR_LOCAL_NO_INDEX', `all ${MAX_CLUSTERS} embedded cluster slots are in use`, {
    hint: 'stop other embedded clusters, or sweep dead ones with LocalCluster.sweep()',
  });
}

/** Removes the index claims held by name. */
export async function releaseIndexes(name: string): Promise<void> {
  for (let index = 0; index < MAX_CLUSTERS; index++) {
    const claim = await readIndexClaim(index);
    if (claim?.name === name) await unlink(indexFile(index)).catch(() => undefined);
  }
}
