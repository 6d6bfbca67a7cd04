// `weft version`: this client's version, and the controller's where one answers — the
// controller's admin endpoint (its `istio_build` tag, when it reports one) or, on Kubernetes,
// the controller Deployment the chart installed (its `app.kubernetes.io/version` label and
// image) next to the API server's own version.
import { readFileSync } from 'node:fs';
import { table } from '#cli/format.ts';
import type { Printable } from '#cli/output.ts';

export interface VersionReport {
  client: { version: string; node: string };
  /** Absent when no controller was asked; `reachable: false` with the reason when it did not answer. */
  controller?: { source: string; reachable: boolean; version?: string; image?: string; error?: string };
  /** The Kubernetes API server's gitVersion, when one was asked. */
  kubernetes?: string;
}

export function clientVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const v = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
  return typeof v === 'string' ? v : 'unknown';
}

/** The `tag` of `istio_build{component="<component>"}` in a Prometheus page, if there is one. */
export function buildTag(metrics: string, component: string): string | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('istio_build{')) continue;
    const labels = new Map<string, string>([...line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const tag = labels.get('tag');
    if (labels.get('component') === component && tag !== undefined) return tag;
  }
  return undefined;
}

export function versionPrintable(r: VersionReport): Printable {
  return {
    data: r,
    table: (wide) => {
      const rows = [['client', r.client.version, wide ? `node ${r.client.node}` : '']];
      if (r.controller !== undefined) {
        const c = r.controller;
        const where = wide ? `${c.source}${c.image === undefined ? '' : ` (${c.image})`}` : c.source;
        rows.push(['controller', c.reachable ? c.version ?? 'unknown' : '-', c.reachable ? where : `unreachable: ${c.error ?? ''}`]);
      }
      if (r.kubernetes !== undefined) rows.push(['kubernetes', r.kubernetes, '']);
      return table(['COMPONENT', 'VERSION', 'WHERE'], rows);
    },
  };
}
