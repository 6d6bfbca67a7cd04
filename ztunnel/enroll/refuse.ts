// Listeners for a pod captured before its config arrived: the same three ports as an enrolled
// pod's (so capture has somewhere to send every connection), but each accepted connection is
// reset at once and reported. Without them the kernel would reset those connections too,
// only nobody would count or log them.
import type net from 'node:net';
import { errorMessage } from '#core/errors.ts';
import { abort } from '#core/net/abort.ts';
import { Ports, ZTUNNEL_MARK } from '#core/ports.ts';
import { listenInNetns, originalDst } from '#ztunnel/native/index.ts';
import type { HoldTarget } from '#ztunnel/enroll/node-pods.ts';
import type { PodListeners } from '#ztunnel/proxy/pod-listeners.ts';

/** Why a held pod's connection is refused; also the access log's `error`. */
export const FAIL_CLOSED_REASON = 'no config for this pod yet: its traffic fails closed until the config arrives';

export interface RefusedConnection {
  pod: HoldTarget;
  direction: 'inbound' | 'outbound';
  /** The ztunnel port that took it: 15001, 15006 or 15008. */
  port: number;
  src: string;
  /** Where the connection was going (its original destination when redirected). */
  dst: string;
  reason: string;
}

export interface RefusingListenerOptions {
  onRefused(c: RefusedConnection): void;
  /** Where a listener's own failure is reported. */
  onError(port: number, err: unknown): void;
}

const PORTS: readonly { port: number; direction: RefusedConnection['direction']; redirected: boolean }[] = [
  { port: Ports.outbound, direction: 'outbound', redirected: true },
  { port: Ports.inboundPlaintext, direction: 'inbound', redirected: true },
  { port: Ports.hbone, direction: 'inbound', redirected: false },
];

function destinationOf(s: net.Socket, redirected: boolean): string {
  if (redirected) {
    try {
      const d = originalDst(s);
      return `${d.address}:${d.port}`;
    } catch {
      // Dialed the port itself; report the listener's address.
    }
  }
  return `${s.localAddress ?? ''}:${s.localPort ?? 0}`;
}

/** Binds 15001, 15006 and 15008 in the pod's namespace; every connection is reset. */
export async function openRefusingListeners(pod: HoldTarget, o: RefusingListenerOptions): Promise<PodListeners> {
  const servers: net.Server[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  try {
    for (const { port, direction, redirected } of PORTS) {
      // SO_REUSEPORT as the serving listeners use, so either may bind while the other closes.
      const server = await listenInNetns(pod.netnsPath, { address: '0.0.0.0', port, mark: ZTUNNEL_MARK, reusePort: true, server: { noDelay: true } });
      server.on('connection', (s: net.Socket) => {
        s.on('error', () => undefined);
        const dst = destinationOf(s, redirected);
        const src = `${(s.remoteAddress ?? '').replace(/^::ffff:/, '')}:${s.remotePort ?? 0}`;
        abort(s);
        o.onRefused({ pod, direction, port, src, dst, reason: FAIL_CLOSED_REASON });
      });
      server.on('error', (err) => o.onError(port, err));
      servers.push(server);
    }
  } catch (err) {
    await close();
    throw new Error(`cannot open fail-closed listeners in ${pod.netnsPath}: ${errorMessage(err)}`, { cause: err });
  }
  return { close };
}
