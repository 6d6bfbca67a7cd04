// Route selection at the waypoint: which entry of a Service's route table a request takes,
// as a pure function of the table and the request. The table arrives sorted in precedence
// order, so the first entry that matches wins; this file only decides which group of entries
// applies (consumer, producer or waypoint-attached, and the port) and evaluates matches,
// including a VirtualService's restriction to source workloads or a source namespace.
import { compileRouteRegex } from '#core/config/routes.ts';
import type { GrpcRouteMatch, HttpRouteMatch, RouteEntry, ServiceRoutes } from '#core/config/routes.ts';

export interface RouteRequest {
  method: string;
  /** The request target's path, with its query string. */
  path: string;
  /** The Service port the request was sent to. */
  port: number;
  /** Lower-case name; repeated headers joined with ",". */
  header: (name: string) => string | undefined;
  /**
   * The client's namespace (from its peer identity). Consumer routes apply only to clients of
   * their own namespace; without it they never apply and producer routes do.
   */
  sourceNamespace?: string;
  /** The uid of the client's workload, when its address is a known workload. */
  sourceWorkload?: string;
}

/** The request, with the parts matches read computed once and only when needed. */
class RequestView {
  readonly req: RouteRequest;
  readonly pathOnly: string;
  readonly #query: string;
  #params: URLSearchParams | undefined;
  #grpc: { service: string; method: string } | null | undefined;

  constructor(req: RouteRequest) {
    this.req = req;
    const q = req.path.indexOf('?');
    this.pathOnly = q === -1 ? req.path : req.path.slice(0, q);
    this.#query = q === -1 ? '' : req.path.slice(q + 1);
  }

  /** The first value of a query parameter, as the spec recommends for repeated ones. */
  query(name: string): string | null {
    this.#params ??= new URLSearchParams(this.#query);
    return this.#params.get(name);
  }

  /** `/package.Service/Method`, or null when the path is not a gRPC method. */
  grpc(): { service: string; method: string } | null {
    if (this.#grpc === undefined) {
      const m = /^\/([^/]+)\/([^/]+)$/.exec(this.pathOnly);
      this.#grpc = m === null ? null : { service: m[1] ?? '', method: m[2] ?? '' };
    }
    return this.#grpc;
  }
}

type Test = (r: RequestView) => boolean;

interface CompiledEntry {
  entry: RouteEntry;
  test: Test;
}

interface CompiledTable {
  consumer: CompiledEntry[];
  producer: CompiledEntry[];
  waypoint: CompiledEntry[];
  /** The applicable group per `port/sourceNamespace`; both sets are small and bounded by the cluster. */
  groups: Map<string, CompiledEntry[]>;
}

const cache = new WeakMap<ServiceRoutes, CompiledTable>();

function valueTest(type: 'Exact' | 'RegularExpression', value: string): (v: string) => boolean {
  if (type === 'Exact') return (v) => v === value;
  const re = compileRouteRegex(value);
  return (v) => re.test(v);
}

function headerTests(headers: GrpcRouteMatch['headers']): Test[] {
  return headers.map((h) => {
    const ok = valueTest(h.type, h.value);
    return (r) => {
      const v = r.req.header(h.name);
      return v !== undefined && ok(v);
    };
  });
}

function httpTests(m: HttpRouteMatch): Test[] {
  const tests: Test[] = [];
  const { type, value } = m.path;
  if (type === 'Exact') tests.push((r) => r.pathOnly === value);
  else if (type === 'PathPrefix') {
    // Element-wise: `/abc` matches `/abc`, `/abc/` and `/abc/def`, never `/abcd`.
    if (value !== '/') tests.push((r) => r.pathOnly === value || r.pathOnly.startsWith(`${value}/`));
  } else {
    const re = compileRouteRegex(value);
    tests.push((r) => re.test(r.pathOnly));
  }
  if (m.method !== undefined) {
    const method = m.method;
    tests.push((r) => r.req.method === method);
  }
  tests.push(...headerTests(m.headers));
  if (m.sourceWorkloads !== undefined) {
    // A client that is no known workload never matches: the restriction cannot be checked.
    const allowed = new Set(m.sourceWorkloads);
    tests.push((r) => r.req.sourceWorkload !== undefined && allowed.has(r.req.sourceWorkload));
  }
  if (m.sourceNamespace !== undefined) {
    const ns = m.sourceNamespace;
    tests.push((r) => r.req.sourceNamespace === ns);
  }
  for (const q of m.queryParams) {
    const ok = valueTest(q.type, q.value);
    tests.push((r) => {
      const v = r.query(q.name);
      return v !== null && ok(v);
    });
  }
  return tests;
}

function grpcTests(m: GrpcRouteMatch): Test[] {
  const tests: Test[] = [];
  const mm = m.method;
  if (mm !== undefined) {
    const service = mm.service === undefined ? undefined : valueTest(mm.type, mm.service);
    const method = mm.method === undefined ? undefined : valueTest(mm.type, mm.method);
    tests.push((r) => {
      const g = r.grpc();
      return g !== null && (service === undefined || service(g.service)) && (method === undefined || method(g.method));
    });
  }
  tests.push(...headerTests(m.headers));
  return tests;
}

function compileEntry(entry: RouteEntry): CompiledEntry {
  const tests = entry.match.protocol === 'http' ? httpTests(entry.match) : grpcTests(entry.match);
  return { entry, test: (r) => tests.every((t) => t(r)) };
}

function compiled(table: ServiceRoutes): CompiledTable {
  let c = cache.get(table);
  if (c === undefined) {
    c = { consumer: [], producer: [], waypoint: [], groups: new Map() };
    for (const entry of table.entries) c[entry.attachment].push(compileEntry(entry));
    cache.set(table, c);
  }
  return c;
}

/**
 * The entries that apply to a request, before matching (GEP-1294): the consumer routes of the
 * client's namespace if it has any, else the producer routes, else the routes attached to the
 * waypoint itself; in each case only those for the request's port. Groups never mix.
 */
function group(c: CompiledTable, port: number, sourceNamespace: string | undefined): CompiledEntry[] {
  const key = `${port}/${sourceNamespace ?? ''}`;
  let g = c.groups.get(key);
  if (g === undefined) {
    const onPort = (e: CompiledEntry): boolean => e.entry.port === undefined || e.entry.port === port;
    const consumer = sourceNamespace === undefined ? [] : c.consumer.filter((e) => e.entry.route.namespace === sourceNamespace && onPort(e));
    const producer = consumer.length > 0 ? [] : c.producer.filter(onPort);
    g = consumer.length > 0 ? consumer : producer.length > 0 ? producer : c.waypoint.filter(onPort);
    c.groups.set(key, g);
  }
  return g;
}

/**
 * The entry a request takes, or undefined when no entry matches. When `hasRoutes` is true an
 * undefined answer is a 404 (gRPC: UNIMPLEMENTED); when it is false no route applies and the
 * request goes to the Service as if there were none.
 */
export function selectRoute(table: ServiceRoutes, req: RouteRequest): RouteEntry | undefined {
  const entries = group(compiled(table), req.port, req.sourceNamespace);
  if (entries.length === 0) return undefined;
  const view = new RequestView(req);
  return entries.find((e) => e.test(view))?.entry;
}

/** Whether any route applies to requests on this port from this client (see selectRoute). */
export function hasRoutes(table: ServiceRoutes, req: Pick<RouteRequest, 'port' | 'sourceNamespace'>): boolean {
  return group(compiled(table), req.port, req.sourceNamespace).length > 0;
}
