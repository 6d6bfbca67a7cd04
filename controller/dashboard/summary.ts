// From a proxy's last two scrapes to its dashboard card, and from every proxy's scrape to the
// traffic table: pure functions over samples, so the numbers are table-tested without
// sockets. Rates are the difference between two scrapes over the time between them; a
// counter that went backwards (the proxy restarted) gives no rate for that interval.
import type { Sample } from '#controller/dashboard/exposition.ts';
import type {
  CodeRate, ConfigSync, FlagCount, NodeCard, ProxyHealth, TrafficEdge, WaypointCard,
} from '#controller/dashboard/snapshot.ts';
import type { ProxyTarget } from '#controller/dashboard/targets.ts';

export interface Scrape {
  /** Unix ms when the page was read. */
  at: number;
  samples: readonly Sample[];
}

export interface TargetState {
  target: ProxyTarget;
  health: ProxyHealth;
  prev?: Scrape | undefined;
  cur?: Scrape | undefined;
}

type Where = (labels: Readonly<Record<string, string>>) => boolean;
const all: Where = () => true;

/** Samples by metric name, with the sums the cards need. */
export class SampleIndex {
  readonly #byName = new Map<string, Sample[]>();

  constructor(samples: readonly Sample[]) {
    for (const s of samples) {
      let list = this.#byName.get(s.name);
      if (list === undefined) this.#byName.set(s.name, (list = []));
      list.push(s);
    }
  }

  series(name: string): readonly Sample[] {
    return this.#byName.get(name) ?? [];
  }

  /** Sum over matching series; null when the metric has no series at all. */
  sum(name: string, where: Where = all): number | null {
    const list = this.#byName.get(name);
    if (list === undefined) return null;
    let n = 0;
    for (const s of list) if (where(s.labels)) n += s.value;
    return n;
  }

  groupSum(name: string, label: string, where: Where = all): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.series(name)) {
      if (!where(s.labels)) continue;
      const k = s.labels[label] ?? '';
      out.set(k, (out.get(k) ?? 0) + s.value);
    }
    return out;
  }
}

export function ratePerSecond(cur: number | null, prev: number | null, seconds: number): number | null {
  if (cur === null || prev === null || seconds <= 0 || cur < prev) return null;
  return (cur - prev) / seconds;
}

