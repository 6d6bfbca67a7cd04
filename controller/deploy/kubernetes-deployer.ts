// On Kubernetes the controller deploys the waypoint of each Gateway of class istio-waypoint
// itself: the ServiceAccount, Service and Deployment rendered from
// manifests/waypoint-template.yaml are server-side applied under one field manager
// (`weft-controller`, forced, so the controller takes back fields someone else changed), each
// owned by the Gateway through its uid, with the controller URL and trust domain in the
// Deployment's environment. An object of the same name that the Gateway does not own (a
// user's own Service, say) is never applied over: the Gateway reports it as Programmed=False
// and the apply is retried until the name is free.
//
// Clean-up: when a Gateway is deleted its objects are left to the garbage collector, which
// follows the ownerReferences by uid. It acts even while the controller is down or its cache
// lags, and it never removes a waypoint whose Gateway still exists, which a delete issued from
// a stale view could. A Gateway that stays but stops being a waypoint (its class changed) is
// the one case the collector cannot see; there the objects this controller applied are deleted
// here, each only if it still names that Gateway as owner.
//
// Outcomes go to the status store: Accepted once applied, Programmed=False (ApplyFailed) while
// applying fails, and the cluster IPs of the Gateway's Service as `status.addresses`. A failed
// apply or delete is logged and retried with backoff; other Gateways go on meanwhile.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1ObjectMeta } from '@kubernetes/client-node';
import { CONTROLLER_SERVER_NAME } from '#core/config/protocol.ts';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { renderWaypointObjects } from '#controller/deploy/waypoint-objects.ts';
import type { RenderedObject } from '#controller/deploy/waypoint-objects.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { isWaypointGateway } from '#controller/model/waypoints.ts';
import type { ClusterObjects, Gateway } from '#controller/source/types.ts';
import { FIELD_MANAGER } from '#controller/status/kubernetes-writer.ts';
import type { GatewayStatusAddress, StatusStore } from '#controller/status/store.ts';

/** The Programmed reason while a waypoint's objects cannot be applied. */
export const APPLY_FAILED = 'ApplyFailed';

