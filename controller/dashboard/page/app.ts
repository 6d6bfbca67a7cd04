// The dashboard page's code (runs in the browser; the controller strips the types when it
// serves it). It polls /api/dashboard, redraws the tables from the snapshot and feeds the
// charts the history the controller keeps, so a reload loses nothing.
import uPlot from 'uplot';
import type { ConfigSync, DashboardSnapshot, NodeCard, ProxyHealth, TrafficEdge, WaypointCard } from '../snapshot.ts';

const API = '/api/dashboard';
const PALETTE = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e', '#1b7c83', '#953800'];
/** The line that sums the series not drawn one by one. */
const OTHER = '#6e7781';

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el as T;
};

interface Series {
  label: string;
  values: readonly (number | null)[];
  other?: boolean;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// One formatter per precision: building an Intl.NumberFormat per call is what makes
// thousands of table cells slow.
const formats = new Map<number, Intl.NumberFormat>();
function num(v: number | null, digits = 0): string {
  if (v === null) return '–';
  let f = formats.get(digits);
  if (f === undefined) formats.set(digits, (f = new Intl.NumberFormat('en-US', { maximumFractionDigits: digits })));
  return f.format(v);
}

function bytes(v: number | null, suffix = ''): string {
  if (v === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i === 0 ? 0 : 1)} ${units[i] ?? 'B'}${suffix}`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

function health(h: ProxyHealth, now: number): string {
  if (!h.up) {
    const since = h.downSince === undefined ? '' : ` ${ago(now - h.downSince)}`;
    return `<span class="badge down" title="${esc(h.lastError ?? '')}">down${since}</span>`;
  }
  if (h.ready === false) return '<span class="badge warn">not ready</span>';
  return '<span class="badge up">up</span>';
}

function config(c: ConfigSync): string {
  const v = c.version === null ? '' : ` v${c.version}`;
  const cls = c.state === 'synced' ? '' : ' class="muted"';
  return `<span${cls}>${c.state}${v}</span>`;
}

function certificates(n: NodeCard, now: number): string {
  if (n.certificates.length === 0) return '<span class="muted">none</span>';
  return n.certificates.map((c) => {
    const id = c.identity.replace(/^spiffe:\/\/[^/]+\//, '');
    return `<span title="${esc(c.identity)}">${esc(id)}: ${c.expiresAt > now ? `in ${ago(c.expiresAt - now)}` : 'expired'}</span>`;
  }).join('<br>');
}

function nodeRow(n: NodeCard, now: number): string {
  const failures = n.failures.length === 0 ? '<span class="muted">none</span>' : n.failures.map((f) => `${esc(f.flag)} ${num(f.count)}`).join(', ');
  const pods = n.enrolledPods === null ? '–' : `${num(n.enrolledPods)} (${num(n.pendingPods)})`;
  return `<tr data-node="${esc(n.node)}" data-up="${String(n.health.up)}">`
    + `<th scope="row">${esc(n.node)}<br><span class="muted">${esc(n.address)}</span></th>`
    + `<td>${health(n.health, now)}</td><td>${esc(n.version ?? '–')}</td><td>${config(n.config)}</td>`
    + `<td class="num">${pods}</td><td class="num" data-field="open">${num(n.connections.open)}</td>`
    + `<td class="num" data-field="opened">${num(n.connections.opened)}</td><td class="num">${num(n.connections.openedPerSecond, 2)}</td>`
    + `<td class="num">${bytes(n.bytes.sentPerSecond, '/s')}</td><td class="num">${bytes(n.bytes.receivedPerSecond, '/s')}</td>`
    + `<td>${failures}</td><td class="num">${num(n.hbone.sessions)} / ${num(n.hbone.streams)}</td>`
    + `<td>${certificates(n, now)}</td><td class="num">${n.cpuCores === null ? '–' : `${(n.cpuCores * 100).toFixed(1)} %`}</td>`
    + `<td class="num">${bytes(n.memoryBytes)}</td></tr>`;
}

function waypointRow(w: WaypointCard, now: number): string {
  const codes = w.byCode.length === 0 ? '<span class="muted">none</span>' : w.byCode.map((c) => `${esc(c.code)}: ${num(c.total)}`).join(', ');
  const ms = (v: number | null): string => (v === null ? '–' : `${v.toFixed(1)} ms`);
  return `<tr data-waypoint="${esc(w.id)}"><th scope="row">${esc(w.name)}</th><td>${esc(w.pod)}<br><span class="muted">${esc(w.node)}</span></td>`
    + `<td>${health(w.health, now)}</td><td>${esc(w.version ?? '–')}</td><td>${config(w.config)}</td>`
    + `<td class="num" data-field="requests">${num(w.requests)}</td><td class="num">${num(w.requestsPerSecond, 2)}</td>`
    + `<td class="num">${ms(w.p50Ms)}</td><td class="num">${ms(w.p99Ms)}</td>`
    + `<td class="num">${w.errorRate === null ? '–' : `${(w.errorRate * 100).toFixed(1)} %`}</td><td>${codes}</td>`
    + `<td class="num">${w.cpuCores === null ? '–' : `${(w.cpuCores * 100).toFixed(1)} %`}</td><td class="num">${bytes(w.memoryBytes)}</td></tr>`;
}

function trafficRow(e: TrafficEdge): string {
  return `<tr><td>${esc(e.source)}</td><td>${esc(e.destination)}</td><td>${esc(e.service)}</td>`
    + `<td>${e.mtls ? 'mTLS' : '<strong>plaintext</strong>'}</td><td class="num">${num(e.allowed)}</td>`
    + `<td class="num">${e.denied > 0 ? `<strong>${num(e.denied)}</strong>` : '0'}</td><td>${e.reporter}</td></tr>`;
}

function fillTable(id: string, rows: string[], columns: number, empty: string): void {
  const body = byId<HTMLTableElement>(id).tBodies[0];
  if (body === undefined) return;
  body.innerHTML = rows.length > 0 ? rows.join('') : `<tr class="empty"><td colspan="${columns}">${esc(empty)}</td></tr>`;
}

/** One chart: rebuilt when its series change, otherwise fed new data in place. */
class Chart {
  readonly #el: HTMLElement;
  readonly #unit: (v: number) => string;
  #plot: uPlot | undefined;
  #key = '';

  constructor(el: HTMLElement, unit: (v: number) => string) {
    this.#el = el;
    this.#unit = unit;
  }

  update(times: readonly number[], series: readonly Series[]): void {
    const key = series.map((s) => s.label).join('\u0001');
    const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...series.map((s) => [...s.values])];
    const width = Math.max(300, this.#el.clientWidth - 4);
    if (this.#plot === undefined || key !== this.#key) {
      this.#plot?.destroy();
      this.#key = key;
      const fmt = this.#unit;
      this.#plot = new uPlot({
        width, height: 180,
        legend: { show: series.length <= 12, live: false },
        scales: { x: { time: true } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => fmt(t)), size: 90 }],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.other === true ? OTHER : PALETTE[i % PALETTE.length] ?? OTHER, width: 1.5, spanGaps: false }))],
      }, data, this.#el);
    } else {
      if (Math.abs(this.#plot.width - width) > 8) this.#plot.setSize({ width, height: 180 });
      this.#plot.setData(data);
    }
  }
}

const charts = {
  opened: new Chart(byId('c-opened'), (v) => v.toFixed(1)),
  bytes: new Chart(byId('c-bytes'), (v) => bytes(v, '/s')),
  rps: new Chart(byId('c-rps'), (v) => v.toFixed(1)),
  p99: new Chart(byId('c-p99'), (v) => `${v.toFixed(0)} ms`),
};

const scope = byId<HTMLSelectElement>('scope');
const pauseButton = byId<HTMLButtonElement>('pause');
const updated = byId<HTMLSpanElement>('updated');
let paused = false;
let last: DashboardSnapshot | undefined;

function syncScopeOptions(nodes: readonly NodeCard[]): void {
  const want = ['', ...nodes.map((n) => n.id)];
  const have = [...scope.options].map((o) => o.value);
  if (want.join('\u0001') === have.join('\u0001')) return;
  const chosen = scope.value;
  scope.innerHTML = '<option value="">all nodes</option>' + nodes.map((n) => `<option value="${esc(n.id)}">${esc(n.node)}</option>`).join('');
  scope.value = want.includes(chosen) ? chosen : '';
}

const MAX_LINES = 8;

/** The busiest few series by their latest values, and the rest summed into one line. */
function busiest(series: Series[], length: number): Series[] {
  if (series.length <= MAX_LINES + 1) return series;
  const latest = (s: Series): number => {
    for (let i = s.values.length - 1; i >= 0; i--) {
      const v = s.values[i];
      if (v !== null && v !== undefined) return v;
    }
    return 0;
  };
  const ranked = [...series].sort((a, b) => latest(b) - latest(a));
  const rest = ranked.slice(MAX_LINES);
  const other: (number | null)[] = Array.from({ length }, (_, i) => {
    let sum: number | null = null;
    for (const s of rest) {
      const v = s.values[i];
      if (v !== null && v !== undefined) sum = (sum ?? 0) + v;
    }
    return sum;
  });
  return [...ranked.slice(0, MAX_LINES), { label: `${rest.length} other nodes`, values: other, other: true }];
}

function drawCharts(s: DashboardSnapshot): void {
  const h = s.history;
  const chosen = scope.value;
  const nodeName = new Map(s.nodes.map((n) => [n.id, n.node]));
  const opened = Object.entries(h.openedPerSecond)
    .filter(([id]) => chosen === '' || id === chosen)
    .map(([id, values]) => ({ label: nodeName.get(id) ?? id.replace(/^ztunnel\//, ''), values }));
  charts.opened.update(h.times, busiest(opened, h.times.length));
  charts.bytes.update(h.times, [{ label: 'sent', values: h.sentPerSecond }, { label: 'received', values: h.receivedPerSecond }]);
  const wpName = (id: string): string => id.replace(/^waypoint\//, '');
  charts.rps.update(h.times, Object.entries(h.requestsPerSecond).map(([id, values]) => ({ label: wpName(id), values })));
  charts.p99.update(h.times, Object.entries(h.p99Ms).map(([id, values]) => ({ label: wpName(id), values })));
}

// The busiest pairs first; a mesh of thousands of workloads is searched, not scrolled.
const TRAFFIC_ROWS = 200;
const trafficFilter = byId<HTMLInputElement>('traffic-filter');

function drawTraffic(edges: readonly TrafficEdge[]): void {
  const q = trafficFilter.value.trim().toLowerCase();
  const matching = q === '' ? edges : edges.filter((e) => `${e.source} ${e.destination} ${e.service}`.toLowerCase().includes(q));
  fillTable('traffic', matching.slice(0, TRAFFIC_ROWS).map(trafficRow), 7, q === '' ? 'no traffic seen yet' : 'no pair matches the filter');
  byId('traffic-note').textContent = matching.length > TRAFFIC_ROWS
    ? `showing the ${TRAFFIC_ROWS} busiest of ${num(matching.length)} pairs${q === '' ? '; filter to find others' : ''}`
    : `${num(matching.length)} pair${matching.length === 1 ? '' : 's'}`;
}

function render(s: DashboardSnapshot): void {
  const now = s.generatedAt;
  const sum = (xs: readonly (number | null)[]): number | null => (xs.some((x) => x !== null) ? xs.reduce<number>((a, x) => a + (x ?? 0), 0) : null);
  byId('kpi-nodes').textContent = `${s.nodes.filter((n) => n.health.up).length} / ${s.nodes.length}`;
  byId('kpi-open').textContent = num(sum(s.nodes.map((n) => n.connections.open)));
  byId('kpi-opened').textContent = num(sum(s.nodes.map((n) => n.connections.opened)));
  byId('kpi-rate').textContent = num(sum(s.nodes.map((n) => n.connections.openedPerSecond)), 2);
  byId('kpi-rps').textContent = num(sum(s.waypoints.map((w) => w.requestsPerSecond)), 2);
  fillTable('nodes', s.nodes.map((n) => nodeRow(n, now)), 15, 'no nodes known yet');
  fillTable('waypoints', s.waypoints.map((w) => waypointRow(w, now)), 13, 'no waypoint deployed');
  drawTraffic(s.traffic);
  syncScopeOptions(s.nodes);
  drawCharts(s);
  updated.textContent = `updated ${new Date(now).toLocaleTimeString('en-GB')}`;
  updated.dataset['generatedAt'] = String(now);
  // For tests and the curious: how long after navigation the first full render finished.
  if (performance.getEntriesByName('weft-first-render').length === 0) performance.mark('weft-first-render');
}

async function poll(): Promise<void> {
  let wait = 2000;
  try {
    const res = await fetch(API, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const s = (await res.json()) as DashboardSnapshot;
    wait = s.intervalMs;
    last = s;
    if (!paused) render(s);
  } catch (err) {
    updated.textContent = `controller not answering (${err instanceof Error ? err.message : String(err)}); retrying`;
  }
  setTimeout(() => { void poll(); }, wait);
}

pauseButton.addEventListener('click', () => {
  paused = !paused;
  pauseButton.setAttribute('aria-pressed', String(paused));
  pauseButton.textContent = paused ? 'Resume updates' : 'Pause updates';
  if (!paused && last !== undefined) render(last);
});
trafficFilter.addEventListener('input', () => {
  if (last !== undefined) drawTraffic(last.traffic);
});
scope.addEventListener('change', () => {
  if (last !== undefined) drawCharts(last);
});

void poll();
