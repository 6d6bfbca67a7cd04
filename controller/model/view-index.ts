// One model generation's views, split the way they differ between proxies: a shared part
// (every workload and service: what any ztunnel or waypoint routes to) that is the same for
// all clients, and a small per-client overlay (the L4 policies that can apply to the pods a
// ztunnel serves). Indexing the generation once makes each client's view O(its overlay)
// instead of a pass over the whole model per client.
import type { Resource } from '#core/config/model.ts';
import type { ViewClient } from '#controller/model/view-client.ts';

/** Whether a resource is in every client's view (everything but policy and route tables). */
export function inSharedView(r: Resource): boolean {
  return r.kind === 'workload' || r.kind === 'service';
}

/** The waypoint (`<namespace>/<name>`) a waypoint identity serves: its service account is the Gateway's name. */
function waypointKeyOf(identity: string): string | undefined {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(identity);
  return m === null ? undefined : `${m[1] ?? ''}/${m[2] ?? ''}`;
}

export interface Overlay {
  /** Model key → resource: the policies this client receives beyond the shared part. */
  resources: ReadonlyMap<string, Resource>;
  /**
   * Names the overlay's key set within its generation: two clients with the same signature
   * hold identical views, so they can share one encoded snapshot.
   */
  signature: string;
}

interface NodeFacts {
  namespaces: Set<string>;
  /** WORKLOAD_SELECTOR policies (`<namespace>/<name>`) selecting a pod on the node. */
  selected: Set<string>;
}

const EMPTY: Overlay = { resources: new Map(), signature: '' };

export class ViewIndex {
  /** The generation's resources: the shared part is every entry inSharedView accepts. */
  readonly resources: ReadonlyMap<string, Resource>;
  /** How many resources the shared part holds. */
  readonly sharedSize: number;
  readonly #policies: [string, Resource & { kind: 'authorization' }][] = [];
  /** waypoint key → its route tables, L7 policies and telemetry settings. */
  readonly #waypointConfig = new Map<string, Map<string, Resource>>();
  readonly #nodes = new Map<string, NodeFacts>();
  readonly #overlays = new Map<string, Overlay>();
  readonly #bySignature = new Map<string, Overlay>();

  constructor(resources: ReadonlyMap<string, Resource>) {
    this.resources = resources;
    let shared = 0;
    for (const [key, r] of resources) {
      if (r.kind === 'authorization') {
        this.#policies.push([key, r]);
        continue;
      }
      if (r.kind === 'routes' || r.kind === 'l7authorization' || r.kind === 'telemetry') {
        let m = this.#waypointConfig.get(r.value.waypoint);
        if (m === undefined) this.#waypointConfig.set(r.value.waypoint, (m = new Map<string, Resource>()));
        m.set(key, r);
        continue;
      }
      shared++;
      if (r.kind !== 'workload') continue;
      let facts = this.#nodes.get(r.value.node);
      if (facts === undefined) {
        facts = { namespaces: new Set(), selected: new Set() };
        this.#nodes.set(r.value.node, facts);
      }
      facts.namespaces.add(r.value.namespace);
      for (const p of r.value.authorizationPolicies) facts.selected.add(p);
    }
    this.sharedSize = shared;
  }

  /** The part of `client`'s view beyond the shared one; computed once per node and generation. */
  overlay(client: ViewClient): Overlay {
    if (client.kind === 'waypoint') {
      const wp = waypointKeyOf(client.identity);
      const resources = wp === undefined ? undefined : this.#waypointConfig.get(wp);
      if (resources === undefined || resources.size === 0) return EMPTY;
      return { resources, signature: `waypoint ${wp ?? ''}\n${[...resources.keys()].join('\n')}` };
    }
    const cached = this.#overlays.get(client.node);
    if (cached !== undefined) return cached;
    const facts = this.#nodes.get(client.node);
    const resources = new Map<string, Resource>();
    for (const [key, r] of this.#policies) {
      const a = r.value;
      const applies =
        a.scope === 'GLOBAL' ||
        (a.scope === 'NAMESPACE' && facts !== undefined && facts.namespaces.has(a.namespace)) ||
        (a.scope === 'WORKLOAD_SELECTOR' && facts !== undefined && facts.selected.has(r.key));
      if (applies) resources.set(key, r);
    }
    const signature = [...resources.keys()].join('\n');
    // Nodes with the same policies share one overlay object.
    let overlay = this.#bySignature.get(signature);
    if (overlay === undefined) {
      overlay = resources.size === 0 ? EMPTY : { resources, signature };
      this.#bySignature.set(signature, overlay);
    }
    this.#overlays.set(client.node, overlay);
    return overlay;
  }
}
