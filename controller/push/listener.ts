// The controller's one TLS listener (15010 in a mesh: the push stream and the CA), with the
// limits a listener open to every pod needs: a TLS handshake must finish within a bound time,
// and one source address may hold only so many connections. Without them a single pod could
// open a thousand connections that never finish a handshake and hold each for two minutes.
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { errorMessage } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import type { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';

export interface ListenerLimits {
  /** A handshake not finished within this closes the connection (Node's default is 120 s). */
  handshakeTimeoutMs: number;
  /** Open connections per source address; the next one is closed at accept. */
  maxConnectionsPerSource: number;
}

export interface ControllerListenerOptions {
  cert: string;
  key: string;
  limits: ListenerLimits;
  logger?: Logger;
  metrics?: Registry;
}

/** IPv4-mapped IPv6 (from dual-stack listeners) counts as the IPv4 address it maps. */
function sourceOf(socket: net.Socket): string {
  const a = socket.remoteAddress ?? '?';
  return a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/** One warning per source per this long, so a flood does not become a flood of log lines. */
const WARN_EVERY_MS = 10_000;

/** The HTTPS server of the push stream and the CA, with handshake and per-source limits applied. */
export function createControllerListener(opts: ControllerListenerOptions, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const log = (opts.logger ?? silentLogger).child({ component: 'controller-listener' });
  const refused = (opts.metrics ?? new Registry()).counter('weft_controller_connections_refused_total',
    'Connections to the push/CA listener closed before TLS completed, by reason.', ['reason']);
  const server = createServer({ cert: opts.cert, key: opts.key, handshakeTimeout: opts.limits.handshakeTimeoutMs }, onRequest);
  const open = new Map<string, number>();
  const warned = new Map<string, number>();
  const warn = (source: string, msg: string, fields: Record<string, unknown>): void => {
    const now = Date.now();
    if ((warned.get(source) ?? 0) > now - WARN_EVERY_MS) return;
    warned.set(source, now);
    if (warned.size > 10_000) warned.clear();
    log.warn(msg, { source, ...fields });
  };
  // Before the TLS layer's own listener, so a refused socket never starts a handshake.
  server.prependListener('connection', (socket: net.Socket) => {
    const source = sourceOf(socket);
    const n = open.get(source) ?? 0;
    if (n >= opts.limits.maxConnectionsPerSource) {
      refused.inc({ reason: 'per_source_limit' });
      warn(source, 'connection refused: too many from one source', {
        open: n, limit: opts.limits.maxConnectionsPerSource,
        hint: 'a proxy needs a few connections; raise --max-connections-per-source if many clients share one address (NAT)',
      });
      socket.destroy();
      return;
    }
    open.set(source, n + 1);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left <= 0) open.delete(source);
      else open.set(source, left);
    });
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
    const source = sourceOf(socket);
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
      refused.inc({ reason: 'handshake_timeout' });
      warn(source, 'TLS handshake not finished in time; connection closed', { timeoutMs: opts.limits.handshakeTimeoutMs });
    } else if (!socket.destroyed) {
      refused.inc({ reason: 'tls_error' });
      log.debug('TLS handshake failed', { source, err: errorMessage(err) });
    }
    socket.destroy();
  });
  return server;
}
