// An in-repo stand-in for the Kubernetes API server, used to test the real client library
// (@kubernetes/client-node) against the real list/watch protocol, because no API server can be
// installed on this machine. It speaks just enough of the protocol for the kinds weft reads and
// the waypoint objects it writes: lists with a resourceVersion, watches streaming
// newline-delimited JSON events (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) from a bounded history —
// a watch from a compacted resourceVersion gets an ERROR event carrying a 410 Gone Status, as from
// the real server — periodic bookmarks, `timeoutSeconds`, GET and DELETE of one object, PATCH of
// an object as JSON merge patch or as server-side apply, and PATCH (merge patch) / PUT of
// `/status` (Gateway included).
// Server-side apply here is create-or-merge by field manager: the applied configuration is
// merged over the stored object (objects key by key; lists and scalars replace whole, where the
// real server merges some lists by key), fields the same manager applied before and left out
// now are removed, and `metadata.managedFields` names each manager with operation Apply. It
// does not detect conflicts between managers (so `force` changes nothing) and ignores `status`
// in an applied configuration, as the real server does for kinds with a status subresource.
// POST creates and PUT replaces (409 on a stale resourceVersion), so leader election on a Lease
// works; discovery (/api, /apis, APIResourceLists) lists the table below. A stored
// CustomResourceDefinition must be structural, and custom objects of its kind are validated and
// pruned against its schema (fieldValidation=Strict refuses unknown fields instead), see
// structural-schema.ts. With `users` and `rbac`, requests are authorized by the stored
// ClusterRoles, Roles and their bindings, and each recorded request names its user and verb.
// A TokenReview (create only) is answered from the tokens a test registers (reviewableToken).
// For kubectl: /version, an OpenAPI v2 document naming no schema (so kubectl validates nothing
// client-side), short names in discovery, and a strategic merge patch that holds no list or
// $-directive (read as the merge patch it then equals).
// Not implemented: JSON patch, other strategic merge patches, protobuf bodies, pagination,
// selectors (a name field selector only narrows authorization, as resourceNames do on the
// real server), validation of built-in kinds, admission (a namespace need not exist), cluster IP allocation (tests set
// `spec.clusterIP` with `update`) and garbage collection (deleting an owner leaves the objects
// that name it in ownerReferences). Tests drive it through create/update/delete/compact/
// dropWatches/failRequests.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { EventHistory } from '#controller/source/testing/history.ts';
import type { HistoryEvent, WatchEventType } from '#controller/source/testing/history.ts';
import { mergePatch } from '#controller/source/testing/merge-patch.ts';
import { admitCustomObject, checkStructural } from '#controller/source/testing/structural-schema.ts';
import type { SchemaCause } from '#controller/source/testing/structural-schema.ts';

type JsonObject = Record<string, unknown>;

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  hasStatus: boolean;
  /** Custom resources list their items with apiVersion and kind; built-in types do not. */
  custom: boolean;
  /** Served only while its CustomResourceDefinition is stored, as any custom kind on a real server (404 otherwise). */
  onlyWithCrd?: boolean;
}

