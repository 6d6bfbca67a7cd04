// Tables for the CLI, from the controller's admin JSON (read as unknown and checked).
import type { Printable } from '#cli/output.ts';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export interface WorkloadRow {
  namespace: string;
  name: string;
  addresses: string[];
  node: string;
  protocol: string;
  serviceAccount: string;
  /** The waypoint's address, or '-'. */
  waypoint: string;
}

/** The workloads of the controller's /debug/model; undefined before it has built one. */
export function workloadRows(model: unknown): WorkloadRow[] | undefined {
  if (!isRecord(model) || model['built'] !== true || !Array.isArray(model['resources'])) return undefined;
  const rows: WorkloadRow[] = [];
  for (const r of model['resources']) {
    if (!isRecord(r) || r['kind'] !== 'workload' || !isRecord(r['value'])) continue;
    const w = r['value'];
    rows.push({
      namespace: str(w['namespace']), name: str(w['name']), addresses: Array.isArray(w['addresses']) ? w['addresses'].map(str) : [],
      node: str(w['node']), protocol: str(w['tunnelProtocol']), serviceAccount: str(w['serviceAccount']),
      waypoint: isRecord(w['waypoint']) ? str(w['waypoint']['address']) : '-',
    });
  }
  return rows.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

const NOT_BUILT = 'the controller has not built its model yet\n';

export function workloadsPrintable(model: unknown): Printable {
  const rows = workloadRows(model);
  return {
    data: rows ?? [],
    table: () => (rows === undefined ? NOT_BUILT : table(['NAMESPACE', 'NAME', 'ADDRESS', 'NODE', 'PROTOCOL', 'SERVICE ACCOUNT', 'WAYPOINT'],
      rows.map((w) => [w.namespace, w.name, w.addresses.join(','), w.node, w.protocol, w.serviceAccount, w.waypoint]))),
  };
}