/**
 * The q-quantile of a cumulative histogram (`le` upper bounds, counts as Prometheus
 * exposes them), interpolated linearly inside the bucket as PromQL's histogram_quantile.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      // The +Inf bucket has no upper edge: answer the highest finite bound.
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Buckets summed by `le` over every series of one histogram. */
function bucketsByLe(idx: SampleIndex, name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of idx.series(`${name}_bucket`)) {
    const raw = s.labels['le'];
    if (raw === undefined) continue;
    const le = raw === '+Inf' ? Infinity : Number(raw);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/** Quantile of what was observed between two scrapes. */
function windowQuantile(q: number, cur: SampleIndex, prev: SampleIndex | undefined, name: string): number | null {
  if (prev === undefined) return null;
  const now = bucketsByLe(cur, name);
  const before = bucketsByLe(prev, name);
  const delta = [...now].map(([le, count]) => ({ le, count: count - (before.get(le) ?? 0) }));
  if (delta.some((b) => b.count < 0)) return null;
  return histogramQuantile(q, delta);
}

function version(idx: SampleIndex): string | null {
  const s = idx.series('istio_build').find((x) => x.value === 1);
  return s?.labels['tag'] ?? null;
}

const scraped = (t: TargetState): { cur: SampleIndex; prev: SampleIndex | undefined; seconds: number } | undefined => {
  if (t.cur === undefined || !t.health.up) return undefined;
  const prev = t.prev === undefined ? undefined : new SampleIndex(t.prev.samples);
  return { cur: new SampleIndex(t.cur.samples), prev, seconds: t.prev === undefined ? 0 : (t.cur.at - t.prev.at) / 1000 };
};

function rateOf(s: NonNullable<ReturnType<typeof scraped>>, name: string, where: Where = all): number | null {
  // A labelled counter has no series before its first event: zero, once there is a page before.
  return s.prev === undefined ? null : ratePerSecond(s.cur.sum(name, where) ?? 0, s.prev.sum(name, where) ?? 0, s.seconds);
}

function failures(idx: SampleIndex): FlagCount[] {
  const counts = idx.groupSum('istio_tcp_connections_failed_total', 'response_flags');
  for (const [flag, n] of idx.groupSum('istio_tcp_connections_closed_total', 'response_flags', (l) => l['response_flags'] !== '-')) {
    counts.set(flag, (counts.get(flag) ?? 0) + n);
  }
  return [...counts].filter(([, n]) => n > 0).map(([flag, count]) => ({ flag, count })).sort((a, b) => b.count - a.count || a.flag.localeCompare(b.flag));
}

export function nodeCard(t: TargetState, config: ConfigSync): NodeCard {
  const base = { id: t.target.id, node: t.target.node, address: t.target.address, health: t.health, config };
  const s = scraped(t);
  if (s === undefined) {
    return {
      ...base, version: null, enrolledPods: null, pendingPods: null,
      connections: { open: null, opened: null, openedPerSecond: null },
      bytes: { sentPerSecond: null, receivedPerSecond: null, sent: null, received: null },
      failures: [], hbone: { sessions: null, streams: null }, certificates: [], cpuCores: null, memoryBytes: null,
    };
  }
  const { cur } = s;
  const opened = cur.sum('istio_tcp_connections_opened_total');
  const closed = cur.sum('istio_tcp_connections_closed_total');
  return {
    ...base,
    version: version(cur),
    enrolledPods: cur.sum('workload_manager_active_proxy_count') ?? cur.sum('weft_ztunnel_enrolled_pods'),
    pendingPods: cur.sum('workload_manager_pending_proxy_count') ?? cur.sum('weft_ztunnel_pending_pods'),
    connections: {
      open: opened === null ? null : opened - (closed ?? 0),
      opened,
      openedPerSecond: rateOf(s, 'istio_tcp_connections_opened_total'),
    },
    bytes: {
      sentPerSecond: rateOf(s, 'istio_tcp_sent_bytes_total'),
      receivedPerSecond: rateOf(s, 'istio_tcp_received_bytes_total'),
      sent: cur.sum('istio_tcp_sent_bytes_total'),
      received: cur.sum('istio_tcp_received_bytes_total'),
    },
    failures: failures(cur),
    hbone: { sessions: cur.sum('weft_ztunnel_hbone_pool_sessions'), streams: cur.sum('weft_ztunnel_hbone_pool_streams') },
    certificates: cur.series('weft_certificate_expiry_seconds')
      .map((x) => ({ identity: x.labels['identity'] ?? '', expiresAt: x.value * 1000 }))
      .sort((a, b) => a.expiresAt - b.expiresAt || a.identity.localeCompare(b.identity)),
    cpuCores: rateOf(s, 'process_cpu_seconds_total'),
    memoryBytes: cur.sum('process_resident_memory_bytes'),
  };
}

const is5xx: Where = (l) => (l['response_code'] ?? '').startsWith('5');

export function waypointCard(t: TargetState, config: ConfigSync): WaypointCard {
  const base = { id: t.target.id, name: t.target.name, pod: t.target.pod, node: t.target.node, address: t.target.address, health: t.health, config };
  const s = scraped(t);
  if (s === undefined) {
    return { ...base, version: null, requests: null, requestsPerSecond: null, p50Ms: null, p99Ms: null, errorRate: null, byCode: [], cpuCores: null, memoryBytes: null };
  }
  const { cur, prev } = s;
  const total = cur.sum('istio_requests_total');
  const before = prev?.sum('istio_requests_total') ?? null;
  const windowed = total !== null && before !== null && total >= before ? total - before : null;
  const errorsNow = cur.sum('istio_requests_total', is5xx) ?? 0;
  const errorsBefore = prev?.sum('istio_requests_total', is5xx) ?? 0;
  const byCodeBefore = prev?.groupSum('istio_requests_total', 'response_code') ?? new Map<string, number>();
  const byCode: CodeRate[] = [...cur.groupSum('istio_requests_total', 'response_code')].map(([code, n]) => ({
    code, total: n, perSecond: prev === undefined ? null : ratePerSecond(n, byCodeBefore.get(code) ?? 0, s.seconds),
  })).sort((a, b) => a.code.localeCompare(b.code));
  return {
    ...base,
    version: version(cur),
    requests: total,
    requestsPerSecond: rateOf(s, 'istio_requests_total'),
    p50Ms: windowQuantile(0.5, cur, prev, 'istio_request_duration_milliseconds'),
    p99Ms: windowQuantile(0.99, cur, prev, 'istio_request_duration_milliseconds'),
    errorRate: windowed === null || windowed === 0 ? null : Math.max(0, errorsNow - errorsBefore) / windowed,
    byCode,
    cpuCores: rateOf(s, 'process_cpu_seconds_total'),
    memoryBytes: cur.sum('process_resident_memory_bytes'),
  };
}

const workloadName = (labels: Readonly<Record<string, string>>, side: 'source' | 'destination'): string => {
  const w = labels[`${side}_workload`] ?? 'unknown';
  const ns = labels[`${side}_workload_namespace`] ?? 'unknown';
  return w === 'unknown' ? 'unknown' : `${w}.${ns}`;
};

/**
 * Who talks to whom. A connection between two meshed pods is reported by both ztunnels;
 * the destination's report is used (it knows the peer's verified identity), and a source
 * report only for pairs no destination reported (a destination outside the mesh).
 */
export function trafficEdges(states: readonly TargetState[]): TrafficEdge[] {
  const edges = new Map<string, TrafficEdge>();
  const sourceOnly = new Map<string, TrafficEdge>();
  const add = (map: Map<string, TrafficEdge>, labels: Readonly<Record<string, string>>, reporter: TrafficEdge['reporter'], allowed: number, denied: number): void => {
    const e = {
      source: workloadName(labels, 'source'), destination: workloadName(labels, 'destination'),
      service: labels['destination_service'] ?? 'unknown', mtls: labels['connection_security_policy'] === 'mutual_tls', reporter,
    };
    const key = `${reporter}|${e.source}|${e.destination}|${e.service}|${e.mtls}`;
    const have = map.get(key);
    if (have === undefined) map.set(key, { ...e, allowed, denied });
    else {
      have.allowed += allowed;
      have.denied += denied;
    }
  };
  for (const t of states) {
    if (t.cur === undefined || !t.health.up) continue;
    const idx = new SampleIndex(t.cur.samples);
    if (t.target.kind === 'ztunnel') {
      for (const s of idx.series('istio_tcp_connections_opened_total')) {
        add(s.labels['reporter'] === 'destination' ? edges : sourceOnly, s.labels, 'ztunnel', s.value, 0);
      }
      for (const s of idx.series('istio_tcp_connections_failed_total')) {
        if (s.labels['response_flags'] === 'DENY') add(s.labels['reporter'] === 'destination' ? edges : sourceOnly, s.labels, 'ztunnel', 0, s.value);
      }
    } else {
      for (const s of idx.series('istio_requests_total')) {
        const denied = s.labels['response_code'] === '403';
        add(edges, s.labels, 'waypoint', denied ? 0 : s.value, denied ? s.value : 0);
      }
    }
  }
  const pair = (e: TrafficEdge): string => `${e.source}|${e.destination}|${e.service}`;
  const reported = new Set([...edges.values()].filter((e) => e.reporter === 'ztunnel').map(pair));
  for (const e of sourceOnly.values()) {
    if (!reported.has(pair(e))) edges.set(`source|${pair(e)}|${e.mtls}`, e);
  }
  return [...edges.values()].sort((a, b) => (b.allowed + b.denied) - (a.allowed + a.denied) || a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));
}
