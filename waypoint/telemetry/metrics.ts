// The metrics a waypoint exports, with Istio's names, labels and buckets
// (reporter="waypoint"), so Istio's service and workload dashboards read them unchanged.
import { Registry, type Counter, type Gauge, type Histogram } from '#core/telemetry/metrics.ts';
import { TCP_LABELS, type TcpLabel } from '#core/telemetry/labels.ts';

export const REQUEST_LABELS = [...TCP_LABELS, 'response_code', 'grpc_response_status'] as const;
export type RequestLabel = (typeof REQUEST_LABELS)[number];
export type RequestLabels = Record<RequestLabel, string>;

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000] as const;
/** Istio's default buckets for istio_request_bytes / istio_response_bytes. */
export const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000] as const;

export interface WaypointGaugeSource {
  hbonePool(): { sessions: number; streams: number };
  activeRequests(): number;
}

export class WaypointMetrics {
  readonly registry: Registry;
  readonly requests: Counter<RequestLabel>;
  readonly duration: Histogram<RequestLabel>;
  readonly requestBytes: Histogram<RequestLabel>;
  readonly responseBytes: Histogram<RequestLabel>;
  readonly tcpOpened: Counter<TcpLabel>;
  readonly tcpClosed: Counter<TcpLabel>;
  readonly build: Gauge<'component' | 'tag'>;
  readonly xdsTerminations: Counter<'reason'>;
  readonly configRejections: Counter<'kind'>;
  readonly badRequests: Counter<'reason'>;
  #live: WaypointGaugeSource | undefined;

  constructor(opts: { registry?: Registry; tag?: string } = {}) {
    const r = (this.registry = opts.registry ?? new Registry());
    this.requests = r.counter('istio_requests_total', 'Requests the waypoint handled', REQUEST_LABELS);
    this.duration = r.histogram('istio_request_duration_milliseconds', 'Request duration in milliseconds', REQUEST_LABELS, DURATION_BUCKETS_MS);
    this.requestBytes = r.histogram('istio_request_bytes', 'Request sizes in bytes (headers and body)', REQUEST_LABELS, SIZE_BUCKETS);
    this.responseBytes = r.histogram('istio_response_bytes', 'Response sizes in bytes (headers and body)', REQUEST_LABELS, SIZE_BUCKETS);
    this.tcpOpened = r.counter('istio_tcp_connections_opened_total', 'TCP connections opened', TCP_LABELS);
    this.tcpClosed = r.counter('istio_tcp_connections_closed_total', 'TCP connections closed', TCP_LABELS);
    this.build = r.gauge('istio_build', 'Build information', ['component', 'tag']);
    this.xdsTerminations = r.counter('istio_xds_connection_terminations_total', 'Config stream terminations', ['reason']);
    this.configRejections = r.counter('weft_waypoint_config_rejected_total', 'Pushed resources refused (NACKed)', ['kind']);
    this.badRequests = r.counter('weft_waypoint_bad_requests_total', 'Requests refused before routing (malformed, too large, not HTTP)', ['reason']);
    const live = (read: (s: WaypointGaugeSource) => number) => (g: Gauge): void => {
      if (this.#live !== undefined) g.set({}, read(this.#live));
    };
    r.gauge('weft_waypoint_hbone_pool_sessions', 'Open HBONE connections to endpoints', [], live((s) => s.hbonePool().sessions));
    r.gauge('weft_waypoint_hbone_pool_streams', 'Open CONNECT streams to endpoints', [], live((s) => s.hbonePool().streams));
    r.gauge('weft_waypoint_active_requests', 'Requests in flight', [], live((s) => s.activeRequests()));
    this.build.set({ component: 'waypoint', tag: opts.tag ?? '0.1.0' }, 1);
  }

  readFrom(src: WaypointGaugeSource): void {
    this.#live = src;
  }

  /** One call per finished request: the counter and the three histograms share the labels. */
  record(labels: RequestLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.requests.inc(labels);
    this.duration.observe(labels, durationMs);
    this.requestBytes.observe(labels, requestBytes);
    this.responseBytes.observe(labels, responseBytes);
  }
}
