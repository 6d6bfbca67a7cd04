// The part of Istio's MeshConfig weft reads: the telemetry extension providers a Telemetry can
// name, the default providers an entry without names gets, and the default trace sampling.
// Istio keeps MeshConfig in the `mesh` key of ConfigMap `istio` in the root namespace, which
// istiod reads as a mounted file; weft's controller reads the same file (--mesh-config).
// Everything else in it is istiod's business and is passed over unread.
import { parse as parseYaml } from 'yaml';
import { parseDurationSeconds } from '#controller/config.ts';
import { HEADER_NAME } from '#core/config/routes.ts';
import { GRPC_METADATA_KEY, HEADER_VALUE, type TraceExporter } from '#core/config/telemetry.ts';

/** An `opentelemetry` extension provider: OTLP to `service:port`, over HTTP when `http` is set. */
export interface OpenTelemetryProvider {
  kind: 'opentelemetry';
  name: string;
  /** The collector's host: Istio's `service` without its optional `<namespace>/` prefix. */
  host: string;
  port: number;
  /** Set: OTLP/HTTP. */
  http?: { path: string; timeoutMs?: number; headers: Record<string, string> };
  /** Set (when `http` is not): OTLP/gRPC, Istio's default for the kind. */
  grpc?: { timeoutMs?: number; headers: Record<string, string> };
}

/** An `envoyFileAccessLog` extension provider: the proxy's access log written to a file. */
export interface FileAccessLogProvider {
  kind: 'envoyFileAccessLog';
  name: string;
  path: string;
}

/** A provider of a kind weft has no counterpart for (zipkin, datadog, envoyExtAuthzHttp, ...). */
export interface OtherProvider {
  kind: 'other';
  name: string;
  /** Its kind as MeshConfig names it. */
  type: string;
}

export type ExtensionProvider = OpenTelemetryProvider | FileAccessLogProvider | OtherProvider;

export interface MeshConfig {
  extensionProviders: ReadonlyMap<string, ExtensionProvider>;
  /** `defaultProviders`: what a Telemetry entry that names none uses, and what applies without any Telemetry. */
  defaultProviders: { tracing: readonly string[]; accessLogging: readonly string[] };
  /** `defaultConfig.tracing.sampling`: the percentage new traces are sampled at when no Telemetry sets one. */
  defaultSamplingPercentage?: number;
  /** Fields weft reads that it could not; the rest applies. */
  problems: readonly string[];
}

export const EMPTY_MESH_CONFIG: MeshConfig = { extensionProviders: new Map(), defaultProviders: { tracing: [], accessLogging: [] }, problems: [] };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where an OTLP provider's spans go, and how: the exporter a waypoint is pushed. */
export function otlpExporter(p: OpenTelemetryProvider): TraceExporter {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  const t = p.http ?? p.grpc ?? { headers: {} };
  const out: TraceExporter = { provider: p.name, url: `http://${host}:${p.port}${p.http?.path ?? ''}` };
  if (p.http === undefined) out.protocol = 'grpc';
  if (Object.keys(t.headers).length > 0) out.headers = { ...t.headers };
  if (t.timeoutMs !== undefined) out.timeoutMs = t.timeoutMs;
  return out;
}

function names(v: unknown, path: string, problems: string[]): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((n): n is string => typeof n === 'string' && n !== '')) {
    problems.push(`${path}: must be a list of provider names`);
    return [];
  }
  return v;
}

function openTelemetry(name: string, o: Obj, path: string, problems: string[]): OpenTelemetryProvider | undefined {
  const service = o['service'];
  const port = o['port'];
  if (typeof service !== 'string' || service === '') {
    problems.push(`${path}.service: must be the collector's host name`);
    return undefined;
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    problems.push(`${path}.port: must be a port number`);
    return undefined;
  }
  // Istio accepts `<namespace>/<hostname>`; the namespace only scopes the lookup.
  const host = service.slice(service.indexOf('/') + 1);
  const p: OpenTelemetryProvider = { kind: 'opentelemetry', name, host, port };
  const http = o['http'];
  // Without `http`, Istio's provider speaks OTLP/gRPC, with the options of its `grpc` field.
  if (http === undefined) {
    p.grpc = transport(o['grpc'], `${path}.grpc`, 'initialMetadata', problems);
    return p;
  }
  if (!isObj(http)) {
    problems.push(`${path}.http: must be an object`);
    return undefined;
  }
  const rawPath = http['path'] ?? '/v1/traces';
  if (typeof rawPath !== 'string') {
    problems.push(`${path}.http.path: must be a string`);
    return undefined;
  }
  p.http = { path: rawPath.startsWith('/') ? rawPath : `/${rawPath}`, ...transport(http, `${path}.http`, 'headers', problems) };
  return p;
}

