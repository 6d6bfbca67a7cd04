// A cluster source backed by the Kubernetes API: one cluster-wide informer per kind weft
// reads (@kubernetes/client-node ListWatch), each object read through `parseObject` exactly
// as the local source reads manifests. Informer handlers only mark the source dirty; a
// debounced rebuild reads the informers' caches, and listeners hear only of real changes.
// The library relists by itself after 410 Gone but stops an informer on any other error,
// so this source restarts it with capped exponential backoff. A kind the API server does not
// serve (404: its CRD is not installed) counts as synced and empty, so the other kinds work,
// and is picked up once it is served; a failure is logged once per status, not per retry. A
// kind of another project (Envoy Gateway's BackendTrafficPolicy) is optional: its absence is
// no failure, logged once at info and looked for again with a slower backoff.
import { ListWatch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { jsonEqual } from '#controller/model/json-equal.ts';
import { KUBE_RESOURCES, apiVersionOf, collectionPath, listFunction } from '#controller/source/kube/resources.ts';
import type { KubeResource } from '#controller/source/kube/resources.ts';
import { InformerWatch } from '#controller/source/kube/watch.ts';
import { parseObject } from '#controller/source/parse.ts';
import { emptyClusterObjects, objectKey } from '#controller/source/types.ts';
import type { ClusterObject, ClusterObjects, ClusterSource, SourceRejection } from '#controller/source/types.ts';

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Quiet time after the last informer event before the snapshot is rebuilt. */
  debounceMs?: number;
  /** Restart delay of a failed informer: doubles from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  /** `start()` fails when the informers have not all synced by then; by default it waits on. */
  syncTimeoutMs?: number;
  /** While waiting, a warning names the kinds not synced yet, this often (default every 60 s). */
  syncWarnMs?: number;
  /** How often an optional kind the API server does not serve is looked for again: doubles from `initialMs` up to `maxMs`. */
  absentBackoff?: { initialMs: number; maxMs: number };
}

const SYNC_HINT = 'check the API server address and credentials (--kubeconfig), that the Gateway API and Istio CRDs are installed, and that RBAC lets the controller list and watch these kinds';

type Parsed = { ok: true; object: ClusterObject } | { ok: false; rejection: SourceRejection };

interface KindState {
  resource: KubeResource;
  informer: ListWatch<KubernetesObject>;
  watch: InformerWatch;
  synced: boolean;
  /** Set by the error handler while `start()` of the informer is running. */
  failedDuringLaunch: boolean;
  launching: boolean;
  /** Consecutive failures, for the backoff. */
  failures: number;
  /** Restarts after failures since the source started. */
  restarts: number;
  /** The status of the failure last logged as a warning, until the informer works again. */
  failingWith: number | 'error' | undefined;
  /** Not served by the API server (404) when last tried: empty until it is. */
  absent: boolean;
  /** Consecutive checks that found an optional kind absent, for its backoff. */
  absentChecks: number;
  retry: NodeJS.Timeout | undefined;
  /** `namespace/name` → the parse of the cached object at a resourceVersion. */
  parsed: Map<string, { resourceVersion: string | undefined; result: Parsed }>;
}

export class KubernetesSource implements ClusterSource {
  readonly #logger: Logger;
  readonly #debounceMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #syncTimeoutMs: number;
  readonly #syncWarnMs: number;
  readonly #absentBackoff: { initialMs: number; maxMs: number };
  readonly #kinds: KindState[];
  readonly #listeners = new Set<() => void>();
  readonly #syncWaiters = new Set<() => void>();
  #snapshot: ClusterObjects = emptyClusterObjects();
  #rejections: SourceRejection[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Namespace → the istio.io/dataplane-mode value already warned about. */
  readonly #warnedModes = new Map<string, string>();
  #stopped = false;
  /** Wakes the library's reconnect delays early on stop, so no timer outlives the source. */
  readonly #stopDelays = new AbortController();