// The server's own table, written independently of the client's so a wrong path on either
// side shows up as a failing test rather than a shared mistake.
const RESOURCES: readonly ResourceType[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, hasStatus: true, custom: false },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, hasStatus: true, custom: false },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, hasStatus: true, custom: false },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, hasStatus: true, custom: false },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, hasStatus: false, custom: false },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, hasStatus: true, custom: false },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, hasStatus: false, custom: false },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway', plural: 'gateways', namespaced: true, hasStatus: true, custom: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', plural: 'httproutes', namespaced: true, hasStatus: true, custom: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'GRPCRoute', plural: 'grpcroutes', namespaced: true, hasStatus: true, custom: true },
  { group: 'security.istio.io', version: 'v1', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', namespaced: true, hasStatus: true, custom: true },
  { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication', plural: 'peerauthentications', namespaced: true, hasStatus: true, custom: true },
  // What an install applies and the controller's leader election uses.
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, hasStatus: false, custom: false },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, hasStatus: false, custom: false },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, hasStatus: true, custom: false },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, hasStatus: true, custom: false },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, hasStatus: false, custom: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false, hasStatus: false, custom: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false, hasStatus: false, custom: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true, hasStatus: false, custom: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, hasStatus: false, custom: false },
  { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false, hasStatus: true, custom: false },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'GatewayClass', plural: 'gatewayclasses', namespaced: false, hasStatus: true, custom: true },
  // An optional kind: tests install its CRD or leave it out.
  { group: 'gateway.envoyproxy.io', version: 'v1alpha1', kind: 'BackendTrafficPolicy', plural: 'backendtrafficpolicies', namespaced: true, hasStatus: true, custom: true, onlyWithCrd: true },
  { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService', plural: 'virtualservices', namespaced: true, hasStatus: true, custom: true },
  { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule', plural: 'destinationrules', namespaced: true, hasStatus: true, custom: true },
  { group: 'telemetry.istio.io', version: 'v1', kind: 'Telemetry', plural: 'telemetries', namespaced: true, hasStatus: true, custom: true },
  // Create-only and never stored: answered from the tokens a test registers (reviewableToken).
  { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenReview', plural: 'tokenreviews', namespaced: false, hasStatus: false, custom: false },
];

/** kubectl's abbreviations (`kubectl get ns`), as the real server's discovery lists them. */
const SHORT_NAMES: Readonly<Record<string, readonly string[]>> = {
  namespaces: ['ns'], pods: ['po'], services: ['svc'], serviceaccounts: ['sa'], configmaps: ['cm'], nodes: ['no'],
  deployments: ['deploy'], daemonsets: ['ds'], poddisruptionbudgets: ['pdb'], customresourcedefinitions: ['crd', 'crds'],
  gateways: ['gtw'], gatewayclasses: ['gc'],
};

const apiVersionOf = (r: ResourceType): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

export interface TestApiServerOptions {
  /** Serve HTTPS with this certificate (PEM); plain HTTP otherwise. */
  tls?: { certPem: string; keyPem: string };
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Events kept for watches to resume from; older starting points get 410 Gone. */
  historyLimit?: number;
  /** Period of BOOKMARK events on watches that asked for them (allowWatchBookmarks=true). */
  bookmarkIntervalMs?: number;
  /**
   * Bearer token → user name (`system:serviceaccount:<ns>:<sa>`). A request must carry one of
   * these (or `token`, which stays the unrestricted administrator).
   */
  users?: Readonly<Record<string, string>>;
  /** Authorize every user but the administrator by the stored RBAC objects (see #authorize). */
  rbac?: boolean;
  /** Address to listen on (default 127.0.0.1), e.g. the host address pods of the embedded cluster reach. */
  host?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Readonly<Record<string, string>>;
  watch: boolean;
  /** The media type of the body (`application/apply-patch+yaml`, ...), without parameters. */
  contentType?: string;
  /** Who sent it, when the server knows users (`users`). */
  user?: string;
  /** The RBAC verb the request asks for (get, list, watch, create, update, patch, delete). */
  verb?: string;
  /** A server-side apply of an object that does not exist yet: authorized as create as well. */
  creates?: boolean;
}

/** What a TokenReview says of a registered token (the `status.user` of an authenticated review). */
export interface ReviewedToken {
  username: string;
  uid?: string;
  groups?: string[];
  /** Bound tokens carry `authentication.kubernetes.io/pod-name`, `.../pod-uid`, `.../node-name`. */
  extra?: Readonly<Record<string, string[]>>;
  /** The token's audiences; a review asking for none of them is not authenticated. */
  audiences: string[];
}

/** Returns an HTTP status to fail a request with, or undefined to serve it. */
export type FailureRule = (req: RecordedRequest) => number | undefined;

interface Watcher {
  resource: ResourceType;
  namespace: string | undefined;
  res: ServerResponse;
  socket: Socket;
  timers: NodeJS.Timeout[];
}

export class TestApiServer {
  readonly #server: Server;
  readonly #options: TestApiServerOptions;
  readonly #history: EventHistory;
  /** plural → `namespace/name` (or `name`) → stored object. */
  readonly #objects = new Map<string, Map<string, JsonObject>>();
  /** `plural/key` → field manager → the configuration it last applied. */
  readonly #applied = new Map<string, Map<string, JsonObject>>();
  readonly #watchers = new Set<Watcher>();
  readonly #sockets = new Set<Socket>();
  readonly #reviewable = new Map<string, ReviewedToken>();
  #resourceVersion = 1;
  #failure: FailureRule | undefined;
  /** fieldValidation=Strict on the request being served (see #guard). */
  #strict = false;
  /** Every request served, in order (tests assert relists and reconnections with it). */
  readonly requests: RecordedRequest[] = [];
  /** How many watches were answered with 410 Gone. */
  goneCount = 0;
  /** Requests RBAC refused (403), in order. */
  readonly denials: RecordedRequest[] = [];
  url = '';

  private constructor(options: TestApiServerOptions) {
    this.#options = options;
    this.#history = new EventHistory(options.historyLimit ?? 1000);
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res);
    this.#server = options.tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler);
    const track = (socket: Socket): void => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    };
    this.#server.on(options.tls === undefined ? 'connection' : 'secureConnection', track);
    for (const r of RESOURCES) this.#objects.set(r.plural, new Map());
  }

  static async start(options: TestApiServerOptions = {}): Promise<TestApiServer> {
    const s = new TestApiServer(options);
    const host = options.host ?? '127.0.0.1';
    s.#server.listen(0, host);
    await once(s.#server, 'listening');
    const { port } = s.#server.address() as AddressInfo;
    s.url = `${options.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return s;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): number {
    return this.#resourceVersion;
  }

  // ---- test API ----------------------------------------------------------------------------

  /** Stores a new object, filling the server-owned metadata; returns the stored copy. */
  create(obj: JsonObject): JsonObject {
    const r = resourceFor(obj);
    const meta = metadataOf(obj);
    const key = this.#keyOf(r, meta);
    const store = this.#store(r);
    if (store.has(key)) throw new Error(`${r.kind} ${key} already exists`);
    const stored: JsonObject = this.#admit(r, structuredClone(obj));
    stored['metadata'] = {
      ...meta,
      ...(r.namespaced ? { namespace: namespaceOf(meta) } : {}),
      uid: typeof meta['uid'] === 'string' ? meta['uid'] : randomUUID(),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
      resourceVersion: String(++this.#resourceVersion),
    };
    store.set(key, stored);
    this.#emit('ADDED', r, stored);
    return structuredClone(stored);
  }

  /** Replaces an object (status included), keeping uid and creation time; bumps generation when spec changed. */
  update(obj: JsonObject): JsonObject {
    const r = resourceFor(obj);
    const meta = metadataOf(obj);
    const key = this.#keyOf(r, meta);
    const old = this.#store(r).get(key);
    if (old === undefined) throw new Error(`${r.kind} ${key} does not exist`);
    const oldMeta = metadataOf(old);
    const specChanged = JSON.stringify(obj['spec']) !== JSON.stringify(old['spec']);
    const stored: JsonObject = this.#admit(r, structuredClone(obj));
    stored['metadata'] = {
      ...meta,
      ...(r.namespaced ? { namespace: namespaceOf(meta) } : {}),
      uid: oldMeta['uid'],
      creationTimestamp: oldMeta['creationTimestamp'],
      generation: Number(oldMeta['generation'] ?? 1) + (specChanged ? 1 : 0),
      resourceVersion: String(++this.#resourceVersion),
    };
    this.#store(r).set(key, stored);
    this.#emit('MODIFIED', r, stored);
    return structuredClone(stored);
  }

  delete(kind: string, namespace: string, name: string): void {
    const r = resourceByKind(kind);
    const key = r.namespaced ? `${namespace}/${name}` : name;
    const old = this.#store(r).get(key);
    if (old === undefined) throw new Error(`${kind} ${key} does not exist`);
    this.#store(r).delete(key);
    this.#applied.delete(`${r.plural}/${key}`);
    // The DELETED event carries the object at the deletion's resourceVersion, as the real server sends it.
    const gone: JsonObject = { ...old, metadata: { ...metadataOf(old), resourceVersion: String(++this.#resourceVersion) } };
    this.#emit('DELETED', r, gone);
    // A kind served only with its CRD goes with it: its objects, then its watches end.
    const served = r.kind === 'CustomResourceDefinition' ? RESOURCES.find((x) => x.onlyWithCrd === true && `${x.plural}.${x.group}` === name) : undefined;
    if (served !== undefined) {
      this.#store(served).clear();
      for (const w of [...this.#watchers]) if (w.resource === served) this.#endWatch(w);
    }
  }

  get(kind: string, namespace: string, name: string): JsonObject | undefined {
    const r = resourceByKind(kind);
    const obj = this.#store(r).get(r.namespaced ? `${namespace}/${name}` : name);
    return obj === undefined ? undefined : structuredClone(obj);
  }

  /** Drops the whole history: a watch resuming from any earlier resourceVersion gets 410 Gone. */
  compact(): void {
    this.#history.compact(this.#resourceVersion);
  }

  /** Ends every open watch: gracefully (the stream ends) or abruptly (the connection is reset). */
  dropWatches(options: { abrupt?: boolean } = {}): number {
    const n = this.#watchers.size;
    for (const w of [...this.#watchers]) {
      if (options.abrupt === true) w.socket.destroy();
      else this.#endWatch(w);
    }
    return n;
  }

  /** Open watches, optionally for one resource plural. */
  watchCount(plural?: string): number {
    let n = 0;
    for (const w of this.#watchers) if (plural === undefined || w.resource.plural === plural) n++;
    return n;
  }

  /** Fails matching requests with the returned HTTP status until cleared with `undefined`. */
  failRequests(rule: FailureRule | undefined): void {
    this.#failure = rule;
  }

  async close(): Promise<void> {
    for (const w of [...this.#watchers]) this.#endWatch(w);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /**
   * The API server gone: stops listening and resets every connection, so clients see
   * connection refused until resume() listens again at the same address with the same objects
   * and history (as a restarted API server in front of the same etcd).
   */
  async suspend(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
    for (const w of [...this.#watchers]) this.#endWatch(w);
  }

  async resume(): Promise<void> {
    const url = new URL(this.url);
    this.#server.listen(Number(url.port), url.hostname.replace(/^\[(.*)\]$/, '$1'));
    await once(this.#server, 'listening');
  }

  // ---- protocol ----------------------------------------------------------------------------

  #store(r: ResourceType): Map<string, JsonObject> {
    const m = this.#objects.get(r.plural);
    if (m === undefined) throw new Error(`no store for ${r.plural}`);
    return m;
  }

  #keyOf(r: ResourceType, meta: JsonObject): string {
    const name = meta['name'];
    if (typeof name !== 'string' || name === '') throw new Error(`${r.kind} without metadata.name`);
    return r.namespaced ? `${namespaceOf(meta)}/${name}` : name;
  }

  #emit(type: WatchEventType, r: ResourceType, object: JsonObject): void {
    const meta = metadataOf(object);
    const event: HistoryEvent = {
      resourceVersion: Number(meta['resourceVersion']),
      type,
      resource: r.plural,
      namespace: r.namespaced ? namespaceOf(meta) : '',
      object: withType(r, object),
    };
    this.#history.append(event);
    for (const w of this.#watchers) {
      if (w.resource.plural === event.resource && (w.namespace === undefined || w.namespace === event.namespace)) {
        writeEvent(w.res, event.type, event.object);
      }
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const query = Object.fromEntries(url.searchParams);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, watch, ...(contentType === '' ? {} : { contentType }) };
    this.requests.push(recorded);
    const user = this.#userOf(req);
    if (user !== undefined && this.#options.users !== undefined) recorded.user = user;
    if ((this.#options.token !== undefined || this.#options.users !== undefined) && user === undefined) {
      req.resume();
      return sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const injected = this.#failure?.(recorded);
    if (injected !== undefined) {
      req.resume();
      return sendStatus(res, injected, 'InternalError', `injected failure ${injected}`);
    }
    if (req.method === 'GET' && this.#discovery(res, url.pathname)) return;
    if (contentType === 'application/vnd.kubernetes.protobuf') {
      // kubectl's typed generators (`kubectl create namespace`, ...) send protobuf: refused plainly; `apply -f` sends JSON.
      req.resume();
      return sendStatus(res, 415, 'UnsupportedMediaType', 'this test server reads JSON and YAML bodies, not protobuf');
    }
    const route = parsePath(url.pathname);
    if (route === undefined) {
      req.resume();
      return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    const { resource: r, namespace, name, subresource } = route;
    recorded.verb = verbOf(req.method ?? 'GET', name, watch);
    if (recorded.verb === 'patch' && contentType === 'application/apply-patch+yaml' && name !== undefined && subresource === undefined
      && !this.#store(r).has(r.namespaced ? `${namespace ?? ''}/${name}` : name)) recorded.creates = true;
    // As the real server authorizes it: a list or watch narrowed to one name by field selector
    // is a request for that name, so a Role limited by resourceNames may allow it.
    const selected = name === undefined ? /^metadata\.name=([^,]+)$/.exec(query['fieldSelector'] ?? '')?.[1] : undefined;
    const denied = this.#authorize(user, recorded.verb, r, namespace, name ?? selected, subresource)
      ?? (recorded.creates === true ? this.#authorize(user, 'create', r, namespace, name, subresource) : undefined);
    if (denied !== undefined) {
      this.denials.push(recorded);
      req.resume();
      return sendStatus(res, 403, 'Forbidden', denied);
    }
    // Authorized first, as the real server does: a kind without its CRD is then not found.
    if (!this.#served(r)) {
      req.resume();
      return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    if (req.method === 'GET' && name === undefined) {
      return watch ? this.#watch(req, res, r, namespace, query) : this.#list(res, r, namespace);
    }
    if (req.method === 'GET' && name !== undefined && subresource === undefined) {
      const obj = this.#store(r).get(r.namespaced ? `${namespace ?? ''}/${name}` : name);
      return obj === undefined ? sendStatus(res, 404, 'NotFound', `${r.plural} "${name}" not found`) : sendJson(res, 200, withType(r, obj));
    }
    if ((req.method === 'PATCH' || req.method === 'PUT') && name !== undefined && subresource === 'status' && r.hasStatus) {
      readBody(req).then((body) => this.#guard(res, query, () => this.#writeStatus(req, res, r, namespace ?? '', name, body)), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    if (req.method === 'PATCH' && name !== undefined && subresource === undefined) {
      readBody(req).then((body) => this.#guard(res, query, () => this.#patch(res, r, namespace ?? '', name, contentType, query, body)), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    if (req.method === 'DELETE' && name !== undefined && subresource === undefined) {
      req.resume();
      return this.#deleteRequest(res, r, namespace ?? '', name);
    }
    if (r.plural === 'tokenreviews') {
      if (req.method !== 'POST' || name !== undefined) {
        req.resume();
        return sendStatus(res, 405, 'MethodNotAllowed', 'tokenreviews only accept create');
      }
      readBody(req).then((body) => this.#review(res, body), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    if ((req.method === 'POST' && name === undefined) || (req.method === 'PUT' && name !== undefined && subresource === undefined)) {
      readBody(req).then((body) => this.#guard(res, query, () => this.#write(req.method ?? '', res, r, namespace, name, body)), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    req.resume();
    sendStatus(res, 405, 'MethodNotAllowed', `${req.method ?? ''} is not supported on ${url.pathname} by this test server`);
  }

  #deleteRequest(res: ServerResponse, r: ResourceType, namespace: string, name: string): void {
    const old = this.#store(r).get(r.namespaced ? `${namespace}/${name}` : name);
    if (old === undefined) return sendStatus(res, 404, 'NotFound', `${r.plural} "${name}" not found`);
    this.delete(r.kind, namespace, name);
    // Gone at once (no finalizers here): the real server answers with a Success Status then.
    sendJson(res, 200, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: { name, kind: r.plural, uid: metadataOf(old)['uid'] },
    });
  }

  /** PATCH of the object itself: a JSON merge patch of an existing object, or a server-side apply. */
  #patch(res: ServerResponse, r: ResourceType, namespace: string, name: string, type: string, query: Record<string, string>, body: string): void {
    const key = r.namespaced ? `${namespace}/${name}` : name;
    const old = this.#store(r).get(key);
    if (type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && plainStrategicPatch(body))) {
      if (old === undefined) return sendStatus(res, 404, 'NotFound', `${r.plural} "${name}" not found`);
      const patch = parseObjectBody(body, JSON.parse);
      if (patch === undefined) return sendStatus(res, 400, 'BadRequest', 'the body is not a JSON object');
      const merged = mergePatch(old, patch) as JsonObject;
      // Identity and status are not the main resource's to change.
      merged['metadata'] = { ...metadataOf(merged), name, ...(r.namespaced ? { namespace } : {}) };
      if (r.hasStatus) merged['status'] = old['status'];
      return sendJson(res, 200, withType(r, this.update(withType(r, merged))));
    }
    if (type !== 'application/apply-patch+yaml') {
      return sendStatus(res, 415, 'UnsupportedMediaType', `this test server patches objects with application/merge-patch+json or application/apply-patch+yaml (or a strategic merge patch without lists or $-directives), got ${type === '' ? 'none' : type}`);
    }
    const manager = query['fieldManager'] ?? '';
    if (manager === '') return sendStatus(res, 422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const config = parseObjectBody(body, (text) => parseYaml(text) as unknown);
    if (config === undefined) return sendStatus(res, 400, 'BadRequest', 'the body is not a YAML or JSON object');
    if (config['apiVersion'] !== apiVersionOf(r) || config['kind'] !== r.kind) {
      return sendStatus(res, 400, 'BadRequest', `the applied object is ${String(config['apiVersion'])} ${String(config['kind'])}, not ${apiVersionOf(r)} ${r.kind} as the URL says`);
    }
    const meta = isJsonObject(config['metadata']) ? config['metadata'] : {};
    if (meta['name'] !== name) return sendStatus(res, 400, 'BadRequest', `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`);
    if (r.namespaced && meta['namespace'] !== undefined && meta['namespace'] !== namespace) {
      return sendStatus(res, 400, 'BadRequest', `the namespace of the object (${JSON.stringify(meta['namespace'])}) does not match the namespace on the URL (${namespace})`);
    }
    const applied = structuredClone(config);
    if (r.hasStatus) delete applied['status'];
    if (isJsonObject(applied['metadata'])) delete applied['metadata']['managedFields'];
    const id = `${r.plural}/${key}`;
    const managers = this.#applied.get(id) ?? new Map<string, JsonObject>();
    let base: JsonObject = old === undefined ? {} : structuredClone(old);
    const previous = managers.get(manager);
    if (previous !== undefined) base = withoutDropped(base, previous, applied);
    const merged = mergePatch(base, applied) as JsonObject;
    const mergedMeta: JsonObject = { ...metadataOf(merged), name, ...(r.namespaced ? { namespace } : {}) };
    const fields = (Array.isArray(mergedMeta['managedFields']) ? mergedMeta['managedFields'] as unknown[] : [])
      .filter((f) => !(isJsonObject(f) && f['manager'] === manager && f['operation'] === 'Apply'));
    fields.push({ manager, operation: 'Apply', apiVersion: apiVersionOf(r), time: new Date().toISOString(), fieldsType: 'FieldsV1', fieldsV1: fieldSet(applied) });
    mergedMeta['managedFields'] = fields;
    merged['metadata'] = mergedMeta;
    managers.set(manager, applied);
    if (old === undefined) {
      const created = this.create(merged);
      this.#applied.set(id, managers);
      return sendJson(res, 201, withType(r, created));
    }
    this.#applied.set(id, managers);
    // An apply that changes nothing but the time of its own entry is no write.
    if (JSON.stringify(withoutTimes(merged)) === JSON.stringify(withoutTimes(old))) return sendJson(res, 200, withType(r, old));
    sendJson(res, 200, withType(r, this.update(merged)));
  }

  #list(res: ServerResponse, r: ResourceType, namespace: string | undefined): void {
    const items = [...this.#store(r).values()]
      .filter((o) => namespace === undefined || namespaceOf(metadataOf(o)) === namespace)
      .map((o) => (r.custom ? withType(r, o) : withoutType(o)));
    sendJson(res, 200, {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: String(this.#resourceVersion) },
      items,
    });
  }

  #watch(req: IncomingMessage, res: ServerResponse, r: ResourceType, namespace: string | undefined, query: Record<string, string>): void {
    const rvRaw = query['resourceVersion'] ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (rvRaw === '' || rvRaw === '0') {
      // "Any" starting point: the current state as synthetic ADDED events, then live changes.
      for (const o of this.#store(r).values()) {
        if (namespace === undefined || namespaceOf(metadataOf(o)) === namespace) writeEvent(res, 'ADDED', withType(r, o));
      }
    } else {
      const since = Number(rvRaw);
      const read = Number.isInteger(since) ? this.#history.since(since, r.plural, namespace) : { ok: false as const, oldest: 0 };
      if (!read.ok) {
        this.goneCount++;
        writeEvent(res, 'ERROR', {
          kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
          message: `too old resource version: ${rvRaw} (${read.oldest})`, reason: 'Expired', code: 410,
        });
        res.end();
        return;
      }
      for (const e of read.events) writeEvent(res, e.type, e.object);
    }
    const w: Watcher = { resource: r, namespace, res, socket: req.socket, timers: [] };
    this.#watchers.add(w);
    res.once('close', () => this.#endWatch(w));
    if (query['allowWatchBookmarks'] === 'true') {
      const t = setInterval(() => {
        writeEvent(res, 'BOOKMARK', { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.#resourceVersion) } });
      }, this.#options.bookmarkIntervalMs ?? 1000);
      w.timers.push(t);
    }
    const timeout = Number(query['timeoutSeconds'] ?? '');
    if (Number.isFinite(timeout) && timeout > 0) w.timers.push(setTimeout(() => this.#endWatch(w), timeout * 1000));
  }

  #endWatch(w: Watcher): void {
    if (!this.#watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.writableEnded) w.res.end();
  }

  #writeStatus(req: IncomingMessage, res: ServerResponse, r: ResourceType, namespace: string, name: string, body: string): void {
    const key = r.namespaced ? `${namespace}/${name}` : name;
    const old = this.#store(r).get(key);
    if (old === undefined) return sendStatus(res, 404, 'NotFound', `${r.plural} "${name}" not found`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (req.method === 'PATCH' && type !== 'application/merge-patch+json') {
      return sendStatus(res, 415, 'UnsupportedMediaType', `this test server applies only application/merge-patch+json to /status, got ${type ?? 'none'}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return sendStatus(res, 400, 'BadRequest', 'the body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return sendStatus(res, 400, 'BadRequest', 'the body is not a JSON object');
    const given = parsed as JsonObject;
    let status: unknown;
    if (req.method === 'PUT') {
      const rv = isJsonObject(given['metadata']) ? given['metadata']['resourceVersion'] : undefined;
      if (rv !== undefined && rv !== metadataOf(old)['resourceVersion']) {
        return sendStatus(res, 409, 'Conflict', `Operation cannot be fulfilled on ${r.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      status = given['status'];
    } else {
      // The status subresource ignores changes to anything but status.
      status = mergePatch(old['status'], given['status'] ?? {});
    }
    const stored: JsonObject = { ...old, status, metadata: { ...metadataOf(old), resourceVersion: String(++this.#resourceVersion) } };
    this.#store(r).set(key, stored);
    this.#emit('MODIFIED', r, stored);
    sendJson(res, 200, withType(r, stored));
  }

  // ---- TokenReview ----------------------------------------------------------------------

  /** Makes `token` known to TokenReview; undefined forgets it (as when its pod is deleted). */
  reviewableToken(token: string, review: ReviewedToken | undefined): void {
    if (review === undefined) this.#reviewable.delete(token);
    else this.#reviewable.set(token, review);
  }

  /**
   * The authenticator's answer: an unknown token, or one whose audiences miss every audience
   * the review asks for, is `authenticated: false` with an error (still 201, as the real server
   * answers); `status.audiences` is the intersection (the API server's audiences when none asked).
   */
  #review(res: ServerResponse, body: string): void {
    const review = parseObjectBody(body, JSON.parse);
    const spec = review?.['spec'];
    const token = isJsonObject(spec) ? spec['token'] : undefined;
    if (review === undefined || typeof token !== 'string' || token === '') return sendStatus(res, 400, 'BadRequest', 'TokenReview spec.token is required');
    const asked = isJsonObject(spec) && Array.isArray(spec['audiences']) ? spec['audiences'].filter((a): a is string => typeof a === 'string') : [];
    const known = this.#reviewable.get(token);
    const audiences = known === undefined ? [] : asked.length === 0 ? known.audiences : asked.filter((a) => known.audiences.includes(a));
    const status: JsonObject = known === undefined || audiences.length === 0
      ? { authenticated: false, user: {}, error: known === undefined ? '[invalid bearer token, token lookup failed]' : 'token audiences do not match' }
      : {
        authenticated: true, audiences,
        user: { username: known.username, uid: known.uid ?? randomUUID(), groups: known.groups ?? [], ...(known.extra === undefined ? {} : { extra: known.extra }) },
      };
    sendJson(res, 201, {
      kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null },
      spec: { token, ...(asked.length === 0 ? {} : { audiences: asked }) }, status,
    });
  }

  // ---- users, RBAC, discovery, create/replace, CRD admission -----------------------------

  /** The user a request authenticates as: ADMIN for `token` (or when no token is asked for). */
  #userOf(req: IncomingMessage): string | undefined {
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (this.#options.token !== undefined && bearer === this.#options.token) return ADMIN;
    const named = bearer === undefined ? undefined : this.#options.users?.[bearer];
    if (named !== undefined) return named;
    return this.#options.token === undefined && this.#options.users === undefined ? ADMIN : undefined;
  }

  /**
   * RBAC as the real authorizer decides it, for service accounts and users: the rules of every
   * ClusterRole bound cluster-wide, and of every Role or ClusterRole bound in the request's
   * namespace, each matching on API group, resource (`plural` or `plural/subresource`), verb and
   * (when given) resourceNames. Returns the Forbidden message, or undefined when allowed.
   */
  #authorize(user: string | undefined, verb: string, r: ResourceType, namespace: string | undefined, name: string | undefined, subresource: string | undefined): string | undefined {
    if (this.#options.rbac !== true || user === undefined || user === ADMIN) return undefined;
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
    const groups = new Set(['system:authenticated', ...(sa === null ? [] : ['system:serviceaccounts', `system:serviceaccounts:${sa[1] ?? ''}`])]);
    const boundHere = (subjects: unknown): boolean => Array.isArray(subjects) && subjects.some((s: unknown) => {
      if (!isJsonObject(s)) return false;
      if (s['kind'] === 'ServiceAccount') return sa !== null && s['name'] === sa[2] && s['namespace'] === sa[1];
      if (s['kind'] === 'User') return s['name'] === user;
      return s['kind'] === 'Group' && typeof s['name'] === 'string' && groups.has(s['name']);
    });
    const resource = subresource === undefined ? r.plural : `${r.plural}/${subresource}`;
    const allows = (rules: unknown): boolean => Array.isArray(rules) && rules.some((rule: unknown) => {
      if (!isJsonObject(rule)) return false;
      const has = (field: string, v: string): boolean => Array.isArray(rule[field]) && (rule[field] as unknown[]).some((x) => x === v || x === '*');
      const names = Array.isArray(rule['resourceNames']) ? rule['resourceNames'] as unknown[] : [];
      return has('apiGroups', r.group) && has('resources', resource) && has('verbs', verb)
        && (names.length === 0 || (name !== undefined && names.includes(name)));
    });
    const rulesOf = (ref: unknown, bindingNamespace: string | undefined): unknown => {
      if (!isJsonObject(ref) || typeof ref['name'] !== 'string') return undefined;
      if (ref['kind'] === 'ClusterRole') return this.get('ClusterRole', '', ref['name'])?.['rules'];
      if (ref['kind'] === 'Role' && bindingNamespace !== undefined) return this.get('Role', bindingNamespace, ref['name'])?.['rules'];
      return undefined;
    };
    for (const b of this.#store(resourceByKind('ClusterRoleBinding')).values()) {
      if (boundHere(b['subjects']) && allows(rulesOf(b['roleRef'], undefined))) return undefined;
    }
    if (r.namespaced && namespace !== undefined) {
      for (const b of this.#store(resourceByKind('RoleBinding')).values()) {
        if (namespaceOf(metadataOf(b)) === namespace && boundHere(b['subjects']) && allows(rulesOf(b['roleRef'], namespace))) return undefined;
      }
    }
    const what = `${r.plural}${r.group === '' ? '' : `.${r.group}`}${name === undefined ? '' : ` "${name}"`}`;
    const scope = r.namespaced && namespace !== undefined ? `in the namespace "${namespace}"` : 'at the cluster scope';
    return `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${r.group}" ${scope}`;
  }

  /** Whether the kind is served now: always, or for an `onlyWithCrd` kind while a CRD serving its version is stored. */
  #served(r: ResourceType): boolean {
    if (r.onlyWithCrd !== true) return true;
    const crd = this.#store(resourceByKind('CustomResourceDefinition')).get(`${r.plural}.${r.group}`);
    const spec = crd !== undefined && isJsonObject(crd['spec']) ? crd['spec'] : {};
    return (Array.isArray(spec['versions']) ? spec['versions'] : []).some((v: unknown) => isJsonObject(v) && v['name'] === r.version && v['served'] === true);
  }

  /** GET /api, /apis, /api/v1, /apis/<group>/<version>: what kubectl and generic clients discover. */
  #discovery(res: ServerResponse, pathname: string): boolean {
    const parts = pathname.split('/').filter((p) => p !== '');
    const groups = new Map<string, string[]>();
    const served = RESOURCES.filter((r) => this.#served(r));
    for (const r of served) if (r.group !== '' && !(groups.get(r.group) ?? []).includes(r.version)) groups.set(r.group, [...(groups.get(r.group) ?? []), r.version]);
    const resourceList = (group: string, version: string): JsonObject => ({
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`,
      resources: served.filter((r) => r.group === group && r.version === version).flatMap((r) => [
        {
          name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind,
          ...(SHORT_NAMES[r.plural] === undefined ? {} : { shortNames: SHORT_NAMES[r.plural] }),
          verbs: r.plural === 'tokenreviews' ? ['create'] : ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        },
        ...(r.hasStatus ? [{ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }] : []),
      ]),
    });
    if (pathname === '/version') {
      sendJson(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-weft-test', platform: 'linux/amd64' });
    } else if (pathname === '/openapi/v2') {
      // kubectl validates against the protobuf OpenAPI v2 document: this one names no schema
      // (field 1, swagger = "2.0"), so it validates nothing and the server-side rules decide.
      const doc = Buffer.from([0x0a, 0x03, ...Buffer.from('2.0')]);
      res.writeHead(200, { 'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'content-length': doc.length }).end(doc);
    } else if (parts.length === 1 && parts[0] === 'api') {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    } else if (parts.length === 1 && parts[0] === 'apis') {
      sendJson(res, 200, {
        kind: 'APIGroupList', apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name, versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
          preferredVersion: { groupVersion: `${name}/${versions[0] ?? ''}`, version: versions[0] ?? '' },
        })),
      });
    } else if (parts.length === 2 && parts[0] === 'api' && parts[1] === 'v1') {
      sendJson(res, 200, resourceList('', 'v1'));
    } else if (parts.length === 3 && parts[0] === 'apis' && (groups.get(parts[1] ?? '') ?? []).includes(parts[2] ?? '')) {
      sendJson(res, 200, resourceList(parts[1] ?? '', parts[2] ?? ''));
    } else {
      return false;
    }
    return true;
  }

  /** Runs a write with the request's field validation; a refused object becomes its Status. */
  #guard(res: ServerResponse, query: Record<string, string>, write: () => void): void {
    this.#strict = query['fieldValidation'] === 'Strict';
    try {
      write();
    } catch (err) {
      if (!(err instanceof ApiRequestError)) throw err;
      sendJson(res, err.code, err.status());
    } finally {
      this.#strict = false;
    }
  }

  /** POST (create) and PUT (replace, with the resourceVersion checked when given). */
  #write(method: string, res: ServerResponse, r: ResourceType, namespace: string | undefined, name: string | undefined, body: string): void {
    const obj = parseObjectBody(body, JSON.parse);
    if (obj === undefined) return sendStatus(res, 400, 'BadRequest', 'the body is not a JSON object');
    if (obj['apiVersion'] !== apiVersionOf(r) || obj['kind'] !== r.kind) {
      return sendStatus(res, 400, 'BadRequest', `the object is ${String(obj['apiVersion'])} ${String(obj['kind'])}, not ${apiVersionOf(r)} ${r.kind} as the URL says`);
    }
    const meta: JsonObject = isJsonObject(obj['metadata']) ? { ...obj['metadata'] } : {};
    if (r.namespaced) {
      if (meta['namespace'] !== undefined && meta['namespace'] !== namespace) {
        return sendStatus(res, 400, 'BadRequest', `the namespace of the provided object does not match the namespace sent on the request`);
      }
      meta['namespace'] = namespace ?? 'default';
    }
    if (method === 'POST' && (typeof meta['name'] !== 'string' || meta['name'] === '') && typeof meta['generateName'] === 'string') {
      meta['name'] = `${meta['generateName']}${randomUUID().slice(0, 5)}`;
    }
    if (typeof meta['name'] !== 'string' || meta['name'] === '') {
      return sendStatus(res, 422, 'Invalid', `${r.kind} is invalid: metadata.name: Required value: name or generateName is required`);
    }
    if (method === 'PUT' && meta['name'] !== name) {
      return sendStatus(res, 400, 'BadRequest', `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name ?? ''})`);
    }
    const key = r.namespaced ? `${String(meta['namespace'])}/${meta['name']}` : meta['name'];
    const old = this.#store(r).get(key);
    const given: JsonObject = { ...obj, metadata: meta };
    if (method === 'POST') {
      if (old !== undefined) return sendStatus(res, 409, 'AlreadyExists', `${r.plural}${r.group === '' ? '' : `.${r.group}`} "${meta['name']}" already exists`);
      delete meta['resourceVersion'];
      return sendJson(res, 201, withType(r, this.create(given)));
    }
    if (old === undefined) return sendStatus(res, 404, 'NotFound', `${r.plural} "${meta['name']}" not found`);
    const rv = meta['resourceVersion'];
    if (rv !== undefined && rv !== metadataOf(old)['resourceVersion']) {
      return sendStatus(res, 409, 'Conflict', `Operation cannot be fulfilled on ${r.plural}${r.group === '' ? '' : `.${r.group}`} "${meta['name']}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    // The main resource does not change status (the status subresource does).
    if (r.hasStatus) given['status'] = old['status'];
    sendJson(res, 200, withType(r, this.update(given)));
  }

  /**
   * What the server does to an object before storing it: a CRD must be structural and named
   * `<plural>.<group>` (and is Established at once); a custom object whose CRD is stored is
   * validated and pruned against that version's schema. Throws ApiRequestError when refused.
   */
  #admit(r: ResourceType, obj: JsonObject): JsonObject {
    const rawName = metadataOf(obj)['name'];
    const name = typeof rawName === 'string' ? rawName : '';
    if (r.kind === 'CustomResourceDefinition') {
      const spec = isJsonObject(obj['spec']) ? obj['spec'] : {};
      const names = isJsonObject(spec['names']) ? spec['names'] : {};
      const problems: string[] = [];
      if (name !== `${String(names['plural'])}.${String(spec['group'])}`) problems.push(`metadata.name: Invalid value: "${name}": must be spec.names.plural+"."+spec.group`);
      const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
      if (versions.length === 0) problems.push('spec.versions: Invalid value: must have exactly one version marked as storage version');
      if (versions.filter((v: unknown) => isJsonObject(v) && v['storage'] === true).length !== 1) problems.push('spec.versions: Invalid value: must have exactly one version marked as storage version');
      versions.forEach((v: unknown, i: number) => {
        const schema = isJsonObject(v) && isJsonObject(v['schema']) ? v['schema']['openAPIV3Schema'] : undefined;
        problems.push(...checkStructural(schema, `spec.versions[${i}].schema.openAPIV3Schema`));
      });
      if (problems.length > 0) {
        throw new ApiRequestError(422, 'Invalid', `CustomResourceDefinition.apiextensions.k8s.io "${name}" is invalid: ${problems.join(', ')}`,
          problems.map((message) => ({ field: message.split(':')[0] ?? '', reason: 'FieldValueInvalid', message })));
      }
      const storage = versions.find((v: unknown) => isJsonObject(v) && v['storage'] === true) as JsonObject | undefined;
      const now = new Date().toISOString();
      return {
        ...obj,
        status: isJsonObject(obj['status']) && Array.isArray(obj['status']['conditions']) ? obj['status'] : {
          acceptedNames: names,
          storedVersions: [typeof storage?.['name'] === 'string' ? storage['name'] : ''],
          conditions: [
            { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
            { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
          ],
        },
      };
    }
    if (!r.custom) return obj;
    if (!this.#served(r)) throw new ApiRequestError(404, 'NotFound', `the server could not find the requested resource (${r.plural}.${r.group} ${r.version} is not served)`);
    const crd = this.#store(resourceByKind('CustomResourceDefinition')).get(`${r.plural}.${r.group}`);
    if (crd === undefined) return obj;
    const spec = isJsonObject(crd['spec']) ? crd['spec'] : {};
    const version = (Array.isArray(spec['versions']) ? spec['versions'] : []).find((v: unknown) => isJsonObject(v) && v['name'] === r.version) as JsonObject | undefined;
    const schema = isJsonObject(version?.['schema']) ? version['schema']['openAPIV3Schema'] : undefined;
    if (version?.['served'] !== true || !isJsonObject(schema)) {
      throw new ApiRequestError(404, 'NotFound', `the server could not find the requested resource (${r.plural}.${r.group} ${r.version} is not served)`);
    }
    const { object, causes } = admitCustomObject(schema, obj, { strict: this.#strict });
    const unknown = causes.filter((c) => c.reason === 'FieldValueUnknown');
    if (unknown.length > 0) {
      throw new ApiRequestError(400, 'BadRequest', `strict decoding error: ${unknown.map((c) => c.message).join(', ')}`, unknown);
    }
    if (causes.length > 0) {
      throw new ApiRequestError(422, 'Invalid', `${r.kind}.${r.group} "${name}" is invalid: ${causes.map((c) => c.message).join(', ')}`, causes);
    }
    return object;
  }
}

/** The user of the `token` option (or of every request when there is none): never refused. */
const ADMIN = 'system:admin';

/** A refused request, carried out of the store's methods to be sent as a Status. */
class ApiRequestError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: SchemaCause[];

  constructor(code: number, reason: string, message: string, causes: SchemaCause[] = []) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.causes = causes;
  }

  status(): JsonObject {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code,
      ...(this.causes.length === 0 ? {} : { details: { causes: this.causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })) } }),
    };
  }
}

/** The RBAC verb of a request. */
function verbOf(method: string, name: string | undefined, watch: boolean): string {
  switch (method) {
    case 'GET': return watch ? 'watch' : name === undefined ? 'list' : 'get';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return name === undefined ? 'deletecollection' : 'delete';
    default: return method.toLowerCase();
  }
}

/**
 * A strategic merge patch that means what a JSON merge patch means: maps only (no list, whose
 * merge keys this server does not know) and no `$patch`/`$retainKeys`-style directive. kubectl's
 * client-side apply sends such patches for the fields marked `replace` (a PDB's selector).
 */
function plainStrategicPatch(body: string): boolean {
  const plain = (v: unknown): boolean => !Array.isArray(v)
    && (!isJsonObject(v) || Object.entries(v).every(([k, x]) => !k.startsWith('$') && plain(x)));
  const patch = parseObjectBody(body, JSON.parse);
  return patch !== undefined && plain(patch);
}

/** The body as one object, or undefined when it does not parse to one. */
function parseObjectBody(body: string, parse: (text: string) => unknown): JsonObject | undefined {
  let v: unknown;
  try {
    v = parse(body);
  } catch {
    return undefined;
  }
  return isJsonObject(v) ? v : undefined;
}

/** `target` without the fields `previous` set and `next` leaves out (recursing where both have an object). */
function withoutDropped(target: JsonObject, previous: JsonObject, next: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [k, was] of Object.entries(previous)) {
    const now = next[k];
    const current = out[k];
    if (now === undefined) delete out[k];
    else if (isJsonObject(was) && isJsonObject(now) && isJsonObject(current)) out[k] = withoutDropped(current, was, now);
  }
  return out;
}

/** The FieldsV1 set of an applied configuration, with lists counted as atomic. */
function fieldSet(config: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(config)) out[`f:${k}`] = isJsonObject(v) ? fieldSet(v) : {};
  return out;
}

