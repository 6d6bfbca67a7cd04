// The JSON the dashboard page polls (GET /api/dashboard): one card per node (its ztunnel),
// one per waypoint pod, the workload-to-workload traffic table, and a short history for the
// charts. Types only, so the browser code imports them too. A number the proxy did not
// report (down, or too few scrapes for a rate yet) is null, never a made-up 0.

export interface ProxyHealth {
  /** The last scrape answered. */
  up: boolean;
  /** Readiness probe (15021) answered 200; null when not probed yet. */
  ready: boolean | null;
  /** Unix ms of the last answered scrape. */
  lastSeen: number | null;
  /** Unix ms since when scrapes fail (absent while up). */
  downSince?: number;
  lastError?: string;
}

export interface ConfigSync {
  /** `synced`: connected, last push acknowledged; `pending`: a push awaits its ACK. */
  state: 'synced' | 'pending' | 'disconnected' | 'unknown';
  /** Last version acknowledged (or NACKed). */
  version: number | null;
}

export interface FlagCount {
  flag: string;
  count: number;
}

export interface CertificateCard {
  identity: string;
  /** Unix ms. */
  expiresAt: number;
}

export interface NodeCard {
  id: string;
  node: string;
  address: string;
  health: ProxyHealth;
  version: string | null;
  config: ConfigSync;
  enrolledPods: number | null;
  pendingPods: number | null;
  connections: {
    open: number | null;
    /** Total opened since the ztunnel started (both directions). */
    opened: number | null;
    openedPerSecond: number | null;
  };
  bytes: {
    /** Istio's sense: sent = towards the client (response), received = from it (request). */
    sentPerSecond: number | null;
    receivedPerSecond: number | null;
    sent: number | null;
    received: number | null;
  };
  /** Failed connections and abnormal closes, by Istio response flag. */
  failures: FlagCount[];
  hbone: { sessions: number | null; streams: number | null };
  certificates: CertificateCard[];
  cpuCores: number | null;
  memoryBytes: number | null;
}

export interface CodeRate {
  code: string;
  perSecond: number | null;
  total: number;
}

export interface WaypointCard {
  id: string;
  /** `<namespace>/<gateway>` */
  name: string;
  pod: string;
  node: string;
  address: string;
  health: ProxyHealth;
  version: string | null;
  config: ConfigSync;
  requests: number | null;
  requestsPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Share of 5xx among the requests since the previous scrape. */
  errorRate: number | null;
  byCode: CodeRate[];
  cpuCores: number | null;
  memoryBytes: number | null;
}

export interface TrafficEdge {
  /** `<workload>.<namespace>`, or `unknown` */
  source: string;
  destination: string;
  service: string;
  mtls: boolean;
  /** Connections (ztunnel) or requests (waypoint) let through. */
  allowed: number;
  /** Refused by policy: DENY at a ztunnel, 403 at a waypoint. */
  denied: number;
  reporter: 'ztunnel' | 'waypoint';
}

export interface DashboardHistory {
  /** Unix ms, oldest first; every series below is aligned with it. */
  times: number[];
  /** Per node: connections opened per second. */
  openedPerSecond: Record<string, (number | null)[]>;
  /** Summed over nodes. */
  sentPerSecond: (number | null)[];
  receivedPerSecond: (number | null)[];
  /** Per waypoint pod id. */
  requestsPerSecond: Record<string, (number | null)[]>;
  p99Ms: Record<string, (number | null)[]>;
}

export interface DashboardSnapshot {
  generatedAt: number;
  intervalMs: number;
  nodes: NodeCard[];
  waypoints: WaypointCard[];
  traffic: TrafficEdge[];
  history: DashboardHistory;
}