  constructor(options: KubernetesSourceOptions) {
    this.#logger = options.logger.child({ component: 'kubernetes-source' });
    this.#debounceMs = options.debounceMs ?? 50;
    this.#backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    // Waiting on keeps a controller whose reads are refused (RBAC) running and unready, saying
    // why, rather than exiting into a restart loop; it starts once the reads are allowed.
    this.#syncTimeoutMs = options.syncTimeoutMs ?? 0;
    this.#syncWarnMs = options.syncWarnMs ?? 60_000;
    this.#absentBackoff = options.absentBackoff ?? { initialMs: 5000, maxMs: 300_000 };
    this.#kinds = KUBE_RESOURCES.map((resource) => this.#makeKind(options.kubeConfig, resource));
  }

  async start(): Promise<void> {
    const started = performance.now();
    for (const k of this.#kinds) void this.#launch(k);
    await this.#waitForSync();
    this.#rebuild(false);
    this.#logger.info('informers synced', {
      kinds: this.#kinds.length, objects: this.#kinds.reduce((n, k) => n + k.informer.list().length, 0),
      rejected: this.#rejections.length, ms: Math.round(performance.now() - started),
    });
  }

  current(): ClusterObjects {
    return this.#snapshot;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  rejected(): ReadonlyArray<SourceRejection> {
    return this.#rejections;
  }

  /** Per kind: synced, and the resourceVersion the informer would resume from (for diagnostics and tests). */
  informerStates(): { kind: string; synced: boolean; absent: boolean; resourceVersion: string; objects: number; restarts: number }[] {
    return this.#kinds.map((k) => ({
      kind: k.resource.kind, synced: k.synced, absent: k.absent, resourceVersion: k.informer.latestResourceVersion(), objects: k.absent ? 0 : k.informer.list().length, restarts: k.restarts,
    }));
  }

  /** metadata.generation of an object in the informer caches, rejected objects included (for status). */
  generationOf(kind: string, namespace: string, name: string): number | undefined {
    const k = this.#kinds.find((x) => x.resource.kind === kind);
    return k?.informer.get(name, k.resource.namespaced ? namespace : undefined)?.metadata?.generation;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stopDelays.abort();
    for (const k of this.#kinds) {
      clearTimeout(k.retry);
      k.watch.close();
      await k.informer.stop();
    }
    for (const wake of this.#syncWaiters) wake();
  }

  #makeKind(kc: KubeConfig, resource: KubeResource): KindState {
    const watch = new InformerWatch(kc);
    const signal = this.#stopDelays.signal;
    const informer = new ListWatch<KubernetesObject>(collectionPath(resource), watch, listFunction(kc, resource), false, undefined, undefined, {
      delayFn: (ms) => new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const t = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      }),
    });
    const k: KindState = {
      resource, informer, watch, synced: false, failedDuringLaunch: false, launching: false, failures: 0, restarts: 0, retry: undefined,
      failingWith: undefined, absent: false, absentChecks: 0, parsed: new Map(),
    };
    const changed = (): void => {
      // An event means the watch is healthy again.
      k.failures = 0;
      this.#markDirty();
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('connect', () => this.#logger.debug('informer connecting', { kind: resource.kind, resourceVersion: informer.latestResourceVersion() }));
    informer.on('error', (err: unknown) => this.#failed(k, err));
    return k;
  }

  /** (Re)starts one informer; it lists when it has no resourceVersion, else resumes its watch. */
  async #launch(k: KindState): Promise<void> {
    if (this.#stopped) return;
    k.retry = undefined;
    k.launching = true;
    k.failedDuringLaunch = false;
    try {
      await k.informer.start();
    } catch (err) {
      // The library lets some failures escape start() instead of reporting them.
      this.#failed(k, err);
    } finally {
      k.launching = false;
    }
    if (k.failedDuringLaunch || this.#stopped) return;
    if (k.absent && k.resource.optional === true) this.#logger.info('optional kind is served now; watching it', { kind: k.resource.kind, objects: k.informer.list().length });
    else if (k.failingWith !== undefined) this.#logger.info('informer works again', { kind: k.resource.kind, objects: k.informer.list().length });
    // Working again: the next outage starts its backoff afresh rather than where the last one ended.
    k.failures = 0;
    k.failingWith = undefined;
    k.absent = false;
    k.absentChecks = 0;
    this.#synced(k);
    this.#markDirty();
  }

  #synced(k: KindState): void {
    if (k.synced) return;
    k.synced = true;
    this.#logger.debug('informer synced', { kind: k.resource.kind, objects: k.informer.list().length });
    for (const wake of this.#syncWaiters) wake();
  }

  #failed(k: KindState, err: unknown): void {
    if (this.#stopped) return;
    if (k.launching) k.failedDuringLaunch = true;
    if (k.retry !== undefined) return;
    if (k.resource.optional === true && statusCodeOf(err) === 404) {
      this.#absentOptional(k);
      return;
    }
    const delay = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(k.failures, 20));
    k.failures++;
    k.restarts++;
    const code = statusCodeOf(err);
    const fields = { kind: k.resource.kind, err: errorMessage(err), code, retryInMs: delay, failures: k.failures };
    // Logged once while it fails the same way; each retry only at debug.
    if (k.failingWith === (code ?? 'error')) this.#logger.debug('informer failed again; restarting', fields);
    else if (code === 404) this.#logger.warn('the API server does not serve this kind; reading none until it does', { ...fields, hint: `install the CRD of ${k.resource.kind} (${collectionPath(k.resource)})` });
    else if (code === 403) this.#logger.warn('the API server forbids reading this kind; keeping what was read', { ...fields, hint: `let the controller's service account list and watch ${k.resource.kind} (the chart's ClusterRole)` });
    else this.#logger.warn('informer failed; restarting', fields);
    k.failingWith = code ?? 'error';
    // Before the first sync a kind that is not served is empty: the others need not wait for it.
    // Once synced, the cache is kept whatever fails: a real CRD removal deletes its objects first.
    if (code === 404 && !k.synced) {
      k.absent = true;
      this.#synced(k);
      this.#markDirty();
    }
    k.retry = setTimeout(() => void this.#launch(k), delay);
  }

  /** The API server does not serve an optional kind: none of its objects, one log line, a look again later. */
  #absentOptional(k: KindState): void {
    const delay = Math.min(this.#absentBackoff.maxMs, this.#absentBackoff.initialMs * 2 ** Math.min(k.absentChecks, 20));
    k.absentChecks++;
    k.failures = 0;
    if (!k.absent) {
      k.absent = true;
      this.#logger.info('kind not served (its CRD is not installed); reading none of it and checking again with backoff', {
        kind: k.resource.kind, group: k.resource.group, version: k.resource.version, retryInMs: delay,
      });
      // Objects cached before the CRD went away are no longer the cluster's.
      this.#markDirty();
    }
    this.#synced(k);
    k.retry = setTimeout(() => void this.#launch(k), delay);
  }

  #waitForSync(): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const unsynced = (): string[] => this.#kinds.filter((k) => !k.synced).map((k) => k.resource.kind);
      const warn = setInterval(() => {
        this.#logger.warn('informers not synced yet; waiting', { waitedMs: this.#syncWarnMs, kinds: unsynced(), hint: SYNC_HINT });
      }, this.#syncWarnMs);
      const check = (): void => {
        if (this.#stopped) return finish(new WeftError('WEFT_ERR_SOURCE_STOPPED', 'the Kubernetes source was stopped before it synced'));
        if (this.#kinds.every((k) => k.synced)) finish();
      };
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        clearInterval(warn);
        this.#syncWaiters.delete(check);
        if (err === undefined) resolve();
        else reject(err);
      };
      if (this.#syncTimeoutMs > 0) {
        timer = setTimeout(() => {
          finish(new WeftError('WEFT_ERR_KUBE_SYNC', `informers did not sync within ${this.#syncTimeoutMs} ms: ${unsynced().join(', ')}`, { hint: SYNC_HINT }));
        }, this.#syncTimeoutMs);
      }
      this.#syncWaiters.add(check);
      check();
    });
  }

  /** A namespace labelled with a mode weft does not know is not enrolled; say so once per value. */
  #warnUnknownModes(namespaces: ClusterObjects['namespaces']): void {
    for (const name of this.#warnedModes.keys()) {
      if (namespaces.get(name)?.metadata.labels[DATAPLANE_MODE] !== this.#warnedModes.get(name)) this.#warnedModes.delete(name);
    }
    for (const ns of namespaces.values()) {
      const mode = ns.metadata.labels[DATAPLANE_MODE];
      if (mode === undefined || DATAPLANE_MODES.has(mode) || this.#warnedModes.get(ns.metadata.name) === mode) continue;
      this.#warnedModes.set(ns.metadata.name, mode);
      this.#logger.warn('namespace not enrolled: unknown dataplane mode', {
        namespace: ns.metadata.name, label: `${DATAPLANE_MODE}=${mode}`, hint: `${DATAPLANE_MODE}=ambient enrolls the namespace, none or no label leaves it out`,
      });
    }
  }

  #markDirty(): void {
    if (this.#stopped || !this.#kinds.every((k) => k.synced)) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#rebuild(true), this.#debounceMs);
  }

  /** Reads every informer cache into a new snapshot; notifies only when something weft reads changed. */
  #rebuild(notify: boolean): void {
    if (this.#stopped) return;
    const next = emptyClusterObjects();
    const maps = next as unknown as Record<keyof ClusterObjects, Map<string, ClusterObject>>;
    const rejections: SourceRejection[] = [];
    let changed = false;
    for (const k of this.#kinds) {
      const previous = this.#snapshot[k.resource.collection] as ReadonlyMap<string, ClusterObject>;
      const target = maps[k.resource.collection];
      const parsed = new Map<string, { resourceVersion: string | undefined; result: Parsed }>();
      for (const raw of k.absent && k.resource.optional === true ? [] : k.informer.list()) {
        const meta = raw.metadata ?? {};
        const key = k.resource.namespaced ? `${meta.namespace ?? ''}/${meta.name ?? ''}` : (meta.name ?? '');
        const cached = k.parsed.get(key);
        let entry = cached;
        if (cached === undefined || cached.resourceVersion === undefined || cached.resourceVersion !== meta.resourceVersion) {
          entry = { resourceVersion: meta.resourceVersion, result: read(k.resource, raw) };
        }
        if (entry === undefined) continue;
        parsed.set(key, entry);
        if (!entry.result.ok) {
          rejections.push(entry.result.rejection);
          continue;
        }
        let obj = entry.result.object;
        const before = previous.get(objectKey(obj.metadata));
        // A new resourceVersion whose content weft reads is unchanged (a status field weft
        // ignores, a heartbeat) keeps the previous object, so it is not a change.
        if (before !== undefined && before !== obj && sameExceptVersion(before, obj)) {
          obj = before;
          entry.result = { ok: true, object: before };
        }
        if (before !== obj) changed = true;
        target.set(objectKey(obj.metadata), obj);
      }
      if (target.size !== previous.size) changed = true;
      k.parsed = parsed;
    }
    if (!jsonEqual(rejections, this.#rejections)) changed = true;
    if (!changed) return;
    this.#snapshot = next;
    this.#rejections = rejections;
    this.#warnUnknownModes(next.namespaces);
    this.#logger.debug('cluster changed', { rejected: rejections.length });
    if (!notify) return;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#logger.error('change listener failed', { err });
      }
    }
  }
}

