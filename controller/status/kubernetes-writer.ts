// Writes the status store's conditions to the Kubernetes objects they describe, as
// `status.conditions` through the status subresource (JSON merge patch, field manager
// `weft-controller`), and a waypoint Gateway's `status.addresses` with them. Routes carry
// theirs per parent (`status.parents[]`, Gateway API), Envoy Gateway's policies per ancestor
// (`status.ancestors[]` with `ancestorRef`, as its PolicyStatus has them). Only kinds whose
// conditions weft owns are written (Gateway, AuthorizationPolicy, PeerAuthentication: see
// kube/resources.ts); an object is patched only when what it should carry differs from what
// was last written, writes are spaced by a minimum interval, and a failed write is logged and
// retried with backoff.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { KUBE_RESOURCES } from '#controller/source/kube/resources.ts';
import type { KubeResource } from '#controller/source/kube/resources.ts';
import type { GatewayStatusAddress, StatusStore } from '#controller/status/store.ts';

export const FIELD_MANAGER = 'weft-controller';

export interface KubernetesStatusWriterOptions {
  kubeConfig: KubeConfig;
  status: StatusStore;
  logger: Logger;
  /** An object's metadata.generation as last seen, for observedGeneration (rejected objects included). */
  generationOf?: (kind: string, namespace: string, name: string) => number | undefined;
  /** Minimum time between two writes. */
  minIntervalMs?: number;
  /** Delay before retrying a failed write: doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs: number; maxMs: number };
  now?: () => Date;
}

/** The shape of metav1.Condition, as Gateway API and Istio status carry it. */
export interface KubeCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

interface Target {
  resource: KubeResource;
  namespace: string;
  name: string;
  conditions: KubeCondition[];
  /** Written when an array; null removes addresses written before; undefined leaves them alone. */
  addresses: GatewayStatusAddress[] | null | undefined;
  /** Routes: `status.parents[]` (Gateway API); policies: `status.ancestors[]`; written instead of `status.conditions`. */
  parents?: RouteParentStatus[];
}

interface RouteParentStatus {
  parentRef: Readonly<Record<string, unknown>>;
  controllerName: string;
  conditions: KubeCondition[];
}

/** The controller name weft reports in route status: the chart's `istio-waypoint` GatewayClass's. */
export const ROUTE_CONTROLLER_NAME = 'weft.dev/mesh-controller';
const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute']);
/** Kinds whose status is Envoy Gateway's PolicyStatus. */
const POLICY_KINDS = new Set(['BackendTrafficPolicy']);
const perParent = (kind: string): boolean => ROUTE_KINDS.has(kind) || POLICY_KINDS.has(kind);

/** The status body of one target. */
function statusBody(t: Target): Record<string, unknown> {
  if (t.parents === undefined) return { conditions: t.conditions, ...(t.addresses === undefined ? {} : { addresses: t.addresses }) };
  if (!POLICY_KINDS.has(t.resource.kind)) return { parents: t.parents };
  return { ancestors: t.parents.map((p) => ({ ancestorRef: p.parentRef, controllerName: p.controllerName, conditions: p.conditions })) };
}

const WRITABLE = new Map(KUBE_RESOURCES.filter((r) => r.writesConditions).map((r) => [r.kind, r]));

export class KubernetesStatusWriter {
  readonly #api: CustomObjectsApi;
  readonly #status: StatusStore;
  readonly #logger: Logger;
  readonly #generationOf: ((kind: string, namespace: string, name: string) => number | undefined) | undefined;
  readonly #minIntervalMs: number;
  readonly #retry: { initialMs: number; maxMs: number };
  readonly #now: () => Date;
  /** id → conditions wanted now. */
  #desired = new Map<string, Target>();
  /** id → JSON of the conditions (and addresses) last written successfully. */
  readonly #written = new Map<string, string>();
  /** ids whose status.addresses this writer set, so it can clear them. */
  readonly #addressed = new Set<string>();
  /** ids to write, in order; a Set so an object is queued once. */
  readonly #queue = new Set<string>();
  /** id → consecutive failed writes, and the timer of the pending retry. */
  readonly #failures = new Map<string, number>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  #unsubscribe: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #lastWrite = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: KubernetesStatusWriterOptions) {
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#status = options.status;
    this.#logger = options.logger.child({ component: 'status-writer' });
    this.#generationOf = options.generationOf;
    this.#minIntervalMs = options.minIntervalMs ?? 100;
    this.#retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
    this.#now = options.now ?? (() => new Date());
  }

  start(): void {
    this.#unsubscribe = this.#status.onChange(() => this.#sync());
    this.#sync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    for (const t of this.#retries.values()) clearTimeout(t);
    this.#retries.clear();
    this.#queue.clear();
    await this.#running;
    this.#wakeIdle();
  }

