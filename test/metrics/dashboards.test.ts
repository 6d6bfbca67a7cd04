// End-to-end: every panel query of every Grafana dashboard shipped in manifests/dashboards/
// runs through a real Prometheus (the Debian package) that scrapes the embedded mesh while
// traffic flows (HTTP through a waypoint, TCP between ztunnels, a denied client, plaintext
// both ways), and must return data: at least one sample with a finite value. Targets carry
// the labels the Kubernetes scrape config in manifests/ gives them (namespace, pod, pod
// labels), so the queries run as written. The panels that cannot have data here are listed
// below with the reason (the same list is in manifests/dashboards/README.md), and the test
// checks they are still empty, so the list cannot go stale.
// Needs root (the embedded cluster) and the Debian package `prometheus`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { waitUntil } from '#local/mesh.ts';
import { PrometheusServer, type LabelledTarget } from './prometheus-server.ts';
import { startTrafficScene, type TrafficScene } from './traffic-scene.ts';

const DASHBOARDS = fileURLToPath(new URL('../../manifests/dashboards/', import.meta.url));
const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const echoOutput = process.env['WEFT_TEST_LOG'] === '1';

/** Queries that cannot return data on the embedded cluster, and why (README.md says the same). */
export const NO_DATA_HERE: readonly { match: RegExp; why: string }[] = [
  { match: /container_(cpu_usage_seconds_total|memory_working_set_bytes)/, why: 'kubelet (cAdvisor) series: the embedded cluster has no kubelet' },
  { match: /istio_dns_requests_total/, why: "weft's ztunnel has no DNS proxy" },
  { match: /istio_xds_connection_terminations_total/, why: 'no config stream ended during the test: the counter gets its series when one does (Istio\'s ztunnel also has none before its first reconnect)' },
  { match: /istio_request_duration_seconds_bucket/, why: 'only the fallback half of an `or`: weft reports milliseconds, the first half answers' },
  { match: /(istio_requests_total|istio_request_duration_milliseconds_bucket|istio_request_bytes_bucket|istio_response_bytes_bucket)\{[^}]*reporter="(source|destination)"/, why: 'HTTP is reported by the waypoint (reporter="waypoint"); ztunnels are L4 and never report requests (Istio ambient behaves the same)' },
  { match: /(istio_requests_total|istio_request_duration_milliseconds_bucket|istio_request_bytes_bucket|istio_response_bytes_bucket)\{[^}]*connection_security_policy!="mutual_tls"/, why: 'every request a waypoint handles arrived over HBONE, so it is mutual TLS' },
];

type Vars = Record<string, string>;

/** Variable values a user of each dashboard would pick here; a panel has data if any set gives it. */
function variableSets(file: string, s: TrafficScene): Vars[] {
  const reporters = 'destination|waypoint';
  switch (file) {
    case 'istio-service.json':
      return [s.httpService, s.tcpService].map((service) => ({
        service, qrep: reporters, srccluster: '.*', srcns: '.*', srcwl: '.*', dstcluster: '.*', dstns: '.*', dstwl: '.*',
      }));
    case 'istio-workload.json':
      return [['shop', 'echo'], ['shop', 'client'], ['tcp', 'techo'], ['tcp', 'tclient']].map(([namespace, workload]) => ({
        namespace: namespace ?? '', workload: workload ?? '', qrep: reporters, srcns: '.*', srcwl: '.*', dstsvc: '.*', dstns: '.*', dstwl: '.*',
      }));
    case 'weft-node.json':
      return [{ pod: '.*' }];
    default:
      return [{}];
  }
}

/** Grafana's interpolation for these queries: the rate window, and each variable's value. */
export function interpolate(expr: string, vars: Vars): string {
  return expr
    .replaceAll('$__rate_interval', '20s')
    .replaceAll('$__interval', '5s')
    .replace(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?/g, (whole, name: string) => vars[name] ?? whole);
}

interface Query {
  file: string;
  panel: string;
  expr: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every target expression of every panel (rows' nested panels too). */
export function dashboardQueries(file: string, dashboard: unknown): Query[] {
  const out: Query[] = [];
  const walk = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels) {
      if (!isRecord(p)) continue;
      walk(p['panels']);
      if (!Array.isArray(p['targets'])) continue;
      for (const t of p['targets']) {
        if (isRecord(t) && typeof t['expr'] === 'string' && t['expr'] !== '') out.push({ file, panel: typeof p['title'] === 'string' ? p['title'] : '', expr: t['expr'] });
      }
    }
  };
  if (isRecord(dashboard)) walk(dashboard['panels']);
  return out;
}

