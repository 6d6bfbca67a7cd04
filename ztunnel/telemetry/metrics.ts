// The metrics ztunnel exports, with the names, labels and prefixes Istio's ztunnel emits
// (istio_*, workload_manager_*), so Istio's ztunnel, mesh, service and workload dashboards
// read them unchanged, plus weft's own gauges (enrollment, HBONE pool, certificates).
// Every gauge here is read from live state when scraped.
import { Counter, Registry, type CounterChild, type Gauge } from '#core/telemetry/metrics.ts';
import { TCP_LABELS, type TcpLabel, type TcpLabels } from '#core/telemetry/labels.ts';

/** One workload certificate as the dashboard needs it. */
export interface CertificateExpiry {
  identity: string;
  notAfter?: Date | undefined;
}

/** Live state the scrape-time gauges read. */
export interface ZtunnelGaugeSource {
  enrolledPods(): number;
  pendingPods(): number;
  hbonePool(): { sessions: number; streams: number };
  /** Certificates held for the enrolled pods' identities. */
  certificates?(): readonly CertificateExpiry[];
}

/** What one pushed config message carried: Istio counts xDS messages by type URL. */
export interface PushedMessage {
  updated: readonly unknown[];
  removed: readonly { kind: string }[];
}

const kindOf = (r: unknown): string | undefined =>
  typeof r === 'object' && r !== null && typeof (r as { kind?: unknown }).kind === 'string' ? (r as { kind: string }).kind : undefined;

/** The `url` label for a weft resource kind (Istio uses the xDS type URL). */
export const pushTypeUrl = (kind: string): string => `weft.config/${kind}`;

/**
 * One open connection's TCP counters, bound to its label set once when it opens: its close
 * is then a few number adds, with no label key made (Istio's labels are 19 strings).
 */
export interface ConnectionCounters {
  /**
   * The connection ended. `sent` is towards the client and `received` towards the app, as
   * Istio counts them; `flags` other than `-` count the close under those response flags.
   */
  close(bytes: { sent: number; received: number }, flags: string): void;
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
  readonly xdsMessages: Counter<'url'>;
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
    // Open sockets per reporter, from the two counters above at scrape time, so there is
    // no second count to keep in step on the hot path.
    r.gauge('istio_tcp_sockets_open', 'TCP connections open now', ['reporter'], async (g) => {
      const [opened, closed] = await Promise.all([this.opened.sumBy('reporter'), this.closed.sumBy('reporter')]);
      g.reset();
      for (const [reporter, n] of opened) g.set({ reporter }, n - (closed.get(reporter) ?? 0));
    });
    this.build = r.gauge('istio_build', 'Build information', ['component', 'tag']);
    this.xdsTerminations = r.counter('istio_xds_connection_terminations_total', 'Config stream terminations', ['reason']);
    this.xdsMessages = r.counter('istio_xds_message_total', 'Config messages received, by resource type', ['url']);
    const live = (read: (src: ZtunnelGaugeSource) => number) => (g: Gauge): void => {
      if (this.#live !== undefined) g.set({}, read(this.#live));
    };
    const enrolled = live((s) => s.enrolledPods());
    const pending = live((s) => s.pendingPods());
    // Istio's names for the same two numbers: its ztunnel dashboard plots these.
    r.gauge('workload_manager_active_proxy_count', 'Workloads with an active proxy (enrolled pods)', [], enrolled);
    r.gauge('workload_manager_pending_proxy_count', 'Workloads whose proxy is not started yet (pending pods)', [], pending);
    this.enrolledPods = r.gauge('weft_ztunnel_enrolled_pods', 'Pods whose traffic this ztunnel captures', [], enrolled);
    this.pendingPods = r.gauge('weft_ztunnel_pending_pods', 'Pods to enroll that are not yet captured', [], pending);
    this.hboneSessions = r.gauge('weft_ztunnel_hbone_pool_sessions', 'Open HBONE connections in the outbound pool', [], live((s) => s.hbonePool().sessions));
    this.hboneStreams = r.gauge('weft_ztunnel_hbone_pool_streams', 'Open CONNECT streams on the outbound pool', [], live((s) => s.hbonePool().streams));
    r.gauge('weft_certificate_expiry_seconds', 'When each workload certificate held expires (Unix seconds)', ['identity'], (g) => {
      g.reset();
      for (const c of this.#live?.certificates?.() ?? []) {
        if (c.notAfter !== undefined) g.set({ identity: c.identity }, Math.floor(c.notAfter.getTime() / 1000));
      }
    });
    this.configRejections = r.counter('weft_ztunnel_config_rejected_total', 'Pushed resources refused (NACKed)', ['kind']);
    this.build.set({ component: 'ztunnel', tag: opts.tag ?? '0.1.0' }, 1);
  }

  /** Counts a connection opened with these labels and binds its close. */
  connection(labels: TcpLabels): ConnectionCounters {
    const [opened, sent, received, closed] = Counter.children([this.opened, this.sentBytes, this.receivedBytes, this.closed], labels) as [CounterChild, CounterChild, CounterChild, CounterChild];
    opened.inc();
    let done = false;
    return {
      close: (bytes, flags) => {
        if (done) return;
        done = true;
        sent.inc(bytes.sent);
        received.inc(bytes.received);
        if (flags === '-') closed.inc();
        else this.closed.inc({ ...labels, response_flags: flags });
      },
    };
  }

  /** Where the enrollment, pool and certificate gauges read their values at each scrape. */
  readFrom(src: ZtunnelGaugeSource): void {
    this.#live = src;
  }

  /** Counts one pushed message per resource type it carries, as Istio counts xDS responses. */
  recordPush(m: PushedMessage): void {
    const kinds = new Set<string>();
    for (const r of m.updated) {
      const k = kindOf(r);
      if (k !== undefined) kinds.add(k);
    }
    for (const r of m.removed) kinds.add(r.kind);
    for (const k of kinds) this.xdsMessages.inc({ url: pushTypeUrl(k) });
  }
}