/** A transport's timeout and its list of {name, value} headers (HTTP) or metadata (gRPC). */
function transport(v: unknown, path: string, listKey: string, problems: string[]): { timeoutMs?: number; headers: Record<string, string> } {
  const out: { timeoutMs?: number; headers: Record<string, string> } = { headers: {} };
  if (v === undefined) return out;
  if (!isObj(v)) {
    problems.push(`${path}: must be an object`);
    return out;
  }
  const timeout = v['timeout'];
  if (timeout !== undefined) {
    const seconds = typeof timeout === 'string' ? parseDurationSeconds(timeout) : undefined;
    if (seconds === undefined || seconds <= 0) problems.push(`${path}.timeout: must be a duration such as 5s`);
    else out.timeoutMs = Math.max(1, Math.round(seconds * 1000));
  }
  const list = v[listKey];
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    problems.push(`${path}.${listKey}: must be a list of {name, value}`);
    return out;
  }
  const nameOk = listKey === 'initialMetadata' ? GRPC_METADATA_KEY : HEADER_NAME;
  list.forEach((h: unknown, i) => {
    if (!isObj(h) || typeof h['name'] !== 'string' || h['name'] === '' || typeof h['value'] !== 'string') {
      problems.push(`${path}.${listKey}[${i}]: weft reads {name, value} (envName is not read)`);
      return;
    }
    const name = h['name'].toLowerCase();
    if (!nameOk.test(name)) problems.push(`${path}.${listKey}[${i}].name: ${JSON.stringify(h['name'])} cannot be sent as a ${listKey === 'initialMetadata' ? 'gRPC metadata key' : 'header name'}`);
    else if (!HEADER_VALUE.test(h['value'])) problems.push(`${path}.${listKey}[${i}].value: must be printable ASCII`);
    else out.headers[name] = h['value'];
  });
  return out;
}

function provider(v: unknown, path: string, problems: string[]): ExtensionProvider | undefined {
  if (!isObj(v) || typeof v['name'] !== 'string' || v['name'] === '') {
    problems.push(`${path}: must have a name`);
    return undefined;
  }
  const name = v['name'];
  const kinds = Object.keys(v).filter((k) => k !== 'name');
  const [type] = kinds;
  if (type === undefined || kinds.length > 1) {
    problems.push(`${path}: must configure exactly one kind of provider`);
    return undefined;
  }
  const body = v[type];
  if (!isObj(body)) {
    problems.push(`${path}.${type}: must be an object`);
    return undefined;
  }
  if (type === 'opentelemetry') return openTelemetry(name, body, `${path}.opentelemetry`, problems);
  if (type === 'envoyFileAccessLog') {
    const file = body['path'] ?? '/dev/stdout';
    if (typeof file !== 'string') {
      problems.push(`${path}.envoyFileAccessLog.path: must be a string`);
      return undefined;
    }
    return { kind: 'envoyFileAccessLog', name, path: file };
  }
  return { kind: 'other', name, type };
}

/** Reads MeshConfig from its YAML; throws when it is not YAML or not a mapping, lists smaller faults in `problems`. */
export function parseMeshConfig(text: string): MeshConfig {
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return EMPTY_MESH_CONFIG;
  if (!isObj(doc)) throw new Error('mesh config: must be a YAML mapping');
  const problems: string[] = [];
  const extensionProviders = new Map<string, ExtensionProvider>();
  const list = doc['extensionProviders'];
  if (list !== undefined && !Array.isArray(list)) problems.push('extensionProviders: must be a list');
  if (Array.isArray(list)) {
    list.forEach((v: unknown, i) => {
      const p = provider(v, `extensionProviders[${i}]`, problems);
      if (p === undefined) return;
      if (extensionProviders.has(p.name)) problems.push(`extensionProviders[${i}]: a provider named ${JSON.stringify(p.name)} comes earlier; the first applies`);
      else extensionProviders.set(p.name, p);
    });
  }
  const defaults = doc['defaultProviders'];
  const d = isObj(defaults) ? defaults : {};
  if (defaults !== undefined && !isObj(defaults)) problems.push('defaultProviders: must be an object');
  const defaultProviders = { tracing: names(d['tracing'], 'defaultProviders.tracing', problems), accessLogging: names(d['accessLogging'], 'defaultProviders.accessLogging', problems) };
  const out: MeshConfig = { extensionProviders, defaultProviders, problems };
  const defaultConfig = doc['defaultConfig'];
  const tracing = isObj(defaultConfig) ? defaultConfig['tracing'] : undefined;
  const sampling = isObj(tracing) ? tracing['sampling'] : undefined;
  if (sampling !== undefined) {
    if (typeof sampling !== 'number' || !Number.isFinite(sampling) || sampling < 0 || sampling > 100) problems.push('defaultConfig.tracing.sampling: must be a number from 0 to 100');
    else out.defaultSamplingPercentage = sampling;
  }
  return out;
}
