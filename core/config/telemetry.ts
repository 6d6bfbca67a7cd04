// The telemetry settings a waypoint applies, as they cross the push stream (plain JSON), and
// their validator. The controller resolves Istio's Telemetry resources (root namespace,
// namespace, targetRefs to the waypoint's Gateway, the most specific winning field by field)
// into one of these per waypoint; a field left out means the waypoint's own configured default.
// Pods' access logging rides on their Workload instead (`Workload.accessLog`).
import { FieldError, bool, obj, record, str } from './fields.ts';
import type { Obj } from './fields.ts';
import { HEADER_NAME } from './routes.ts';

/** Where spans go: an OTLP collector that a mesh config extension provider names. */
export interface TraceExporter {
  /** The provider's name in the mesh config, for logs and the config dump. */
  provider: string;
  /** OTLP over gRPC (TraceService/Export); left out, OTLP/HTTP. */
  protocol?: 'grpc';
  /** OTLP/HTTP: `http://host:port/path` the spans are posted to; gRPC: `http://host:port`. */
  url: string;
  /** HTTP headers, or gRPC metadata. */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface TracingSettings {
  /** Istio's randomSamplingPercentage: 0–100, for requests whose caller did not decide. */
  randomSamplingPercentage?: number;
  /** Spans are still made and propagated, but not sent. */
  disableSpanReporting?: boolean;
  /** Left out: the exporter the waypoint was started with (--otlp-endpoint), if any. */
  exporter?: TraceExporter;
}

export interface WaypointTelemetry {
  /** `<namespace>/<gateway name>` of the waypoint. */
  waypoint: string;
  /** Whether the waypoint writes its per-request access log. */
  accessLog?: boolean;
  tracing?: TracingSettings;
}

function optBool(o: Obj, key: string, path: string): boolean | undefined {
  return o[key] === undefined ? undefined : bool(o, key, path);
}

function tracing(v: unknown, path: string): TracingSettings {
  const o = obj(v, path);
  const out: TracingSettings = {};
  const pct = o['randomSamplingPercentage'];
  if (pct !== undefined) {
    if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) throw new FieldError(`${path}.randomSamplingPercentage`, 'must be a number from 0 to 100');
    out.randomSamplingPercentage = pct;
  }
  const disable = optBool(o, 'disableSpanReporting', path);
  if (disable !== undefined) out.disableSpanReporting = disable;
  if (o['exporter'] !== undefined) out.exporter = exporter(o['exporter'], `${path}.exporter`);
  return out;
}

/** gRPC ASCII metadata keys (a `-bin` key would need binary values). */
export const GRPC_METADATA_KEY = /^(?!.*-bin$)[0-9a-z_.-]+$/;
/** What both carry as a value: printable ASCII and spaces. */
export const HEADER_VALUE = /^[\x20-\x7e]*$/;

function exporter(v: unknown, path: string): TraceExporter {
  const o = obj(v, path);
  const url = str(o, 'url', path);
  const proto = URL.parse(url)?.protocol;
  if (proto !== 'http:' && proto !== 'https:') throw new FieldError(`${path}.url`, 'must be an http:// or https:// URL');
  const out: TraceExporter = { provider: str(o, 'provider', path), url };
  const protocol = o['protocol'];
  if (protocol !== undefined) {
    if (protocol !== 'grpc') throw new FieldError(`${path}.protocol`, 'must be grpc, or left out for OTLP/HTTP');
    out.protocol = protocol;
  }
  if (o['headers'] !== undefined) {
    out.headers = record(o, 'headers', path, (h, p) => {
      if (typeof h !== 'string') throw new FieldError(p, 'must be a string');
      if (!HEADER_VALUE.test(h)) throw new FieldError(p, 'must be printable ASCII');
      return h;
    });
    const bad = Object.keys(out.headers).find((n) => !(out.protocol === 'grpc' ? GRPC_METADATA_KEY : HEADER_NAME).test(n));
    if (bad !== undefined) throw new FieldError(`${path}.headers`, `${JSON.stringify(bad)} is not a valid ${out.protocol === 'grpc' ? 'gRPC metadata key' : 'HTTP header name'}`);
  }
  const timeout = o['timeoutMs'];
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0) throw new FieldError(`${path}.timeoutMs`, 'must be a positive whole number');
    out.timeoutMs = timeout;
  }
  return out;
}

export function parseWaypointTelemetry(v: unknown, path: string): WaypointTelemetry {
  const o = obj(v, path);
  const waypoint = str(o, 'waypoint', path);
  if (!/^[^/]+\/[^/]+$/.test(waypoint)) throw new FieldError(`${path}.waypoint`, 'must be <namespace>/<name>');
  const out: WaypointTelemetry = { waypoint };
  const accessLog = optBool(o, 'accessLog', path);
  if (accessLog !== undefined) out.accessLog = accessLog;
  if (o['tracing'] !== undefined) out.tracing = tracing(o['tracing'], `${path}.tracing`);
  return out;
}