/** Values of istio.io/dataplane-mode on a Namespace that mean something: anything else enrolls nothing. */
const DATAPLANE_MODES: ReadonlySet<string> = new Set(['ambient', 'none']);
const DATAPLANE_MODE = 'istio.io/dataplane-mode';

/** One API object through the shared parser; the informer's path fixes its apiVersion and kind (list items omit them). */
function read(r: KubeResource, raw: KubernetesObject): Parsed {
  let result: ReturnType<typeof parseObject>;
  try {
    result = parseObject({ ...raw, apiVersion: apiVersionOf(r), kind: r.kind });
  } catch (err) {
    result = { ok: false, reason: `cannot read: ${errorMessage(err)}` };
  }
  if (result.ok) return { ok: true, object: result.object };
  const meta = raw.metadata ?? {};
  const rejection: SourceRejection = { kind: r.kind, reason: result.reason };
  if (meta.name !== undefined) rejection.name = meta.name;
  if (r.namespaced && meta.namespace !== undefined) rejection.namespace = meta.namespace;
  return { ok: false, rejection };
}

function sameExceptVersion(a: ClusterObject, b: ClusterObject): boolean {
  return jsonEqual({ ...a, metadata: { ...a.metadata, resourceVersion: '' } }, { ...b, metadata: { ...b.metadata, resourceVersion: '' } });
}

/** The HTTP status of a library error, when it carries one (`code` on ApiException, `statusCode` on watch errors). */
function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}
