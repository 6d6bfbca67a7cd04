// The latest status conditions of every object the mesh reads: from the model, from
// manifests a source rejected, from deploying waypoints, and from proxies that NACKed a pushed
// resource; plus the addresses of waypoint Gateways. Local mode writes them to status.json for
// the CLI; a Kubernetes writer can subscribe to changes.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResourceRef } from '#core/config/model.ts';
import type { SourceRejection } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

export interface StatusCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  /** ISO time the status last flipped (kept while only the message changes). */
  lastTransitionTime: string;
}

/** An entry of a Gateway's `status.addresses`. */
export interface GatewayStatusAddress {
  type: 'IPAddress' | 'Hostname';
  value: string;
}

/** Gateway API route status: conditions per parentRef (`status.parents[]`). */
export interface ParentStatus {
  parentRef: Readonly<Record<string, unknown>>;
  conditions: StatusCondition[];
}

export interface ObjectStatus {
  kind: string;
  namespace: string;
  name: string;
  conditions: StatusCondition[];
  /** Routes only: the same conditions, grouped by the parent they are about. */
  parents?: ParentStatus[];
  /** Gateways only, when their address is known. */
  addresses?: GatewayStatusAddress[];
}

type Origin = 'model' | 'deploy' | 'source' | 'proxy';

interface Entry extends ResourceCondition {
  origin: Origin;
}

export class StatusStore {
  readonly #now: () => Date;
  readonly #listeners = new Set<() => void>();
  #model: Entry[] = [];
  #deploy: Entry[] = [];
  #source: Entry[] = [];
  /** `namespace/name` of a Gateway → its addresses. */
  #addresses = new Map<string, GatewayStatusAddress[]>();
  readonly #nacks = new Map<string, Entry>();
  /** `kind/ns/name/type` → first time the current status was seen. */
  readonly #since = new Map<string, { status: string; time: string }>();
  #rendered = '';

  constructor(options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  setModelConditions(conditions: readonly ResourceCondition[]): void {
    this.#model = conditions.map((c) => ({ ...c, origin: 'model' }));
    this.#changed();
  }

  /** What deploying waypoints found (applied, or failing): replaces the previous set. */
  setDeployConditions(conditions: readonly ResourceCondition[]): void {
    this.#deploy = conditions.map((c) => ({ ...c, origin: 'deploy' }));
    this.#changed();
  }

  /** `status.addresses` of Gateways, keyed `namespace/name`: replaces the previous set. */
  setGatewayAddresses(addresses: ReadonlyMap<string, readonly GatewayStatusAddress[]>): void {
    this.#addresses = new Map([...addresses].map(([k, list]) => [k, list.map((a) => ({ ...a }))]));
    this.#changed();
  }

  setSourceRejections(rejections: readonly SourceRejection[]): void {
    this.#source = rejections.map((r) => ({
      kind: r.kind ?? 'File',
      namespace: r.namespace ?? '',
      name: r.name ?? r.file ?? '',
      type: 'Accepted',
      status: 'False',
      reason: 'Invalid',
      message: r.file !== undefined && r.name !== undefined ? `${r.file}: ${r.reason}` : r.reason,
      origin: 'source',
    }));
    this.#changed();
  }

  /** A proxy refused a resource the controller pushed. */
  recordNack(ref: ResourceRef, reason: string, client?: string): void {
    const slash = ref.key.indexOf('/');
    const entry: Entry = {
      kind: ref.kind,
      namespace: slash > 0 ? ref.key.slice(0, slash) : '',
      name: slash > 0 ? ref.key.slice(slash + 1) : ref.key,
      type: 'Applied',
      status: 'False',
      reason: 'Rejected',
      message: client === undefined ? reason : `${client}: ${reason}`,
      origin: 'proxy',
    };
    this.#nacks.set(`${ref.kind}/${ref.key}`, entry);
    this.#changed();
  }

  /** A later version was accepted: the NACK no longer holds. */
  clearNack(ref: ResourceRef): void {
    if (this.#nacks.delete(`${ref.kind}/${ref.key}`)) this.#changed();
  }

  list(): ObjectStatus[] {
    const byObject = new Map<string, ObjectStatus>();
    const objectFor = (kind: string, namespace: string, name: string): ObjectStatus => {
      const id = `${kind}/${namespace}/${name}`;
      let obj = byObject.get(id);
      if (obj === undefined) {
        obj = { kind, namespace, name, conditions: [] };
        byObject.set(id, obj);
      }
      return obj;
    };
    for (const [key, e] of this.#winners()) {
      const since = this.#since.get(key);
      const condition: StatusCondition = { type: e.type, status: e.status, reason: e.reason, message: e.message, lastTransitionTime: since?.time ?? '' };
      const obj = objectFor(e.kind, e.namespace, e.name);
      const parentRef = 'parentRef' in e ? (e as { parentRef?: Readonly<Record<string, unknown>> }).parentRef : undefined;
      if (parentRef === undefined) {
        obj.conditions.push(condition);
        continue;
      }
      // A route's own list keeps one condition per type (the first parent's); parents[] has them all.
      if (!obj.conditions.some((c) => c.type === condition.type)) obj.conditions.push(condition);
      obj.parents ??= [];
      const ref = JSON.stringify(parentRef);
      let parent = obj.parents.find((p) => JSON.stringify(p.parentRef) === ref);
      if (parent === undefined) obj.parents.push(parent = { parentRef: { ...parentRef }, conditions: [] });
      parent.conditions.push(condition);
    }
    for (const [key, addresses] of this.#addresses) {
      const slash = key.indexOf('/');
      objectFor('Gateway', key.slice(0, slash), key.slice(slash + 1)).addresses = addresses.map((a) => ({ ...a }));
    }
    return [...byObject.values()].sort((a, b) =>
      a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes `<dir>/status.json` atomically (a reader never sees half a file). */
  async writeLocal(dir: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'status.json');
    const tmp = join(dir, `.status.json.${process.pid}.tmp`);
    await writeFile(tmp, JSON.stringify({ objects: this.list() }, null, 2) + '\n');
    await rename(tmp, path);
    return path;
  }

  /**
   * The condition that holds per `kind/ns/name/type`, in first-seen order. A failure outranks
   * a success of the same type from another origin (a failed deployment beats the model's
   * Programmed; the model's rejection beats an applied deployment); otherwise the later origin
   * wins, so a rejection or NACK outranks the model's view.
   */
  #winners(): Map<string, Entry> {
    const out = new Map<string, Entry>();
    for (const e of [...this.#model, ...this.#deploy, ...this.#source, ...this.#nacks.values()]) {
      const key = `${e.kind}/${e.namespace}/${e.name}/${e.type}${parentKey(e)}`;
      const held = out.get(key);
      if (held === undefined || !(held.status === 'False' && e.status === 'True')) out.set(key, e);
    }
    return out;
  }

  #changed(): void {
    const now = this.#now().toISOString();
    const winners = this.#winners();
    for (const [key, e] of winners) {
      const prev = this.#since.get(key);
      if (prev === undefined || prev.status !== e.status) this.#since.set(key, { status: e.status, time: now });
    }
    for (const key of this.#since.keys()) if (!winners.has(key)) this.#since.delete(key);
    const rendered = JSON.stringify(this.list());
    if (rendered === this.#rendered) return;
    this.#rendered = rendered;
    for (const listener of this.#listeners) listener();
  }
}

/** Conditions about one parent of a route are kept apart from those about another. */
function parentKey(e: ResourceCondition): string {
  const ref = (e as { parentRef?: unknown }).parentRef;
  return ref === undefined ? '' : `/${JSON.stringify(ref)}`;
}
