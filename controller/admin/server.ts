// The controller's admin endpoint: liveness, the model and per-client push state as JSON
// for debugging, object status, Prometheus metrics, and the node dashboard (/dashboard, the
// page; /api/dashboard, the snapshot it polls). Read-only.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { errorMessage } from '#core/errors.ts';
import { PROMETHEUS_CONTENT_TYPE } from '#core/telemetry/metrics.ts';
import type { Registry } from '#core/telemetry/metrics.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { dashboardAsset } from '#controller/dashboard/assets.ts';
import type { DashboardSnapshot } from '#controller/dashboard/snapshot.ts';

export interface AdminSources {
  healthy: () => boolean;
  model: () => MeshModel | undefined;
  status: () => unknown;
  metrics: Registry;
  /** The dashboard's data; without it /dashboard answers 404. */
  dashboard?: { snapshot(): DashboardSnapshot };
}

export const DASHBOARD_PATH = '/dashboard';
export const DASHBOARD_API_PATH = '/api/dashboard';

/** The model as plain JSON (Maps and Sets become objects and arrays). */
export function modelJson(model: MeshModel | undefined): unknown {
  if (model === undefined) return { built: false };
  return {
    built: true,
    resources: [...model.resources.values()],
    conditions: model.conditions,
    identitiesByNode: Object.fromEntries([...model.identitiesByNode].map(([node, ids]) => [node, [...ids].sort()])),
    waypointIdentities: [...model.waypointIdentities].sort(),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

const ROUTES = '/healthz, /debug/model, /status, /metrics, /dashboard, /api/dashboard';

/** IPv4-mapped IPv6 shown as plain IPv4. */
const plain = (a: string): string => (a.startsWith('::ffff:') ? a.slice(7) : a);

/**
 * Whether a request comes from this host itself: loopback, or one of its own addresses (the
 * embedded cluster's root netns reaches the admin port on its host-link address). The whole
 * mesh model is for the operator on the host, never for pods (Istio keeps its debug
 * endpoints on localhost likewise).
 */
export function fromThisHost(remote: string | undefined, ownAddresses: () => ReadonlySet<string> = hostAddresses): boolean {
  if (remote === undefined) return false;
  const a = plain(remote);
  return a === '::1' || a.startsWith('127.') || ownAddresses().has(a);
}

function hostAddresses(): ReadonlySet<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(plain(i.address));
  return out;
}

export function adminHandler(src: AdminSources): (req: IncomingMessage, res: ServerResponse) => void {
  const failed = (res: ServerResponse, err: unknown): void => {
    if (!res.headersSent) send(res, 500, 'text/plain', `${errorMessage(err)}\n`);
  };
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    switch (path) {
      case '/healthz':
        return src.healthy() ? send(res, 200, 'text/plain', 'ok\n') : send(res, 503, 'text/plain', 'starting\n');
      case '/debug/model':
        if (!fromThisHost(req.socket.remoteAddress)) return send(res, 403, 'text/plain', '/debug is served to this host only\n');
        return send(res, 200, 'application/json', JSON.stringify(modelJson(src.model()), null, 2) + '\n');
      case '/status':
        return send(res, 200, 'application/json', JSON.stringify(src.status(), null, 2) + '\n');
      case '/metrics':
        src.metrics.render().then((page) => send(res, 200, PROMETHEUS_CONTENT_TYPE, page), (err: unknown) => failed(res, err));
        return;
      case DASHBOARD_API_PATH:
        if (src.dashboard === undefined) break;
        return send(res, 200, 'application/json', JSON.stringify(src.dashboard.snapshot()));
      default:
        if (src.dashboard === undefined || !path.startsWith(DASHBOARD_PATH)) break;
        dashboardAsset(path).then((a) => (a === undefined ? send(res, 404, 'text/plain', `not found: ${path}\n`) : send(res, 200, a.type, a.body)),
          (err: unknown) => failed(res, err));
        return;
    }
    return send(res, 404, 'text/plain', `not found: try ${ROUTES}\n`);
  };
}

/** Starts the admin listener; resolves with the server once it listens. */
export async function startAdminServer(src: AdminSources, address: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer(adminHandler(src));
  server.listen(port, address);
  await once(server, 'listening');
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { server, url: `http://${host}:${a.port}` };
}
