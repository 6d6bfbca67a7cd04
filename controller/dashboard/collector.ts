// The dashboard's data: the controller scrapes every proxy it knows (see targets.ts) every
// couple of seconds, keeps each one's last two pages, and builds the snapshot the page polls.
// Scraping starts with the first read and stops after a minute nobody looked, so a
// controller with no one watching does no work for the dashboard. A proxy that does not
// answer within the timeout is down from that round on, and up again at its next answer.
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import type { PushClientInfo } from '#controller/push/server.ts';
import { parseExposition } from '#controller/dashboard/exposition.ts';
import type { ConfigSync, DashboardHistory, DashboardSnapshot, NodeCard, ProxyHealth, WaypointCard } from '#controller/dashboard/snapshot.ts';
import { nodeCard, trafficEdges, waypointCard, type TargetState } from '#controller/dashboard/summary.ts';
import type { ProxyTarget } from '#controller/dashboard/targets.ts';

export interface DashboardSources {
  targets(): readonly ProxyTarget[];
  pushClients(): readonly PushClientInfo[];
}

/** GET a URL as text within a deadline; rejects on a network error or timeout. */
export type FetchText = (url: string, timeoutMs: number) => Promise<{ status: number; body: string }>;

const fetchText: FetchText = async (url, timeoutMs) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
};

export interface CollectorOptions {
  intervalMs?: number;
  /** Per scrape; a proxy slower than this counts as down. */
  timeoutMs?: number;
  historyPoints?: number;
  /** Scraping stops this long after the last read. */
  idleStopMs?: number;
  fetchText?: FetchText;
  now?: () => number;
  logger?: Logger;
}

interface Entry {
  state: TargetState;
}

export function configSync(target: ProxyTarget, clients: readonly PushClientInfo[]): ConfigSync {
  const c = clients.find((x) => target.kind === 'ztunnel'
    ? x.client.kind === 'ztunnel' && x.client.node === target.node
    : x.client.kind === 'waypoint' && x.client.identity.endsWith(`/ns/${target.name.split('/')[0] ?? ''}/sa/${target.serviceAccount ?? ''}`));
  if (c === undefined) return { state: 'unknown', version: null };
  const version = c.version ?? null;
  if (!c.connected) return { state: 'disconnected', version };
  return { state: c.inFlightVersion === undefined ? 'synced' : 'pending', version };
}

function emptyHistory(): DashboardHistory {
  return { times: [], openedPerSecond: {}, sentPerSecond: [], receivedPerSecond: [], requestsPerSecond: {}, p99Ms: {} };
}

/** Appends one point to a keyed series, padding a newcomer with nulls so it lines up. */
function push(series: Record<string, (number | null)[]>, key: string, value: number | null, length: number): void {
  const s = (series[key] ??= []);
  while (s.length < length - 1) s.push(null);
  s.push(value);
}

function trim(h: DashboardHistory, max: number): void {
  const cut = Math.max(0, h.times.length - max);
  h.times.splice(0, cut);
  h.sentPerSecond.splice(0, cut);
  h.receivedPerSecond.splice(0, cut);
  for (const rec of [h.openedPerSecond, h.requestsPerSecond, h.p99Ms]) {
    for (const [k, s] of Object.entries(rec)) {
      s.splice(0, cut);
      // Nothing to draw (a proxy that left, or one with no rate yet): a newcomer is padded again.
      if (s.every((v) => v === null)) delete rec[k];
    }
  }
}

const sumOrNull = (xs: readonly (number | null)[]): number | null =>
  xs.some((x) => x !== null) ? xs.reduce<number>((a, x) => a + (x ?? 0), 0) : null;

export class DashboardCollector {
  readonly #sources: DashboardSources;
  readonly #o: Required<Omit<CollectorOptions, 'logger'>> & { logger: Logger | undefined };
  readonly #entries = new Map<string, Entry>();
  readonly #history = emptyHistory();
  #snapshot: DashboardSnapshot;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #lastRead = 0;
  #stopped = false;

