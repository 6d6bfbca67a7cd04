// A synthetic mesh for the dashboard at scale: N nodes and M workloads whose ztunnels and
// waypoints are real metrics registries (the ones the proxies export), each workload opening
// connections to a peer, read by a real DashboardCollector through an in-memory fetch. So the
// page is measured on the snapshot the controller would really build for that mesh.
import { sampleWorkload } from '#core/config/testing.ts';
import type { Workload } from '#core/config/model.ts';
import { tcpLabels } from '#core/telemetry/labels.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import type { Server } from 'node:http';
import { startAdminServer } from '#controller/admin/server.ts';
import { DashboardCollector, type FetchText } from '#controller/dashboard/collector.ts';
import type { DashboardSnapshot } from '#controller/dashboard/snapshot.ts';
import type { ProxyTarget } from '#controller/dashboard/targets.ts';
import { WaypointMetrics } from '#waypoint/telemetry/metrics.ts';
import { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';

export interface SyntheticMesh {
  /** Adds one round of traffic (each workload opens `connections` to its peer). */
  traffic(connections: number): void;
  collector: DashboardCollector;
  snapshot(): Promise<DashboardSnapshot>;
}

export function syntheticMesh(opts: { nodes: number; workloads: number; waypoints: number }): SyntheticMesh {
  const zt = Array.from({ length: opts.nodes }, (_, i) => {
    const m = new ZtunnelMetrics({ registry: new Registry({ processMetrics: false }), tag: '0.1.0' });
    m.readFrom({ enrolledPods: () => Math.ceil(opts.workloads / opts.nodes), pendingPods: () => 0, hbonePool: () => ({ sessions: 2, streams: 3 }) });
    return { name: `node-${String(i).padStart(3, '0')}`, m };
  });
  const wps = Array.from({ length: opts.waypoints }, (_, i) => ({ name: `ns-${i}/waypoint`, m: new WaypointMetrics({ registry: new Registry({ processMetrics: false }) }) }));
  const workloads: Workload[] = Array.from({ length: opts.workloads }, (_, i) => sampleWorkload({
    uid: `w${i}`, name: `app-${i}`, workloadName: `app-${i}`, canonicalName: `app-${i}`, namespace: `ns-${i % 20}`, node: zt[i % opts.nodes]?.name ?? '',
  }));
  const targets: ProxyTarget[] = [
    ...zt.map((z, i): ProxyTarget => ({
      kind: 'ztunnel', id: `ztunnel/${z.name}`, name: z.name, node: z.name, pod: `ztunnel-${z.name}`, address: `10.0.${i >> 8}.${i & 255}`,
      metricsUrl: `mem://${z.name}/metrics`, readyUrl: `mem://${z.name}/ready`,
    })),
    ...wps.map((w, i): ProxyTarget => ({
      kind: 'waypoint', id: `waypoint/${w.name}-0`, name: w.name, node: zt[i % opts.nodes]?.name ?? '', pod: 'waypoint-0', address: `10.1.0.${i}`,
      metricsUrl: `mem://wp${i}/metrics`, readyUrl: `mem://wp${i}/ready`,
    })),
  ];
  const registries = new Map<string, Registry>([
    ...zt.map((z) => [`mem://${z.name}/metrics`, z.m.registry] as const),
    ...wps.map((w, i) => [`mem://wp${i}/metrics`, w.m.registry] as const),
  ]);
  const fetchText: FetchText = async (url) => {
    const r = registries.get(url);
    return r === undefined ? { status: 200, body: 'ready\n' } : { status: 200, body: await r.render() };
  };
  const collector = new DashboardCollector({ targets: () => targets, pushClients: () => [] }, { fetchText });
  return {
    collector,
    traffic: (connections) => {
      workloads.forEach((src, i) => {
        const dst = workloads[(i * 7 + 1) % workloads.length] ?? src;
        const srcNode = zt[i % opts.nodes];
        const dstNode = zt[((i * 7 + 1) % workloads.length) % opts.nodes];
        const denied = i % 50 === 0;
        const out = tcpLabels({ reporter: 'source', source: src, destination: dst, mtls: true });
        const inb = tcpLabels({ reporter: 'destination', source: src, destination: dst, mtls: true });
        srcNode?.m.opened.inc(out, connections);
        srcNode?.m.closed.inc(out, connections);
        srcNode?.m.sentBytes.inc(out, connections * 2048);
        srcNode?.m.receivedBytes.inc(out, connections * 512);
        if (denied) dstNode?.m.failed.inc({ ...inb, response_flags: 'DENY' }, connections);
        else dstNode?.m.opened.inc(inb, connections);
        const wp = wps[i % wps.length];
        if (wp !== undefined && i % 10 === 0) {
          const labels = { ...tcpLabels({ reporter: 'waypoint', source: src, destination: dst, mtls: true, protocol: 'http' }), response_code: i % 30 === 0 ? '503' : '200', grpc_response_status: 'unknown' };
          for (let k = 0; k < connections; k++) wp.m.record(labels, 1 + (k % 40), 100, 1000);
        }
      });
    },
    snapshot: () => collector.scrapeOnce(),
  };
}

/**
 * The controller's admin handler serving the dashboard of a synthetic mesh of that size, after
 * a few rounds of traffic (so rates have two samples): for the scale test and its benchmark.
 */
export async function serveSyntheticDashboard(opts: { nodes: number; workloads: number; waypoints: number }): Promise<{ server: Server; url: string; snapshot: DashboardSnapshot }> {
  const mesh = syntheticMesh(opts);
  mesh.traffic(3);
  let snapshot = await mesh.snapshot();
  for (let i = 0; i < 5; i++) {
    mesh.traffic(2 + i);
    snapshot = await mesh.snapshot();
  }
  const admin = await startAdminServer({
    healthy: () => true, model: () => undefined, status: () => ({}), metrics: new Registry({ processMetrics: false }),
    dashboard: { snapshot: () => snapshot },
  }, '127.0.0.1', 0);
  return { server: admin.server, url: admin.url, snapshot };
}
