// The waypoint's config stores and their one mutator: pushed updates are validated and
// applied here; the request path only reads. The rejected list applyUpdate returns is the
// NACK sent back to the controller, and a rejected resource keeps its last good value.
import type { Resource, ResourceKind, ResourceRef, Service, Workload } from '#core/config/model.ts';
import type { ServiceRoutes } from '#core/config/routes.ts';
import type { L7Authorization } from '#core/config/l7-authorization.ts';
import type { WaypointTelemetry } from '#core/config/telemetry.ts';
import { validateResources, type RejectedResource } from '#core/config/validate.ts';

export interface WaypointUpdate {
  snapshot: boolean;
  version: string | number;
  updated: readonly unknown[];
  removed: readonly ResourceRef[];
}

type ValueOf<K extends ResourceKind> = Extract<Resource, { kind: K }>['value'];

export class WaypointState {
  readonly #stores = new Map<ResourceKind, Map<string, Resource['value']>>();
  readonly #servicesByVip = new Map<string, Service>();
  readonly #workloadsByIp = new Map<string, Workload>();
  /** service key → uids of the workloads backing it. */
  readonly #endpoints = new Map<string, Set<string>>();
  /** waypoint policies, rebuilt as a new array on change so per-request caches key on it. */
  #policies: readonly L7Authorization[] = [];
  #version: string | undefined;
  readonly #listeners = new Set<() => void>();

  get version(): string | undefined { return this.#version; }
  get hasConfig(): boolean { return this.#version !== undefined; }

  #store<K extends ResourceKind>(kind: K): Map<string, ValueOf<K>> {
    let m = this.#stores.get(kind);
    if (m === undefined) this.#stores.set(kind, (m = new Map<string, Resource['value']>()));
    return m as Map<string, ValueOf<K>>;
  }

  service(key: string): Service | undefined { return this.#store('service').get(key); }
  serviceByVip(ip: string): Service | undefined { return this.#servicesByVip.get(ip); }
  workloadByAddress(ip: string): Workload | undefined { return this.#workloadsByIp.get(ip); }
  workloads(): Workload[] { return [...this.#store('workload').values()]; }
  services(): Service[] { return [...this.#store('service').values()]; }
  routes(serviceKey: string): ServiceRoutes | undefined { return this.#store('routes').get(serviceKey); }
  allRoutes(): ServiceRoutes[] { return [...this.#store('routes').values()]; }
  policies(): readonly L7Authorization[] { return this.#policies; }
  /** The Telemetry settings pushed for this waypoint (its view holds its own only). */
  telemetry(): WaypointTelemetry | undefined { return this.#store('telemetry').values().next().value; }

  endpointsOf(serviceKey: string): Workload[] {
    const out: Workload[] = [];
    const workloads = this.#store('workload');
    for (const uid of this.#endpoints.get(serviceKey) ?? []) {
      const w = workloads.get(uid);
      if (w !== undefined) out.push(w);
    }
    return out;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  applyUpdate(update: WaypointUpdate): { rejected: RejectedResource[] } {
    const { valid, rejected } = validateResources(update.updated);
    const removed: ResourceRef[] = [];
    if (update.snapshot) {
      const keep = new Set([...valid, ...rejected].map((r) => `${r.kind}\u0000${r.key}`));
      for (const [kind, store] of this.#stores) {
        for (const key of store.keys()) if (!keep.has(`${kind}\u0000${key}`)) removed.push({ kind, key });
      }
    }
    for (const ref of update.removed) removed.push(ref);
    let policiesChanged = false;
    for (const ref of removed) policiesChanged = this.#remove(ref) || policiesChanged;
    for (const r of valid) {
      this.#remove({ kind: r.kind, key: r.key });
      this.#put(r);
      if (r.kind === 'l7authorization') policiesChanged = true;
    }
    if (policiesChanged) this.#policies = [...this.#store('l7authorization').values()];
    this.#version = String(update.version);
    for (const l of this.#listeners) l();
    return { rejected };
  }

  #put(r: Resource): void {
    this.#store(r.kind).set(r.key, r.value);
    if (r.kind === 'service') {
      for (const ip of r.value.addresses) this.#servicesByVip.set(ip, r.value);
    } else if (r.kind === 'workload') {
      for (const ip of r.value.addresses) this.#workloadsByIp.set(ip, r.value);
      for (const svc of Object.keys(r.value.services)) {
        let set = this.#endpoints.get(svc);
        if (set === undefined) this.#endpoints.set(svc, (set = new Set()));
        set.add(r.key);
      }
    }
  }

  /** Returns whether an L7 policy went away. */
  #remove(ref: ResourceRef): boolean {
    const store = this.#stores.get(ref.kind);
    const old = store?.get(ref.key);
    if (store === undefined || old === undefined) return false;
    store.delete(ref.key);
    if (ref.kind === 'service') {
      const s = old as Service;
      for (const ip of s.addresses) if (this.#servicesByVip.get(ip) === s) this.#servicesByVip.delete(ip);
    } else if (ref.kind === 'workload') {
      const w = old as Workload;
      for (const ip of w.addresses) if (this.#workloadsByIp.get(ip) === w) this.#workloadsByIp.delete(ip);
      for (const svc of Object.keys(w.services)) {
        const set = this.#endpoints.get(svc);
        set?.delete(ref.key);
        if (set?.size === 0) this.#endpoints.delete(svc);
      }
    }
    return ref.kind === 'l7authorization';
  }
}