  constructor(sources: DashboardSources, opts: CollectorOptions = {}) {
    this.#sources = sources;
    this.#o = {
      intervalMs: opts.intervalMs ?? 2000,
      timeoutMs: opts.timeoutMs ?? 1500,
      historyPoints: opts.historyPoints ?? 90,
      idleStopMs: opts.idleStopMs ?? 60_000,
      fetchText: opts.fetchText ?? fetchText,
      now: opts.now ?? Date.now,
      logger: opts.logger,
    };
    this.#snapshot = this.#build();
  }

  /** The latest snapshot; starts scraping when it is not running. */
  snapshot(): DashboardSnapshot {
    this.#lastRead = this.#o.now();
    if (this.#timer === undefined && this.#round === undefined && !this.#stopped) {
      this.#round = this.#loop();
    }
    return this.#snapshot;
  }

  /** One scrape of every target, then a fresh snapshot (tests call it directly). */
  async scrapeOnce(): Promise<DashboardSnapshot> {
    const targets = this.#sources.targets();
    const ids = new Set(targets.map((t) => t.id));
    for (const id of this.#entries.keys()) if (!ids.has(id)) this.#entries.delete(id);
    await Promise.all(targets.map((t) => this.#scrape(t)));
    this.#snapshot = this.#build();
    this.#record(this.#snapshot);
    return this.#snapshot;
  }

  async #loop(): Promise<void> {
    try {
      await this.scrapeOnce();
    } catch (err) {
      this.#o.logger?.warn('dashboard scrape round failed', { err: errorMessage(err) });
    }
    this.#round = undefined;
    if (this.#stopped || this.#o.now() - this.#lastRead > this.#o.idleStopMs) {
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#round = this.#loop();
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async #scrape(target: ProxyTarget): Promise<void> {
    let entry = this.#entries.get(target.id);
    if (entry === undefined) {
      entry = { state: { target, health: { up: false, ready: null, lastSeen: null } } };
      this.#entries.set(target.id, entry);
    }
    const state = entry.state;
    state.target = target;
    const [metrics, ready] = await Promise.allSettled([
      this.#o.fetchText(target.metricsUrl, this.#o.timeoutMs),
      this.#o.fetchText(target.readyUrl, this.#o.timeoutMs),
    ]);
    const at = this.#o.now();
    const readyNow = ready.status === 'fulfilled' ? ready.value.status === 200 : false;
    if (metrics.status === 'fulfilled' && metrics.value.status === 200) {
      state.prev = state.cur;
      state.cur = { at, samples: parseExposition(metrics.value.body).samples };
      state.health = { up: true, ready: readyNow, lastSeen: at };
      return;
    }
    const reason = metrics.status === 'rejected' ? errorMessage(metrics.reason) : `HTTP ${metrics.value.status}`;
    const health: ProxyHealth = { up: false, ready: readyNow, lastSeen: state.health.lastSeen, downSince: state.health.downSince ?? at, lastError: reason };
    // Rates across a gap would mix two lifetimes of the proxy: start over when it is back.
    state.prev = undefined;
    state.cur = undefined;
    state.health = health;
  }

  #build(): DashboardSnapshot {
    const clients = this.#sources.pushClients();
    const states = [...this.#entries.values()].map((e) => e.state);
    const nodes: NodeCard[] = [];
    const waypoints: WaypointCard[] = [];
    for (const s of states) {
      const sync = configSync(s.target, clients);
      if (s.target.kind === 'ztunnel') nodes.push(nodeCard(s, sync));
      else waypoints.push(waypointCard(s, sync));
    }
    return {
      generatedAt: this.#o.now(), intervalMs: this.#o.intervalMs, nodes, waypoints, traffic: trafficEdges(states), history: this.#history,
    };
  }

  #record(s: DashboardSnapshot): void {
    const h = this.#history;
    h.times.push(s.generatedAt);
    const n = h.times.length;
    for (const c of s.nodes) push(h.openedPerSecond, c.id, c.connections.openedPerSecond, n);
    h.sentPerSecond.push(sumOrNull(s.nodes.map((c) => c.bytes.sentPerSecond)));
    h.receivedPerSecond.push(sumOrNull(s.nodes.map((c) => c.bytes.receivedPerSecond)));
    for (const w of s.waypoints) {
      push(h.requestsPerSecond, w.id, w.requestsPerSecond, n);
      push(h.p99Ms, w.id, w.p99Ms, n);
    }
    // Series of proxies that left keep their place with nulls until they age out.
    for (const rec of [h.openedPerSecond, h.requestsPerSecond, h.p99Ms]) {
      for (const series of Object.values(rec)) while (series.length < n) series.push(null);
    }
    trim(h, this.#o.historyPoints);
  }

  /** Stops scraping for good (the controller is shutting down). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