/** Each half of a top-level `a or b` (Istio's seconds fallback), to judge them apart. */
function orHalves(expr: string): string[] {
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && expr.startsWith(' or ', i)) return [expr.slice(0, i), ...orHalves(expr.slice(i + 4))];
  }
  return [expr];
}

describe('every shipped dashboard query returns data from a real Prometheus', { skip }, () => {
  let scene: TrafficScene | undefined;
  let prometheus: PrometheusServer | undefined;
  const queries: Query[] = [];
  let flowing: Promise<void> | undefined;
  let stopFlow = false;

  before(async () => {
    for (const f of (await readdir(DASHBOARDS)).filter((x) => x.endsWith('.json')).sort()) {
      queries.push(...dashboardQueries(f, JSON.parse(await readFile(`${DASHBOARDS}${f}`, 'utf8')) as unknown));
    }
    scene = await startTrafficScene({ name: 'graf', echo: echoOutput, logger: new Logger({ level: echoOutput ? 'debug' : 'off' }) });
    const { mesh } = scene;
    const wp = mesh.waypoints.running.get('shop/waypoint');
    assert.ok(wp, 'the waypoint runs');
    // The labels manifests/prometheus-scrape.yaml gives a pod: namespace, pod, and its labels.
    const podLabels = (namespace: string, pod: string, labels: Record<string, string>): Record<string, string> => ({
      ...Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.replace(/[^a-zA-Z0-9_]/g, '_'), v])), namespace, pod,
    });
    const ztunnels: LabelledTarget[] = mesh.ztunnels.map((z) => ({
      address: `${z.node.ip}:${Ports.metrics}`, labels: { ...podLabels('istio-system', `ztunnel-${z.node.name}`, { app: 'ztunnel' }), node: z.node.name },
    }));
    const waypoints: LabelledTarget[] = [{ address: `${wp.pod.ip}:${Ports.metrics}`, labels: { ...podLabels('shop', wp.pod.name, wp.pod.labels), node: wp.pod.node } }];
    prometheus = await PrometheusServer.start({ jobs: { 'weft-proxies': [...ztunnels, ...waypoints] }, echo: echoOutput });
    const prom = prometheus;
    await waitUntil(async () => (await prom.queryNumber('sum(up{job="weft-proxies"})')) === 3, 20_000, () => `not all three proxies scraped: ${prom.stderr.slice(-500)}`);
    // Traffic before and during the queries, so rates over the last window are not empty.
    await scene.traffic(5);
    flowing = (async () => {
      while (!stopFlow) await scene?.traffic(1);
    })();
    await new Promise((r) => setTimeout(r, 6000));
  });

  after(async () => {
    stopFlow = true;
    await flowing?.catch(() => undefined);
    await prometheus?.stop();
    await scene?.mesh.stop();
  });

  test('the shipped dashboards hold queries', () => {
    const files = new Set(queries.map((q) => q.file));
    for (const f of ['weft-node.json', 'istio-ztunnel.json', 'istio-mesh.json', 'istio-service.json', 'istio-workload.json']) assert.ok(files.has(f), f);
    assert.ok(queries.length > 150, `queries: ${queries.length}`);
  });

  test('each query returns data, except the listed ones, which are still empty', async () => {
    const prom = prometheus!;
    const s = scene!;
    const hasData = async (expr: string, sets: Vars[]): Promise<boolean> => {
      for (const vars of sets) {
        const samples = await prom.query(interpolate(expr, vars));
        if (samples.some((x) => Number.isFinite(x.value))) return true;
      }
      return false;
    };
    const missing: string[] = [];
    const stale: string[] = [];
    let checked = 0;
    for (const q of queries) {
      const sets = variableSets(q.file, s);
      for (const half of orHalves(q.expr)) {
        const excused = NO_DATA_HERE.find((x) => x.match.test(half));
        // A rate needs two scrapes with traffic between them: retry once after a scrape or two.
        let data = await hasData(half, sets);
        if (!data && excused === undefined) {
          await new Promise((r) => setTimeout(r, 2500));
          data = await hasData(half, sets);
        }
        checked++;
        if (excused === undefined && !data) missing.push(`${q.file} "${q.panel}": ${half}`);
        if (excused !== undefined && data) stale.push(`${q.file} "${q.panel}" has data now (listed as: ${excused.why}): ${half}`);
      }
    }
    process.stderr.write(`dashboard queries checked: ${checked} (from ${queries.length} panel targets)\n`);
    assert.deepEqual(missing, [], `queries without data:\n${missing.join('\n')}`);
    assert.deepEqual(stale, [], `listed as empty but answered:\n${stale.join('\n')}`);
  });
});
