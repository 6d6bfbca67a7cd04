// Tables for the CLI, from the controller's admin JSON (read as unknown and checked).

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

export function formatWorkloads(model: unknown): string {
  if (!isRecord(model) || model['built'] !== true || !Array.isArray(model['resources'])) return 'the controller has not built its model yet\n';
  const rows: string[][] = [];
  for (const r of model['resources']) {
    if (!isRecord(r) || r['kind'] !== 'workload' || !isRecord(r['value'])) continue;
    const w = r['value'];
    const addresses = Array.isArray(w['addresses']) ? w['addresses'].map(str).join(',') : '';
    const waypoint = isRecord(w['waypoint']) ? str(w['waypoint']['address']) : '-';
    rows.push([str(w['namespace']), str(w['name']), addresses, str(w['node']), str(w['tunnelProtocol']), str(w['serviceAccount']), waypoint]);
  }
  rows.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? '') || (a[1] ?? '').localeCompare(b[1] ?? ''));
  return table(['NAMESPACE', 'NAME', 'ADDRESS', 'NODE', 'PROTOCOL', 'SERVICE ACCOUNT', 'WAYPOINT'], rows);
}

export function formatStatus(status: unknown): string {
  const list = Array.isArray(status) ? status : isRecord(status) && Array.isArray(status['objects']) ? status['objects'] : [];
  const rows: string[][] = [];
  for (const o of list) {
    if (!isRecord(o) || !Array.isArray(o['conditions'])) continue;
    for (const c of o['conditions']) {
      if (!isRecord(c)) continue;
      rows.push([str(o['kind']), `${str(o['namespace']) === '' ? '' : `${str(o['namespace'])}/`}${str(o['name'])}`, str(c['type']), str(c['status']), str(c['reason']), str(c['message'])]);
    }
  }
  if (rows.length === 0) return 'no conditions reported\n';
  return table(['KIND', 'NAME', 'TYPE', 'STATUS', 'REASON', 'MESSAGE'], rows);
}