  /** Resolves when every wanted write has been made (or is waiting for a retry). */
  idle(): Promise<void> {
    if (this.#running === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Recomputes what each object should carry and queues the ones that differ from what was written. */
  #sync(): void {
    if (this.#stopped) return;
    const desired = new Map<string, Target>();
    for (const obj of this.#status.list()) {
      const resource = WRITABLE.get(obj.kind);
      if (resource === undefined || obj.name === '') continue;
      const generation = this.#generationOf?.(obj.kind, obj.namespace, obj.name);
      const conditions = obj.conditions.map((c): KubeCondition => ({
        type: c.type, status: c.status, reason: c.reason, message: c.message,
        lastTransitionTime: c.lastTransitionTime === '' ? this.#now().toISOString() : c.lastTransitionTime,
        ...(generation === undefined ? {} : { observedGeneration: generation }),
      }));
      const id = `${obj.kind}/${obj.namespace}/${obj.name}`;
      const addresses = obj.addresses !== undefined ? obj.addresses : this.#addressed.has(id) ? null : undefined;
      const target: Target = { resource, namespace: obj.namespace, name: obj.name, conditions, addresses };
      if (perParent(obj.kind)) {
        target.parents = (obj.parents ?? []).map((p) => ({
          parentRef: p.parentRef, controllerName: ROUTE_CONTROLLER_NAME,
          conditions: p.conditions.map((c): KubeCondition => ({
            type: c.type, status: c.status, reason: c.reason, message: c.message,
            lastTransitionTime: c.lastTransitionTime === '' ? this.#now().toISOString() : c.lastTransitionTime,
            ...(generation === undefined ? {} : { observedGeneration: generation }),
          })),
        }));
      }
      desired.set(id, target);
    }
    // Objects written before that have nothing any more get an empty list (and lose their addresses).
    for (const id of [...this.#written.keys(), ...this.#addressed]) {
      if (desired.has(id)) continue;
      const [kind = '', namespace = '', name = ''] = id.split('/');
      const resource = WRITABLE.get(kind);
      if (resource !== undefined) {
        desired.set(id, { resource, namespace, name, conditions: [], addresses: this.#addressed.has(id) ? null : undefined, ...(perParent(kind) ? { parents: [] } : {}) });
      }
    }
    this.#desired = desired;
    for (const [id, t] of desired) {
      if (this.#written.get(id) !== comparable(t) && !this.#retries.has(id)) this.#queue.add(id);
    }
    this.#kick();
  }

  #kick(): void {
    if (this.#running !== undefined || this.#queue.size === 0 || this.#stopped) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.size > 0 && !this.#stopped) this.#kick();
      else this.#wakeIdle();
    });
  }

  #wakeIdle(): void {
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      const id = this.#queue.values().next().value;
      if (id === undefined) return;
      this.#queue.delete(id);
      const target = this.#desired.get(id);
      if (target === undefined) continue;
      const body = comparable(target);
      if (this.#written.get(id) === body) continue;
      const wait = this.#lastWrite + this.#minIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.#stopped) return;
      this.#lastWrite = Date.now();
      await this.#write(id, target, body);
    }
  }

  async #write(id: string, t: Target, body: string): Promise<void> {
    const r = t.resource;
    try {
      await this.#api.patchNamespacedCustomObjectStatus({
        group: r.group, version: r.version, plural: r.plural, namespace: t.namespace, name: t.name,
        body: { status: statusBody(t) }, fieldManager: FIELD_MANAGER,
      }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      this.#failures.delete(id);
      if (Array.isArray(t.addresses)) this.#addressed.add(id);
      else if (t.addresses === null) this.#addressed.delete(id);
      if (t.conditions.length === 0 && !this.#addressed.has(id)) this.#written.delete(id);
      // Once cleared, addresses are no longer this writer's to mention: compare as the next sync will.
      else this.#written.set(id, t.addresses === null ? comparable({ ...t, addresses: undefined }) : body);
      this.#logger.debug('status written', { kind: r.kind, namespace: t.namespace, name: t.name, conditions: t.conditions.length, addresses: t.addresses?.length });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404) {
        // The object is gone (or not yet visible): nothing to write until the store mentions it again.
        this.#written.delete(id);
        this.#addressed.delete(id);
        this.#logger.debug('status target not found', { kind: r.kind, namespace: t.namespace, name: t.name });
        return;
      }
      const count = (this.#failures.get(id) ?? 0) + 1;
      this.#failures.set(id, count);
      const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** Math.min(count - 1, 20));
      this.#logger.warn('writing status failed; will retry', {
        kind: r.kind, namespace: t.namespace, name: t.name, code: typeof code === 'number' ? code : undefined, err: errorMessage(err), retryInMs: delay,
      });
      // The retry writes whatever is wanted by then, not necessarily these conditions.
      this.#retries.set(id, setTimeout(() => {
        this.#retries.delete(id);
        this.#queue.add(id);
        this.#kick();
      }, delay));
    }
  }
}

/** What decides a rewrite: everything but lastTransitionTime, which may be filled from the clock here. */
function comparable(t: Target): string {
  const conditions = t.conditions.map(({ lastTransitionTime: _t, ...rest }) => rest);
  if (t.parents !== undefined) {
    return JSON.stringify({ parents: t.parents.map((p) => ({ ...p, conditions: p.conditions.map(({ lastTransitionTime: _t, ...rest }) => rest) })) });
  }
  return JSON.stringify(t.addresses === undefined ? conditions : { conditions, addresses: t.addresses });
}
