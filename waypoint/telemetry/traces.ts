// Request tracing at the waypoint: each request starts or continues a W3C trace (a B3 parent
// is accepted too), the outgoing request carries the waypoint's span as its parent, and
// spans go to an OTLP collector (HTTP, or gRPC when pushed so) through the OpenTelemetry SDK.
// Header parsing and the span attributes are pure functions; only WaypointTracing touches the
// SDK.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Span } from '@opentelemetry/api';
import { Metadata, credentials } from '@grpc/grpc-js';
import { OTLPTraceExporter as OTLPGrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { Sampler, SamplingResult, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { TraceExporter, TracingSettings } from '#core/config/telemetry.ts';
import type { HeaderMap } from '#waypoint/request/plan-types.ts';

/** Where a request's trace came from: the caller's span, as its headers named it. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The caller's sampling decision; undefined when it left the decision to us (B3 without a flag). */
  sampled: boolean | undefined;
  format: 'w3c' | 'b3-single' | 'b3-multi';
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

function validIds(traceId: string, spanId: string): boolean {
  return HEX32.test(traceId) && HEX16.test(spanId) && traceId !== ZERO32 && spanId !== ZERO16;
}

/** W3C Trace Context §3.2: `version-traceid-parentid-flags`; version ff and all-zero ids are invalid. */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const parts = value.trim().toLowerCase().split('-');
  const [version, traceId, spanId, flags] = parts;
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return undefined;
  if (!/^[0-9a-f]{2}$/.test(version) || version === 'ff' || !/^[0-9a-f]{2}$/.test(flags)) return undefined;
  // Version 00 has exactly four fields; later versions may append more.
  if (version === '00' && parts.length !== 4) return undefined;
  if (!validIds(traceId, spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, format: 'w3c' };
}

/** B3 sampling state: `1`/`d` (debug) sample, `0` does not, absent defers. */
function b3Sampled(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'd' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** A 64-bit B3 trace id is left-padded to W3C's 128 bits. */
function b3TraceId(v: string): string {
  return v.length === 16 ? `${ZERO16}${v}` : v;
}

/** The single `b3` header: `traceid-spanid[-sampled[-parentspanid]]` (a lone `0` means "do not sample", no parent). */
export function parseB3Single(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const [t, s, sampled] = value.trim().toLowerCase().split('-');
  if (t === undefined || s === undefined) return undefined;
  const traceId = b3TraceId(t);
  if (!validIds(traceId, s)) return undefined;
  return { traceId, spanId: s, sampled: b3Sampled(sampled), format: 'b3-single' };
}

/** The caller's trace: `traceparent` first, then `b3`, then `x-b3-traceid` / `x-b3-spanid` / `x-b3-sampled` / `x-b3-flags`. */
export function incomingTrace(header: (name: string) => string | undefined): TraceParent | undefined {
  const w3c = parseTraceparent(header('traceparent'));
  if (w3c !== undefined) return w3c;
  const single = parseB3Single(header('b3'));
  if (single !== undefined) return single;
  const t = header('x-b3-traceid')?.trim().toLowerCase();
  const s = header('x-b3-spanid')?.trim().toLowerCase();
  if (t === undefined || s === undefined) return undefined;
  const traceId = b3TraceId(t);
  if (!validIds(traceId, s)) return undefined;
  const sampled = header('x-b3-flags')?.trim() === '1' ? true : b3Sampled(header('x-b3-sampled')?.trim().toLowerCase());
  return { traceId, spanId: s, sampled, format: 'b3-multi' };
}

/** B3 headers of the caller's span that a continued multi-header B3 trace drops. */
export const B3_CLEARED = ['x-b3-parentspanid', 'x-b3-flags'] as const;

/**
 * Points the outgoing request at the waypoint's span. `traceparent` is always set; B3
 * headers the caller sent are rewritten in their own form, so a B3-only backend sees the
 * same parent.
 */
export function injectTrace(headers: HeaderMap, span: { traceId: string; spanId: string; sampled: boolean }, from: TraceParent['format'] | undefined): void {
  const flag = span.sampled ? '1' : '0';
  headers['traceparent'] = `00-${span.traceId}-${span.spanId}-0${flag}`;
  if (from === 'b3-single') headers['b3'] = `${span.traceId}-${span.spanId}-${flag}`;
  if (from === 'b3-multi') {
    headers['x-b3-traceid'] = span.traceId;
    headers['x-b3-spanid'] = span.spanId;
    headers['x-b3-sampled'] = flag;
    for (const k of B3_CLEARED) delete headers[k];
  }
}

/** What a finished request says about itself, in the waypoint's own terms. */
export interface RequestSummary {
  method: string;
  /** `scheme://authority/path`, as Envoy's `http.url`. */
  url: string;
  protocol: 'http' | 'grpc';
  status: number;
  /** Envoy's response flags, `-` for none. */
  flags: string;
  requestId: string | undefined;
  userAgent: string | undefined;
  sourceAddress: string;
  sourcePrincipal: string | undefined;
  destinationPrincipal: string | undefined;
  /** The Service's hostname and port, when the request went to one. */
  service: { hostname: string; port: number; namespace: string } | undefined;
  /** `ip:port` of the endpoint that answered. */
  upstreamHost: string | undefined;
  requestBytes: number;
  responseBytes: number;
  grpcStatus: string | undefined;
}

/** Envoy's cluster name for a Service port: `outbound|<port>|<subset>|<hostname>`. */
export function upstreamCluster(service: RequestSummary['service']): string {
  return service === undefined ? 'PassthroughCluster' : `outbound|${service.port}||${service.hostname}`;
}

/** The span's attributes: Envoy's tracing tags plus Istio's identity and mesh tags. */
export function spanAttributes(r: RequestSummary, self: { namespace: string; name: string; meshId: string }): Attributes {
  const a: Attributes = {
    'component': 'proxy',
    'node_id': `waypoint~${self.namespace}~${self.name}`,
    'http.method': r.method,
    'http.url': r.url,
    'http.protocol': r.protocol === 'grpc' ? 'HTTP/2' : 'HTTP/1.1',
    'http.status_code': String(r.status),
    'response_flags': r.flags,
    'upstream_cluster': upstreamCluster(r.service),
    'upstream_cluster.name': upstreamCluster(r.service),
    'peer.address': r.sourceAddress,
    'request_size': String(r.requestBytes),
    'response_size': String(r.responseBytes),
    'istio.mesh_id': self.meshId,
    'istio.namespace': self.namespace,
    'istio.canonical_service': self.name,
  };
  if (r.requestId !== undefined) a['guid:x-request-id'] = r.requestId;
  if (r.userAgent !== undefined) a['user_agent'] = r.userAgent;
  if (r.upstreamHost !== undefined) a['upstream_address'] = r.upstreamHost;
  if (r.sourcePrincipal !== undefined) a['source.principal'] = r.sourcePrincipal;
  if (r.destinationPrincipal !== undefined) a['destination.principal'] = r.destinationPrincipal;
  if (r.grpcStatus !== undefined) a['grpc.status_code'] = r.grpcStatus;
  // Envoy marks 5xx answers (and any with a failure flag) as errors.
  if (r.status >= 500 || r.status === 0) a['error'] = 'true';
  return a;
}

/** Envoy's default operation name for a request to a Service: `<hostname>:<port>/*`. */
export function spanName(service: RequestSummary['service'], authority: string): string {
  return service === undefined ? `${authority}/*` : `${service.hostname}:${service.port}/*`;
}

export interface TracingOptions {
  /**
   * OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`: where spans go unless pushed
   * Telemetry names another exporter. Undefined: no spans until one is pushed.
   */
  endpoint: string | undefined;
  /** Istio's randomSamplingPercentage: 0–100, for requests whose caller did not decide. */
  samplingPercentage: number;
  namespace: string;
  name: string;
  meshId?: string;
  random?: () => number;
  /** How long spans wait to be batched before they are sent. */
  batchDelayMs?: number;
}

/** The SDK's exporter for a collector: OTLP/HTTP (JSON), or OTLP/gRPC in plain text with the headers as metadata. */
function otlpExporter(e: TraceExporter): SpanExporter {
  const timeout = e.timeoutMs === undefined ? {} : { timeoutMillis: e.timeoutMs };
  if (e.protocol !== 'grpc') return new OTLPTraceExporter({ url: e.url, ...(e.headers === undefined ? {} : { headers: e.headers }), ...timeout });
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(e.headers ?? {})) metadata.set(k, v);
  return new OTLPGrpcTraceExporter({ url: e.url, metadata, credentials: credentials.createInsecure(), ...timeout });
}

/** One request's span, from its start to its end. */
export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  /** Sets the outgoing request's trace headers to this span. */
  inject(headers: HeaderMap): void;
  end(summary: RequestSummary): void;
}

/** Trace-id ratio sampling whose ratio can change while spans are being made. */
class RatioSampler implements Sampler {
  #inner: TraceIdRatioBasedSampler;

  constructor(ratio: number) {
    this.#inner = new TraceIdRatioBasedSampler(ratio);
  }

  set ratio(r: number) {
    this.#inner = new TraceIdRatioBasedSampler(r);
  }

  shouldSample(...[context, traceId]: Parameters<Sampler['shouldSample']>): SamplingResult {
    return this.#inner.shouldSample(context, traceId);
  }

  toString(): string {
    return this.#inner.toString();
  }
}

/** One exporter's SDK pipeline: a provider with its batch processor, and its tracer. */
interface Pipeline {
  /** What it was built from, to tell whether a pushed exporter is a different one. */
  key: string;
  exporter: TraceExporter;
  provider: BasicTracerProvider;
  tracer: ReturnType<BasicTracerProvider['getTracer']>;
}

export class WaypointTracing {
  readonly #self: { namespace: string; name: string; meshId: string };
  readonly #default: number;
  readonly #defaultExporter: TraceExporter | undefined;
  readonly #sampler: RatioSampler;
  readonly #batchDelayMs: number;
  #pipeline: Pipeline | undefined;
  /** Pipelines replaced by a pushed exporter, flushing what they hold. */
  readonly #retiring = new Set<Promise<void>>();
  #percentage: number;
  #report = true;
  readonly #random: () => number;

  constructor(o: TracingOptions) {
    this.#default = this.#percentage = o.samplingPercentage;
    this.#sampler = new RatioSampler(o.samplingPercentage / 100);
    this.#random = o.random ?? Math.random;
    this.#self = { namespace: o.namespace, name: o.name, meshId: o.meshId ?? 'cluster.local' };
    this.#batchDelayMs = o.batchDelayMs ?? 1000;
    this.#defaultExporter = o.endpoint === undefined ? undefined : { provider: 'otlp-endpoint', url: o.endpoint };
    this.#use(this.#defaultExporter);
  }

  /** Whether spans have somewhere to go; without an exporter requests are not traced at all. */
  get active(): boolean { return this.#pipeline !== undefined; }

  /** The exporter spans go to now. */
  get exporter(): TraceExporter | undefined { return this.#pipeline?.exporter; }

  /** The sampling percentage new traces get now. */
  get samplingPercentage(): number { return this.#percentage; }

  /**
   * Applies pushed Telemetry settings from the next request on; a setting left out returns to
   * the configured default (`samplingPercentage`, spans reported, the `endpoint` exporter).
   * Spans of requests still in flight on a replaced exporter are dropped; what it had batched
   * is sent.
   */
  configure(s: TracingSettings): void {
    this.#percentage = s.randomSamplingPercentage ?? this.#default;
    this.#sampler.ratio = this.#percentage / 100;
    this.#report = s.disableSpanReporting !== true;
    this.#use(s.exporter ?? this.#defaultExporter);
  }

  #use(exporter: TraceExporter | undefined): void {
    const key = exporter === undefined ? '' : JSON.stringify([exporter.protocol ?? 'http', exporter.url, exporter.headers ?? {}, exporter.timeoutMs ?? 0]);
    if ((this.#pipeline?.key ?? '') === key) {
      if (this.#pipeline !== undefined && exporter !== undefined) this.#pipeline.exporter = exporter;
      return;
    }
    if (this.#pipeline !== undefined) {
      const done = this.#pipeline.provider.shutdown().catch(() => undefined).finally(() => this.#retiring.delete(done));
      this.#retiring.add(done);
    }
    this.#pipeline = exporter === undefined ? undefined : this.#build(key, exporter);
  }

  #build(key: string, exporter: TraceExporter): Pipeline {
    const provider = new BasicTracerProvider({
      // A caller's decision stands; a new trace is sampled at the configured rate.
      sampler: new ParentBasedSampler({ root: this.#sampler }),
      resource: resourceFromAttributes({ 'service.name': `${this.#self.name}.${this.#self.namespace}`, 'service.namespace': this.#self.namespace }),
      spanProcessors: [new BatchSpanProcessor(otlpExporter(exporter), { scheduledDelayMillis: this.#batchDelayMs })],
    });
    return { key, exporter, provider, tracer: provider.getTracer('weft-waypoint') };
  }

  /**
   * Starts the request's span under the caller's, if the headers name one. Call only while
   * `active`; without an exporter the span is made by the SDK's no-op tracer and not sent.
   */
  start(header: (name: string) => string | undefined, name: string): RequestSpan {
    const parent = incomingTrace(header);
    // B3 without a decision leaves it to the waypoint: the configured rate decides, and the
    // caller's trace is continued either way.
    const ctx = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, {
      traceId: parent.traceId, spanId: parent.spanId, isRemote: true,
      traceFlags: (parent.sampled ?? this.#random() * 100 < this.#percentage) ? TraceFlags.SAMPLED : TraceFlags.NONE,
    });
    const tracer = this.#pipeline?.tracer ?? trace.getTracer('weft-waypoint');
    const span: Span = tracer.startSpan(name, { kind: SpanKind.SERVER }, ctx);
    const sc = span.spanContext();
    const traceId = sc.traceId;
    const sampled = (sc.traceFlags & TraceFlags.SAMPLED) !== 0;
    const self = this.#self;
    // Unreported spans still carry the trace on to the upstream; they are just never ended,
    // so the batch processor never holds or sends them.
    const report = this.#report;
    let ended = false;
    return {
      traceId, spanId: sc.spanId, sampled,
      inject: (headers) => injectTrace(headers, { traceId, spanId: sc.spanId, sampled }, parent?.format),
      end: (summary) => {
        if (ended || !report) return;
        ended = true;
        span.setAttributes(spanAttributes(summary, self));
        if (summary.status >= 500 || summary.status === 0) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  /** Sends what is batched, then stops. */
  async close(): Promise<void> {
    const current = this.#pipeline;
    this.#pipeline = undefined;
    await Promise.all([current?.provider.shutdown(), ...this.#retiring]);
  }
}
