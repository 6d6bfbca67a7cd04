// ztunnel's config stores and their one mutator: pushed updates are validated and applied
// here; everything else reads through StateView. The rejected list returned by applyUpdate
// is the NACK sent back to the controller.
import { type Authorization, type Resource, type ResourceKind, type ResourceRef, type Service, type Workload } from '#core/config/model.ts';
import { selectPolicies } from '#ztunnel/rbac/select.ts';
import { validateResources, type RejectedResource } from '#core/config/validate.ts';
import type { StateView } from '#ztunnel/state/view.ts';

export interface StateUpdate {
  /** A snapshot replaces everything: resources it does not list are removed. */
  snapshot: boolean;
  version: string | number;
  updated: readonly unknown[];
  removed: readonly ResourceRef[];
}

export type Rejection = RejectedResource;

export interface StateChange {
  version: string;
  /** Resources added or changed (valid ones only). */
  updated: ResourceRef[];
  removed: ResourceRef[];
}

export type StateListener = (change: StateChange, state: StateView) => void;

const KINDS: readonly ResourceKind[] = ['workload', 'service', 'authorization'];

export class ProxyState implements StateView {
  readonly #workloads = new Map<string, Workload>();
  readonly #workloadsByIp = new Map<string, Workload>();
  readonly #services = new Map<string, Service>();
  readonly #servicesByVip = new Map<string, Service>();
  readonly #authorizations = new Map<string, Authorization>();
  /** service key → uids of workloads that back it. */
  readonly #endpoints = new Map<string, Set<string>>();
  readonly #listeners = new Set<StateListener>();
  #version: string | undefined;

  get version(): string | undefined { return this.#version; }
  get hasConfig(): boolean { return this.#version !== undefined; }

  workload(uid: string): Workload | undefined { return this.#workloads.get(uid); }
  workloadByAddress(ip: string): Workload | undefined { return this.#workloadsByIp.get(ip); }
  service(key: string): Service | undefined { return this.#services.get(key); }
  serviceByVip(ip: string): Service | undefined { return this.#servicesByVip.get(ip); }
  authorization(key: string): Authorization | undefined { return this.#authorizations.get(key); }
  workloads(): Workload[] { return [...this.#workloads.values()]; }
  services(): Service[] { return [...this.#services.values()]; }
  authorizations(): Authorization[] { return [...this.#authorizations.values()]; }

  endpointsOf(serviceKey: string): Workload[] {
    const out: Workload[] = [];
    for (const uid of this.#endpoints.get(serviceKey) ?? []) {
      const w = this.#workloads.get(uid);
      if (w !== undefined) out.push(w);
    }
    return out;
  }

  policiesFor(workload: Workload): Authorization[] {
    return selectPolicies(workload, this.#authorizations.values());
  }

  /** Subscribe to applied changes; returns the unsubscribe function. */
  onChange(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Validates and applies an update; returns the resources refused (the NACK list). */
  applyUpdate(update: StateUpdate): { rejected: Rejection[] } {
    const { valid, rejected } = validateResources(update.updated);

    const removed: ResourceRef[] = [];
    if (update.snapshot) {
      // A rejected resource in a snapshot keeps its last good value rather than vanishing.
      const keep = new Set([...valid, ...rejected].map((r) => `${r.kind}\u0000${r.key}`));
      for (const kind of KINDS) {
        for (const key of this.#keys(kind)) if (!keep.has(`${kind}\u0000${key}`)) removed.push({ kind, key });
      }
    }
    for (const ref of update.removed) if (this.#has(ref)) removed.push(ref);

    for (const ref of removed) this.#remove(ref);
    for (const r of valid) this.#put(r);
    this.#version = String(update.version);

    const change: StateChange = { version: this.#version, updated: valid.map((r) => ({ kind: r.kind, key: r.key })), removed };
    for (const l of this.#listeners) l(change, this);
    return { rejected };
  }

  #keys(kind: ResourceKind): string[] {
    switch (kind) {
      case 'workload': return [...this.#workloads.keys()];
      case 'service': return [...this.#services.keys()];
      case 'authorization': return [...this.#authorizations.keys()];
      // Waypoint config never reaches a ztunnel's view; nothing is kept of it.
      case 'routes': case 'l7authorization': case 'telemetry': return [];
    }
  }

  #has(ref: ResourceRef): boolean {
    switch (ref.kind) {
      case 'workload': return this.#workloads.has(ref.key);
      case 'service': return this.#services.has(ref.key);
      case 'authorization': return this.#authorizations.has(ref.key);
      case 'routes': case 'l7authorization': case 'telemetry': return false;
    }
  }

  #put(r: Resource): void {
    this.#remove({ kind: r.kind, key: r.key });
    switch (r.kind) {
      case 'workload': {
        const w = r.value;
        this.#workloads.set(r.key, w);
        for (const ip of w.addresses) this.#workloadsByIp.set(ip, w);
        for (const svc of Object.keys(w.services)) {
          let set = this.#endpoints.get(svc);
          if (set === undefined) this.#endpoints.set(svc, (set = new Set()));
          set.add(r.key);
        }
        return;
      }
      case 'service':
        this.#services.set(r.key, r.value);
        for (const ip of r.value.addresses) this.#servicesByVip.set(ip, r.value);
        return;
      case 'authorization':
        this.#authorizations.set(r.key, r.value);
        return;
      case 'routes': case 'l7authorization': case 'telemetry':
        return;
    }
  }

  #remove(ref: ResourceRef): void {
    switch (ref.kind) {
      case 'workload': {
        const w = this.#workloads.get(ref.key);
        if (w === undefined) return;
        this.#workloads.delete(ref.key);
        // Only drop the address index if it still points at this workload (IP reuse).
        for (const ip of w.addresses) if (this.#workloadsByIp.get(ip) === w) this.#workloadsByIp.delete(ip);
        for (const svc of Object.keys(w.services)) {
          const set = this.#endpoints.get(svc);
          set?.delete(ref.key);
          if (set?.size === 0) this.#endpoints.delete(svc);
        }
        return;
      }
      case 'service': {
        const s = this.#services.get(ref.key);
        if (s === undefined) return;
        this.#services.delete(ref.key);
        for (const ip of s.addresses) if (this.#servicesByVip.get(ip) === s) this.#servicesByVip.delete(ip);
        return;
      }
      case 'authorization':
        this.#authorizations.delete(ref.key);
        return;
      case 'routes': case 'l7authorization': case 'telemetry':
        return;
    }
  }
}