export interface KubernetesDeployerOptions {
  kubeConfig: KubeConfig;
  status: StatusStore;
  logger: Logger;
  /** What the waypoints dial (WEFT_CONTROLLER_URL), e.g. inClusterControllerUrl(...). */
  controllerUrl: string;
  /** WEFT_TRUST_DOMAIN of the waypoints, the mesh's trust domain. */
  trustDomain: string;
  /** WEFT_RATE_LIMIT_REDIS of the waypoints (`host:port`), for global rate limits; absent or '': none. */
  rateLimitRedis?: string;
  /** Delay before retrying a failed apply or delete: doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs: number; maxMs: number };
}

/** The controller's push URL as pods reach it: its Service in the root namespace. */
export function inClusterControllerUrl(rootNamespace: string, port: number): string {
  return `wss://${CONTROLLER_SERVER_NAME}.${rootNamespace}.svc:${port === 0 ? Ports.controllerPush : port}`;
}

type Kind = 'ServiceAccount' | 'Service' | 'Deployment';

/** Applied in this order (the Service early, so its address is allocated before pods start); deleted in reverse. */
const APPLY_ORDER: readonly Kind[] = ['ServiceAccount', 'Service', 'Deployment'];

interface KindClient {
  apply(namespace: string, name: string, body: RenderedObject): Promise<unknown>;
  read(namespace: string, name: string): Promise<{ metadata?: V1ObjectMeta }>;
  remove(namespace: string, name: string): Promise<unknown>;
}

interface Wanted {
  namespace: string;
  name: string;
  uid: string | undefined;
  objects: Map<Kind, RenderedObject>;
  /** The rendered objects as JSON: what an unchanged Gateway is recognised by. */
  fingerprint: string;
}

interface Failure {
  count: number;
  /** Set for apply failures: the Gateway reports it. */
  condition?: { message: string };
}

export class KubernetesDeployer {
  readonly #clients: ReadonlyMap<Kind, KindClient>;
  readonly #status: StatusStore;
  readonly #logger: Logger;
  readonly #controllerUrl: string;
  readonly #trustDomain: string;
  readonly #rateLimitRedis: string | undefined;
  readonly #retry: { initialMs: number; maxMs: number };
  /** `namespace/name` → what the Gateway asks for now. */
  #wanted = new Map<string, Wanted>();
  /** Gateways that exist but are no longer waypoints: their objects are deleted. */
  #unwanted = new Set<string>();
  /** `namespace/name` → the last objects applied successfully (and for which owner uid). */
  readonly #applied = new Map<string, { fingerprint: string; uid: string | undefined }>();
  readonly #failures = new Map<string, Failure>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  /** Keys to work on, in order; a Set so a Gateway is queued once. */
  readonly #queue = new Set<string>();
  #addresses = new Map<string, GatewayStatusAddress[]>();
  #running: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(options: KubernetesDeployerOptions) {
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const apps = options.kubeConfig.makeApiClient(AppsV1Api);
    const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const patch = { fieldManager: FIELD_MANAGER, force: true } as const;
    this.#clients = new Map<Kind, KindClient>([
      ['ServiceAccount', {
        apply: (namespace, name, body) => core.patchNamespacedServiceAccount({ namespace, name, body, ...patch }, apply),
        read: (namespace, name) => core.readNamespacedServiceAccount({ namespace, name }),
        remove: (namespace, name) => core.deleteNamespacedServiceAccount({ namespace, name }),
      }],
      ['Service', {
        apply: (namespace, name, body) => core.patchNamespacedService({ namespace, name, body, ...patch }, apply),
        read: (namespace, name) => core.readNamespacedService({ namespace, name }),
        remove: (namespace, name) => core.deleteNamespacedService({ namespace, name }),
      }],
      ['Deployment', {
        apply: (namespace, name, body) => apps.patchNamespacedDeployment({ namespace, name, body, ...patch }, apply),
        read: (namespace, name) => apps.readNamespacedDeployment({ namespace, name }),
        // Its ReplicaSets and pods go too, without waiting for them.
        remove: (namespace, name) => apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: 'Background' }),
      }],
    ]);
    this.#status = options.status;
    this.#logger = options.logger.child({ component: 'waypoint-deployer' });
    this.#controllerUrl = options.controllerUrl;
    this.#trustDomain = options.trustDomain;
    this.#rateLimitRedis = options.rateLimitRedis;
    this.#retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
  }

  /**
   * Takes the cluster as the source sees it: every Gateway of class istio-waypoint should have
   * its objects applied. Resolves when this round's writes are done (a failed one waits for its
   * retry); never rejects.
   */
  sync(objects: Pick<ClusterObjects, 'gateways' | 'services'>): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const wanted = new Map<string, Wanted>();
    const unwanted = new Set<string>();
    const addresses = new Map<string, GatewayStatusAddress[]>();
    for (const [key, gw] of objects.gateways) {
      if (!isWaypointGateway(gw)) {
        if (this.#applied.has(key)) unwanted.add(key);
        continue;
      }
      wanted.set(key, this.#render(gw));
      const ips = objects.services.get(key)?.spec.clusterIPs.filter((ip) => ip !== '' && ip !== 'None') ?? [];
      if (ips.length > 0) addresses.set(key, ips.map((value) => ({ type: 'IPAddress', value })));
    }
    // Gone Gateways: the garbage collector removes their objects (see the header).
    for (const key of this.#applied.keys()) {
      if (wanted.has(key) || unwanted.has(key)) continue;
      this.#applied.delete(key);
      this.#forget(key);
      this.#logger.debug('gateway gone; its waypoint objects are left to the garbage collector', { gateway: key });
    }
    for (const key of this.#failures.keys()) if (!wanted.has(key) && !unwanted.has(key)) this.#forget(key);
    this.#wanted = wanted;
    this.#unwanted = unwanted;
    this.#addresses = addresses;
    for (const [key, w] of wanted) {
      if (this.#applied.get(key)?.fingerprint !== w.fingerprint && !this.#retries.has(key)) this.#queue.add(key);
    }
    for (const key of unwanted) if (!this.#retries.has(key)) this.#queue.add(key);
    this.#report();
    this.#kick();
    return this.idle();
  }

  /** Resolves when no write is under way (retries may still be pending). */
  idle(): Promise<void> {
    if (this.#running === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#retries.values()) clearTimeout(t);
    this.#retries.clear();
    this.#queue.clear();
    await this.#running;
    this.#wakeIdle();
  }

  #render(gw: Gateway): Wanted {
    const objects = new Map<Kind, RenderedObject>();
    for (const o of renderWaypointObjects(gw, { controllerUrl: this.#controllerUrl, ...(this.#rateLimitRedis === undefined ? {} : { rateLimitRedis: this.#rateLimitRedis }) })) {
      if (o.kind === 'Deployment') setContainerEnv(o, 'WEFT_TRUST_DOMAIN', this.#trustDomain);
      if (o.kind === 'ServiceAccount' || o.kind === 'Service' || o.kind === 'Deployment') objects.set(o.kind, o);
    }
    const { namespace, name, uid } = gw.metadata;
    return { namespace, name, uid, objects, fingerprint: JSON.stringify([...objects]) };
  }

  #forget(key: string): void {
    clearTimeout(this.#retries.get(key));
    this.#retries.delete(key);
    this.#failures.delete(key);
    this.#queue.delete(key);
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
      const key = this.#queue.values().next().value;
      if (key === undefined) return;
      this.#queue.delete(key);
      const want = this.#wanted.get(key);
      if (want !== undefined) {
        if (this.#applied.get(key)?.fingerprint !== want.fingerprint) await this.#apply(key, want);
        // Changed back to what is applied while a retry waited: nothing is failing any more.
        else this.#failures.delete(key);
      } else if (this.#unwanted.has(key)) {
        await this.#remove(key);
      }
      this.#report();
    }
  }

  async #apply(key: string, want: Wanted): Promise<void> {
    for (const kind of APPLY_ORDER) {
      const body = want.objects.get(kind);
      const client = this.#clients.get(kind);
      if (body === undefined || client === undefined) continue;
      try {
        const found = await client.read(want.namespace, want.name).catch((err: unknown) => {
          if (statusCode(err) === 404) return undefined;
          throw err;
        });
        // An object of that name the Gateway does not own is someone else's: a forced apply
        // would take it over and hand it to the Gateway's garbage collection.
        if (found !== undefined && !ownedBy(found.metadata, want)) {
          const message = `${kind} ${want.namespace}/${want.name} already exists and is not owned by this Gateway; weft does not take it over (hint: delete it, or give the Gateway another name)`;
          this.#failed(key, new Error(message), message, true);
          return;
        }
        await client.apply(want.namespace, want.name, body);
      } catch (err) {
        const message = `applying ${kind} ${want.namespace}/${want.name} failed: ${describeApiError(err)}`;
        this.#failed(key, err, message, true);
        return;
      }
    }
    this.#applied.set(key, { fingerprint: want.fingerprint, uid: want.uid });
    this.#failures.delete(key);
    this.#logger.info('waypoint applied', { gateway: key, objects: [...want.objects.keys()] });
  }

  /** Deletes what this controller applied for a Gateway that is no longer a waypoint. */
  async #remove(key: string): Promise<void> {
    const owner = this.#applied.get(key)?.uid;
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    for (const kind of [...APPLY_ORDER].reverse()) {
      const client = this.#clients.get(kind);
      if (client === undefined) continue;
      try {
        const found = await client.read(namespace, name);
        // Someone else's object of the same name (or one re-created since) is not ours to delete.
        if (owner === undefined || !(found.metadata?.ownerReferences ?? []).some((r) => r.uid === owner)) continue;
        await client.remove(namespace, name);
      } catch (err) {
        if (statusCode(err) === 404) continue;
        this.#failed(key, err, `deleting ${kind} ${key} failed: ${describeApiError(err)}`, false);
        return;
      }
    }
    this.#applied.delete(key);
    this.#failures.delete(key);
    this.#logger.info('waypoint removed: the Gateway is no longer of class istio-waypoint', { gateway: key });
  }

  #failed(key: string, err: unknown, message: string, reportOnGateway: boolean): void {
    const count = (this.#failures.get(key)?.count ?? 0) + 1;
    this.#failures.set(key, { count, ...(reportOnGateway ? { condition: { message } } : {}) });
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** Math.min(count - 1, 20));
    const code = statusCode(err);
    this.#logger.warn('waypoint deployment failed; will retry', {
      gateway: key, err: message, ...(code === undefined ? {} : { code }), attempt: count, retryInMs: delay,
    });
    clearTimeout(this.#retries.get(key));
    this.#retries.set(key, setTimeout(() => {
      this.#retries.delete(key);
      this.#queue.add(key);
      this.#kick();
    }, delay));
  }

  /** Hands the store the conditions and addresses of every waypoint Gateway as they stand. */
  #report(): void {
    const conditions: ResourceCondition[] = [];
    for (const [key, w] of this.#wanted) {
      const ref = { kind: 'Gateway', namespace: w.namespace, name: w.name };
      if (this.#applied.has(key)) {
        conditions.push({ ...ref, type: 'Accepted', status: 'True', reason: 'Accepted', message: 'waypoint ServiceAccount, Service and Deployment applied' });
      }
      const failure = this.#failures.get(key)?.condition;
      if (failure !== undefined) conditions.push({ ...ref, type: 'Programmed', status: 'False', reason: APPLY_FAILED, message: failure.message });
    }
    this.#status.setDeployConditions(conditions);
    this.#status.setGatewayAddresses(this.#addresses);
  }
}