function withoutTimes(obj: JsonObject): unknown {
  const meta = metadataOf(obj);
  const fields = Array.isArray(meta['managedFields'])
    ? meta['managedFields'].map((f: unknown) => (isJsonObject(f) ? { ...f, time: undefined } : f))
    : undefined;
  const { resourceVersion: _rv, ...rest } = meta;
  return { ...obj, metadata: { ...rest, managedFields: fields } };
}

function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function metadataOf(obj: JsonObject): JsonObject {
  const m = obj['metadata'];
  if (!isJsonObject(m)) throw new Error('object without metadata');
  return m;
}

function namespaceOf(meta: JsonObject): string {
  const ns = meta['namespace'];
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
}

function resourceFor(obj: JsonObject): ResourceType {
  const r = RESOURCES.find((x) => x.kind === obj['kind'] && apiVersionOf(x) === obj['apiVersion']);
  if (r === undefined) throw new Error(`the test API server does not serve ${String(obj['apiVersion'])} ${String(obj['kind'])}`);
  return r;
}

function resourceByKind(kind: string): ResourceType {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (r === undefined) throw new Error(`the test API server does not serve kind ${kind}`);
  return r;
}

/** Items of a built-in kind's list come without apiVersion and kind, as from the real server. */
function withoutType(obj: JsonObject): JsonObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

function withType(r: ResourceType, obj: JsonObject): JsonObject {
  return { apiVersion: apiVersionOf(r), kind: r.kind, ...obj };
}

interface Route {
  resource: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

/** `/api/v1/…` or `/apis/<group>/<version>/…`, then `[namespaces/<ns>/]<plural>[/<name>[/<sub>]]`. */
function parsePath(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let group: string;
  let version: string | undefined;
  let rest: string[];
  if (parts[0] === 'api') {
    group = '';
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    version = parts[2];
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status') {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (extra.length > 0) return undefined;
  const resource = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
  if (resource === undefined) return undefined;
  if (namespace !== undefined && !resource.namespaced) return undefined;
  return { resource, namespace, name, subresource };
}

function writeEvent(res: ServerResponse, type: string, object: JsonObject): void {
  if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
