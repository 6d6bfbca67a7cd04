// A proxy's admin surface (ztunnel and waypoint alike): 15000 (localhost) config dump, certificates, log level, quit;
// 15020 Prometheus metrics; 15021 readiness. Each server takes its listening socket from a
// factory, so the embedded cluster can bind them inside a node's network namespace.
import http from 'node:http';
import net from 'node:net';
import { PROMETHEUS_CONTENT_TYPE, type Registry } from '#core/telemetry/metrics.ts';
import { LogLevel, type Logger, type LogLevelName } from '#core/log.ts';
import { errorMessage } from '#core/errors.ts';

export interface AdminSources {
  /** The /config_dump document. */
  configDump(): unknown;
  /** The /certs document. */
  certificates(): unknown;
  readiness(): { ready: boolean; reasons: string[] };
  registry: Registry;
  logger: Logger;
  /** /quitquitquit: begin a graceful exit. */
  quit(): void;
}

export type ListenFactory = (host: string, port: number) => Promise<net.Server>;

export const listenHere: ListenFactory = (host, port) => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen({ host, port }, () => {
    s.off('error', reject);
    resolve(s);
  });
});

export interface AdminBinding {
  host: string;
  port: number;
}

export interface AdminServerOptions {
  admin: AdminBinding;
  metrics: AdminBinding;
  readiness: AdminBinding;
  listen?: ListenFactory;
}

export interface RunningAdmin {
  /** Bound ports (useful when 0 was asked). */
  ports: { admin: number; metrics: number; readiness: number };
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

function text(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

function adminRoutes(src: AdminSources): Record<string, Handler> {
  return {
    '/config_dump': (_req, res) => json(res, 200, src.configDump()),
    '/certs': (_req, res) => json(res, 200, src.certificates()),
    '/logging': (_req, res, url) => {
      const level = url.searchParams.get('level');
      if (level === null) return json(res, 200, { level: src.logger.level, levels: Object.keys(LogLevel) });
      if (!Object.hasOwn(LogLevel, level)) return json(res, 400, { error: `unknown level ${level}`, levels: Object.keys(LogLevel) });
      // The proxy's loggers are all children of this one and share its level (Istio's
      // ztunnel `/logging?level=` likewise sets the level of every component at once).
      src.logger.setLevel(level as LogLevelName);
      src.logger.info('log level changed', { level });
      return json(res, 200, { level });
    },
    '/quitquitquit': (req, res) => {
      if (req.method !== 'POST') return text(res, 405, 'POST only\n');
      text(res, 200, 'OK\n');
      src.quit();
    },
  };
}

function metricsRoutes(src: AdminSources): Record<string, Handler> {
  const metrics: Handler = (_req, res) => {
    src.registry.render().then((page) => text(res, 200, page, PROMETHEUS_CONTENT_TYPE), (err: unknown) => {
      src.logger.error('rendering metrics failed', { err });
      if (!res.headersSent) text(res, 500, `${errorMessage(err)}\n`);
    });
  };
  return { '/metrics': metrics, '/stats/prometheus': metrics };
}

function readinessRoutes(src: AdminSources): Record<string, Handler> {
  return {
    '/healthz/ready': (_req, res) => {
      const r = src.readiness();
      text(res, r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${r.reasons.join('; ')}\n`);
    },
  };
}

async function serve(binding: AdminBinding, routes: Record<string, Handler>, listen: ListenFactory, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const h = routes[url.pathname];
    if (h === undefined) return text(res, 404, `no such endpoint; try ${Object.keys(routes).join(' ')}\n`);
    try {
      h(req, res, url);
    } catch (err) {
      log.error('admin handler failed', { path: url.pathname, err });
      if (!res.headersSent) text(res, 500, `${errorMessage(err)}\n`);
    }
  });
  const server = await listen(binding.host, binding.port);
  // The sockets come from our own listener, so http.Server does not track them: we do.
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    httpServer.emit('connection', s);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : binding.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

/** Binds all three servers (failing fast if any port is taken). */
export async function startAdmin(src: AdminSources, opts: AdminServerOptions): Promise<RunningAdmin> {
  const listen = opts.listen ?? listenHere;
  const started: { port: number; close(): Promise<void> }[] = [];
  try {
    for (const [binding, routes] of [[opts.admin, adminRoutes(src)], [opts.metrics, metricsRoutes(src)], [opts.readiness, readinessRoutes(src)]] as const) {
      started.push(await serve(binding, routes, listen, src.logger));
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  const portOf = (i: number): number => started[i]?.port ?? 0;
  return {
    ports: { admin: portOf(0), metrics: portOf(1), readiness: portOf(2) },
    close: async () => { await Promise.all(started.map((s) => s.close())); },
  };
}