function setContainerEnv(deployment: RenderedObject, name: string, value: string): void {
  const spec = deployment['spec'] as { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } } | undefined;
  for (const c of spec?.template?.spec?.containers ?? []) {
    c.env ??= [];
    const e = c.env.find((x) => x.name === name);
    if (e === undefined) c.env.push({ name, value });
    else e.value = value;
  }
}

/** Whether the Gateway is among an object's owners (by uid where the Gateway's is known). */
function ownedBy(meta: V1ObjectMeta | undefined, gw: Wanted): boolean {
  return (meta?.ownerReferences ?? []).some((r) => r.kind === 'Gateway' && r.name === gw.name && (gw.uid === undefined || r.uid === gw.uid));
}

function statusCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

/** `HTTP 403: <the API server's message> (hint: ...)`, from the client library's ApiException or any error. */
function describeApiError(err: unknown): string {
  const code = statusCode(err);
  if (code === undefined) return `${errorMessage(err)} (hint: is the API server reachable from the controller?)`;
  const body = (err as { body?: unknown }).body;
  let detail: string | undefined;
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
        detail = (parsed as { message: string }).message;
      }
    } catch {
      detail = body.slice(0, 200);
    }
  }
  const hint = code === 403
    ? 'the controller\'s service account needs get, patch and delete on serviceaccounts, services and deployments.apps in this namespace'
    : code === 404
      ? 'the namespace may be terminating, or the API server does not serve this kind'
      : code === 409 || code === 422 || code === 400
        ? 'the API server refused the rendered object; compare it with manifests/waypoint-template.yaml'
        : 'the API server failed the request; weft retries with backoff';
  return `HTTP ${code}${detail === undefined || detail === '' ? '' : `: ${detail}`} (hint: ${hint})`;
}
