// The capture ledger: which network namespaces this ztunnel put capture rules into, kept in
// its state folder so that it outlives a restart. A restarted ztunnel adopts the pods it still
// serves and sweeps the capture of those that left while it was down (sweep.ts decides);
// without the ledger it could not tell which namespaces of the node are its to clean.
//   <stateDir>/captured/<uid>.json   { uid, ip, netnsPath, netnsId }
// Records are few (one per captured pod) and held in memory; every change is written through.
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { recordFileName, writeAtomic } from '#ztunnel/enroll/node-dir.ts';

export interface CapturedRecord {
  uid: string;
  ip: string;
  netnsPath: string;
  /** Inode of the namespace when captured: a path naming another namespace now is not swept. */
  netnsId: number | undefined;
}

export interface CaptureLedger {
  records(): readonly CapturedRecord[];
  put(r: CapturedRecord): Promise<void>;
  remove(uid: string): Promise<void>;
}

function parseRecord(value: unknown): CapturedRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const uid: unknown = Reflect.get(value, 'uid');
  const ip: unknown = Reflect.get(value, 'ip');
  const netnsPath: unknown = Reflect.get(value, 'netnsPath');
  const netnsId: unknown = Reflect.get(value, 'netnsId');
  if (typeof uid !== 'string' || typeof ip !== 'string' || typeof netnsPath !== 'string' || !netnsPath.startsWith('/')) return undefined;
  return { uid, ip, netnsPath, netnsId: typeof netnsId === 'number' ? netnsId : undefined };
}

export class DirLedger implements CaptureLedger {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #records = new Map<string, CapturedRecord>();

  private constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** Reads the ledger under stateDir; unreadable records are logged and dropped. */
  static async open(stateDir: string, logger: Logger): Promise<DirLedger> {
    const l = new DirLedger(join(stateDir, 'captured'), logger.child({ component: 'ledger' }));
    const names = await readdir(l.#dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      let r: CapturedRecord | undefined;
      try {
        r = parseRecord(JSON.parse(await readFile(join(l.#dir, name), 'utf8')));
      } catch (err) {
        l.#log.warn('capture ledger record unreadable; dropped', { file: name, err: errorMessage(err) });
      }
      if (r === undefined || recordFileName(r.uid) !== name) {
        await unlink(join(l.#dir, name)).catch(() => undefined);
        continue;
      }
      l.#records.set(r.uid, r);
    }
    return l;
  }

  records(): readonly CapturedRecord[] { return [...this.#records.values()]; }

  async put(r: CapturedRecord): Promise<void> {
    const have = this.#records.get(r.uid);
    if (have !== undefined && have.ip === r.ip && have.netnsPath === r.netnsPath && have.netnsId === r.netnsId) return;
    this.#records.set(r.uid, { ...r });
    await writeAtomic(this.#dir, recordFileName(r.uid), r);
  }

  async remove(uid: string): Promise<void> {
    if (!this.#records.delete(uid)) return;
    await unlink(join(this.#dir, recordFileName(uid))).catch(() => undefined);
  }
}
