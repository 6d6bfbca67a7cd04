// The telemetry settings a waypoint applies, as they cross the push stream (plain JSON), and
// their validator. The controller resolves Istio's Telemetry resources (root namespace,
// namespace, targetRefs to the waypoint's Gateway, the most specific winning field by field)
// into one of these per waypoint; a field left out means the waypoint's own configured default.
// Pods' access logging rides on their Workload instead (`Workload.accessLog`).
import { FieldError, bool, obj, str } from './fields.ts';
import type { Obj } from './fields.ts';

export interface TracingSettings {
  /** Istio's randomSamplingPercentage: 0–100, for requests whose caller did not decide. */
  randomSamplingPercentage?: number;
  /** Spans are still made and propagated, but not sent. */
  disableSpanReporting?: boolean;
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
