// The controller's admin endpoint, on localhost: liveness, the model and per-client push
// state as JSON for debugging, object status, and Prometheus metrics. Read-only.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { PROMETHEUS_CONTENT_TYPE } from '#core/telemetry/metrics.ts';
import type { Registry } from '#core/telemetry/metrics.ts';
import type { MeshModel } from '#controller/model/types.ts';

export interface AdminSources {
  healthy: () => boolean;
  model: () => MeshModel | undefined;
  status: () => unknown;
  metrics: Registry;
}

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
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function adminHandler(src: AdminSources): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    switch (path) {
      case '/healthz':
        return src.healthy() ? send(res, 200, 'text/plain', 'ok\n') : send(res, 503, 'text/plain', 'starting\n');
      case '/debug/model':
        return send(res, 200, 'application/json', JSON.stringify(modelJson(src.model()), null, 2) + '\n');
      case '/status':
        return send(res, 200, 'application/json', JSON.stringify(src.status(), null, 2) + '\n');
      case '/metrics':
        return send(res, 200, PROMETHEUS_CONTENT_TYPE, src.metrics.render());
      default:
        return send(res, 404, 'text/plain', 'not found: try /healthz, /debug/model, /status, /metrics\n');
    }
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
