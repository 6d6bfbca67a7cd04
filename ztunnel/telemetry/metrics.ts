// The metrics ztunnel exports, with Istio's names so existing dashboards work, plus weft's
// own gauges (enrollment, HBONE pool).
import { Registry, type Counter, type Gauge } from '#core/telemetry/metrics.ts';
import { TCP_LABELS, type TcpLabel } from '#core/telemetry/labels.ts';

/** Live state the scrape-time gauges read. */
export interface ZtunnelGaugeSource {
  enrolledPods(): number;
  pendingPods(): number;
  hbonePool(): { sessions: number; streams: number };
}

export class ZtunnelMetrics {
  #live: ZtunnelGaugeSource | undefined;
  readonly registry: Registry;
  readonly opened: Counter<TcpLabel>;
  readonly closed: Counter<TcpLabel>;
  readonly sentBytes: Counter<TcpLabel>;
  readonly receivedBytes: Counter<TcpLabel>;
  readonly failed: Counter<TcpLabel>;
  readonly build: Gauge<'component' | 'tag'>;
  readonly xdsTerminations: Counter<'reason'>;
  readonly enrolledPods: Gauge;
  readonly pendingPods: Gauge;
  readonly hboneSessions: Gauge;
  readonly hboneStreams: Gauge;
  readonly configRejections: Counter<'kind'>;

  constructor(opts: { registry?: Registry; tag?: string } = {}) {
    const r = (this.registry = opts.registry ?? new Registry());
    this.opened = r.counter('istio_tcp_connections_opened_total', 'TCP connections opened', TCP_LABELS);
    this.closed = r.counter('istio_tcp_connections_closed_total', 'TCP connections closed', TCP_LABELS);
    this.sentBytes = r.counter('istio_tcp_sent_bytes_total', 'Bytes sent towards the destination', TCP_LABELS);
    this.receivedBytes = r.counter('istio_tcp_received_bytes_total', 'Bytes received from the destination', TCP_LABELS);
    this.failed = r.counter('istio_tcp_connections_failed_total', 'TCP connections that failed', TCP_LABELS);
    this.build = r.gauge('istio_build', 'Build information', ['component', 'tag']);
    this.xdsTerminations = r.counter('istio_xds_connection_terminations_total', 'Config stream terminations', ['reason']);
    const live = (read: (src: ZtunnelGaugeSource) => number) => (g: Gauge): void => {
      if (this.#live !== undefined) g.set({}, read(this.#live));
    };
    this.enrolledPods = r.gauge('weft_ztunnel_enrolled_pods', 'Pods whose traffic this ztunnel captures', [], live((s) => s.enrolledPods()));
    this.pendingPods = r.gauge('weft_ztunnel_pending_pods', 'Pods to enroll that are not yet captured', [], live((s) => s.pendingPods()));
    this.hboneSessions = r.gauge('weft_ztunnel_hbone_pool_sessions', 'Open HBONE connections in the outbound pool', [], live((s) => s.hbonePool().sessions));
    this.hboneStreams = r.gauge('weft_ztunnel_hbone_pool_streams', 'Open CONNECT streams on the outbound pool', [], live((s) => s.hbonePool().streams));
    this.configRejections = r.counter('weft_ztunnel_config_rejected_total', 'Pushed resources refused (NACKed)', ['kind']);
    this.build.set({ component: 'ztunnel', tag: opts.tag ?? '0.1.0' }, 1);
  }

  /** Where the enrollment and pool gauges read their values at each scrape. */
  readFrom(src: ZtunnelGaugeSource): void {
    this.#live = src;
  }
}
