// `weft status`: the mesh as the controller sees it — is it healthy, which proxies (a ztunnel
// per node, the waypoints) are up, at which version, in sync with the last push, which of their
// certificates are near expiry — then the conditions it reports on your objects. Read from the
// controller's admin endpoint: /healthz, /status, and /api/dashboard (the proxies' own
// metrics, as the dashboard scrapes them) where it serves one.
import { table } from '#cli/format.ts';
import type { Printable } from '#cli/output.ts';

export interface ProxyStatus {
  kind: 'ztunnel' | 'waypoint';
  /** The node for a ztunnel; `<namespace>/<gateway>` for a waypoint. */
  name: string;
  node: string;
  /** The proxy's istio_build tag; '-' when it has not been scraped. */
  version: string;
  up: boolean | null;
  /** synced | pending | disconnected | unknown */
  config: string;
  configVersion: number | null;
}

export interface CertificateStatus {
  proxy: string;
  identity: string;
  expiresAt: string;
  secondsLeft: number;
  nearExpiry: boolean;
}

export interface ConditionRow {
  kind: string;
  name: string;
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface StatusReport {
  controller: { url: string; healthy: boolean; connectedProxies: number; latestVersion: number | null };
  proxies: ProxyStatus[];
  certificates: CertificateStatus[];
  conditions: ConditionRow[];
  sourceRejections: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function conditionRows(status: unknown): ConditionRow[] {
  const objects = Array.isArray(status) ? status : isRecord(status) ? list(status['objects']) : [];
  const rows: ConditionRow[] = [];
  for (const o of objects) {
    if (!isRecord(o)) continue;
    const name = `${str(o['namespace']) === '' ? '' : `${str(o['namespace'])}/`}${str(o['name'])}`;
    for (const c of list(o['conditions'])) {
      if (isRecord(c)) rows.push({ kind: str(o['kind']), name, type: str(c['type']), status: str(c['status']), reason: str(c['reason']), message: str(c['message']) });
    }
  }
  return rows;
}

function proxyOf(kind: ProxyStatus['kind'], card: Record<string, unknown>): ProxyStatus {
  const health = isRecord(card['health']) ? card['health'] : {};
  const config = isRecord(card['config']) ? card['config'] : {};
  return {
    kind,
    name: str(kind === 'ztunnel' ? card['node'] : card['name']),
    node: str(card['node']),
    version: str(card['version']) === '' ? '-' : str(card['version']),
    up: typeof health['up'] === 'boolean' ? health['up'] : null,
    config: str(config['state']) === '' ? 'unknown' : str(config['state']),
    configVersion: num(config['version']),
  };
}

/** Push clients the dashboard has no card for (or all of them, without a dashboard). */
function clientProxies(clients: readonly unknown[], known: ReadonlySet<string>): ProxyStatus[] {
  const out: ProxyStatus[] = [];
  for (const c of clients) {
    if (!isRecord(c) || !isRecord(c['client'])) continue;
    const d = c['client'];
    const kind = d['kind'] === 'waypoint' ? 'waypoint' : 'ztunnel';
    const name = kind === 'ztunnel' ? str(d['node']) : str(d['identity']).replace(/^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/(.+)$/, '$1/$2');
    if (known.has(`${kind}:${name}`)) continue;
    const connected = c['connected'] === true;
    out.push({
      kind, name, node: kind === 'ztunnel' ? name : '-', version: '-', up: null,
      config: !connected ? 'disconnected' : c['inFlightVersion'] !== undefined && c['inFlightVersion'] !== null ? 'pending' : 'synced',
      configVersion: num(c['version']),
    });
  }
  return out;
}

export interface StatusInputs {
  url: string;
  healthy: boolean;
  status: unknown;
  /** Undefined when the controller serves no dashboard. */
  dashboard: unknown;
  now: number;
  /** A certificate with less than this left is near expiry. */
  warnSeconds: number;
}

export function statusReport(i: StatusInputs): StatusReport {
  const dash = isRecord(i.dashboard) ? i.dashboard : {};
  const proxies: ProxyStatus[] = [];
  const certificates: CertificateStatus[] = [];
  for (const n of list(dash['nodes'])) {
    if (!isRecord(n)) continue;
    const p = proxyOf('ztunnel', n);
    proxies.push(p);
    for (const c of list(n['certificates'])) {
      const expiresAt = isRecord(c) ? num(c['expiresAt']) : null;
      if (!isRecord(c) || expiresAt === null) continue;
      const secondsLeft = Math.round((expiresAt - i.now) / 1000);
      certificates.push({ proxy: `ztunnel/${p.name}`, identity: str(c['identity']), expiresAt: new Date(expiresAt).toISOString(), secondsLeft, nearExpiry: secondsLeft < i.warnSeconds });
    }
  }
  for (const w of list(dash['waypoints'])) if (isRecord(w)) proxies.push(proxyOf('waypoint', w));
  const clients = isRecord(i.status) ? list(i.status['clients']) : [];
  proxies.push(...clientProxies(clients, new Set(proxies.map((p) => `${p.kind}:${p.name}`))));
  proxies.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  certificates.sort((a, b) => a.secondsLeft - b.secondsLeft);
  const versions = clients.flatMap((c) => (isRecord(c) && typeof c['version'] === 'number' ? [c['version']] : []));
  return {
    controller: {
      url: i.url, healthy: i.healthy,
      connectedProxies: clients.filter((c) => isRecord(c) && c['connected'] === true).length,
      latestVersion: versions.length === 0 ? null : Math.max(...versions),
    },
    proxies,
    certificates,
    conditions: conditionRows(i.status),
    sourceRejections: isRecord(i.status) ? list(i.status['sourceRejections']).length : 0,
  };
}

function left(seconds: number): string {
  if (seconds <= 0) return 'expired';
  if (seconds < 3600) return `${Math.ceil(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

export function statusPrintable(r: StatusReport): Printable {
  return {
    data: r,
    table: (wide) => {
      const parts: string[] = [];
      parts.push(`controller ${r.controller.url}: ${r.controller.healthy ? 'healthy' : 'NOT READY'}, ${r.controller.connectedProxies} proxies connected`
        + `${r.controller.latestVersion === null ? '' : `, config version ${r.controller.latestVersion}`}\n`);
      if (r.proxies.length > 0) {
        const header = ['KIND', 'NAME', 'UP', 'VERSION', 'CONFIG', ...(wide ? ['NODE', 'CONFIG VERSION'] : [])];
        parts.push(table(header, r.proxies.map((p) => [p.kind, p.name, p.up === null ? '-' : p.up ? 'yes' : 'no', p.version, p.config,
          ...(wide ? [p.node, p.configVersion === null ? '-' : String(p.configVersion)] : [])])));
      } else {
        parts.push('no proxies known\n');
      }
      const near = wide ? r.certificates : r.certificates.filter((c) => c.nearExpiry);
      if (near.length > 0) {
        parts.push(table(['PROXY', 'CERTIFICATE', 'EXPIRES', 'LEFT', ...(wide ? ['NEAR EXPIRY'] : [])],
          near.map((c) => [c.proxy, c.identity, c.expiresAt, left(c.secondsLeft), ...(wide ? [c.nearExpiry ? 'yes' : 'no'] : [])])));
      } else {
        parts.push(`${r.certificates.length} certificates, none near expiry\n`);
      }
      if (r.conditions.length === 0) parts.push('no conditions reported\n');
      else parts.push(table(['KIND', 'NAME', 'TYPE', 'STATUS', 'REASON', 'MESSAGE'], r.conditions.map((c) => [c.kind, c.name, c.type, c.status, c.reason, c.message])));
      if (r.sourceRejections > 0) parts.push(`${r.sourceRejections} object(s) the controller could not read (weft analyze shows why)\n`);
      return parts.join('\n');
    },
  };
}
