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
// Not implemented: JSON patch, strategic merge patch, pagination, selectors, schema validation,
// discovery, admission (a namespace need not exist), cluster IP allocation (tests set
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
];

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
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Readonly<Record<string, string>>;
  watch: boolean;
  /** The media type of the body (`application/apply-patch+yaml`, ...), without parameters. */
  contentType?: string;
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
  #resourceVersion = 1;
  #failure: FailureRule | undefined;
  /** Every request served, in order (tests assert relists and reconnections with it). */
  readonly requests: RecordedRequest[] = [];
  /** How many watches were answered with 410 Gone. */
  goneCount = 0;
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
    s.#server.listen(0, '127.0.0.1');
    await once(s.#server, 'listening');
    const { port } = s.#server.address() as AddressInfo;
    s.url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
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
    const stored: JsonObject = structuredClone(obj);
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
    const stored: JsonObject = structuredClone(obj);
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
    if (this.#options.token !== undefined && req.headers.authorization !== `Bearer ${this.#options.token}`) {
      req.resume();
      return sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const injected = this.#failure?.(recorded);
    if (injected !== undefined) {
      req.resume();
      return sendStatus(res, injected, 'InternalError', `injected failure ${injected}`);
    }
    const route = parsePath(url.pathname);
    if (route === undefined) {
      req.resume();
      return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    const { resource: r, namespace, name, subresource } = route;
    if (req.method === 'GET' && name === undefined) {
      return watch ? this.#watch(req, res, r, namespace, query) : this.#list(res, r, namespace);
    }
    if (req.method === 'GET' && name !== undefined && subresource === undefined) {
      const obj = this.#store(r).get(r.namespaced ? `${namespace ?? ''}/${name}` : name);
      return obj === undefined ? sendStatus(res, 404, 'NotFound', `${r.plural} "${name}" not found`) : sendJson(res, 200, withType(r, obj));
    }
    if ((req.method === 'PATCH' || req.method === 'PUT') && name !== undefined && subresource === 'status' && r.hasStatus) {
      readBody(req).then((body) => this.#writeStatus(req, res, r, namespace ?? '', name, body), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    if (req.method === 'PATCH' && name !== undefined && subresource === undefined) {
      readBody(req).then((body) => this.#patch(res, r, namespace ?? '', name, contentType, query, body), () => {
        sendStatus(res, 400, 'BadRequest', 'cannot read the request body');
      });
      return;
    }
    if (req.method === 'DELETE' && name !== undefined && subresource === undefined) {
      req.resume();
      return this.#deleteRequest(res, r, namespace ?? '', name);
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
    if (type === 'application/merge-patch+json') {
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
      return sendStatus(res, 415, 'UnsupportedMediaType', `this test server patches objects with application/merge-patch+json or application/apply-patch+yaml, got ${type === '' ? 'none' : type}`);
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
