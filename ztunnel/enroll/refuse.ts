// Listeners for a pod captured before its config arrived: the same three ports as an enrolled
// pod's (so capture has somewhere to send every connection). Inbound connections are reset at
// once and reported; outbound ones are handed to a hold when one is given (they wait, bounded,
// for the pod's config: enroll/hold.ts), else reset too. Without these listeners the kernel
// would reset those connections as well, only nobody would count or log them.
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
  /** How long it waited before the reset (held outbound connections); 0 when reset at once. */
  durationMs?: number;
}

export interface RefusingListenerOptions {
  onRefused(c: RefusedConnection): void;
  /** Takes the pod's outbound (15001) connections instead of resetting them. */
  holdOutbound?(c: { pod: HoldTarget; socket: net.Socket; src: string; dst: string }): void;
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

/** Binds 15001, 15006 and 15008 in the pod's namespace; every connection is reset or held. */
export async function openRefusingListeners(pod: HoldTarget, o: RefusingListenerOptions): Promise<PodListeners> {
  const servers: net.Server[] = [];
  // Stops accepting without waiting for accepted connections to end: held ones live on, to
  // be served once the pod is enrolled (a server's close callback would wait for them).
  const close = async (): Promise<void> => {
    for (const s of servers) s.close();
    await Promise.resolve();
  };
  try {
    for (const { port, direction, redirected } of PORTS) {
      // SO_REUSEPORT as the serving listeners use, so either may bind while the other closes;
      // half-open allowed as there, for held connections the serving side takes over.
      const server = await listenInNetns(pod.netnsPath, { address: '0.0.0.0', port, mark: ZTUNNEL_MARK, reusePort: true, server: { noDelay: true, allowHalfOpen: true } });
      server.on('connection', (s: net.Socket) => {
        s.on('error', () => undefined);
        const dst = destinationOf(s, redirected);
        const src = `${(s.remoteAddress ?? '').replace(/^::ffff:/, '')}:${s.remotePort ?? 0}`;
        if (direction === 'outbound' && redirected && o.holdOutbound !== undefined) {
          o.holdOutbound({ pod, socket: s, src, dst });
          return;
        }
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
