// The three listeners ztunnel opens inside an enrolled pod's namespace: 15001 (captured
// outbound), 15006 (captured inbound plaintext) and 15008 (HBONE). All are bound before the
// pod counts as enrolled, so its first connection already finds them. Closing them also
// ends the connections they accepted: a listener's own close would wait for those, and a
// peer's pooled HBONE session to the pod may stay open for minutes. Draining (an upgrade
// hand-off) stops accepting at once and gives the open connections time to finish.
import type net from 'node:net';
import { errorMessage } from '#core/errors.ts';
import type { HboneServer } from '#core/hbone/server.ts';
import { Ports, ZTUNNEL_MARK } from '#core/ports.ts';
import { listenInNetns } from '#ztunnel/native/index.ts';
import type { EnrolledPod, ProxyInputs } from '#ztunnel/proxy/inputs.ts';
import { handleInboundPlaintext } from '#ztunnel/proxy/inbound-plaintext.ts';
import { handleOutbound } from '#ztunnel/proxy/outbound.ts';

export interface PodListeners {
  /**
   * Stops accepting and destroys the connections still open on the pod's listeners; with
   * drainMs, first waits up to that long for them to end on their own.
   */
  close(drainMs?: number): Promise<void>;
}

export interface ServingPodListeners extends PodListeners {
  /** Serves an outbound connection accepted elsewhere (held while the pod had no config) as if 15001 took it. */
  adoptOutbound(s: net.Socket): void;
}

export async function openPodListeners(pod: EnrolledPod, inputs: ProxyInputs, hbone: HboneServer): Promise<ServingPodListeners> {
  const servers: net.Server[] = [];
  const accepted = new Set<net.Socket>();
  const close = async (drainMs = 0): Promise<void> => {
    const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (drainMs > 0 && accepted.size > 0) await drained(accepted, drainMs);
    for (const s of accepted) s.destroy();
    await closed;
  };
  const track = (s: net.Socket): void => {
    accepted.add(s);
    s.once('close', () => accepted.delete(s));
  };
  const bind = async (port: number, onSocket: (s: net.Socket) => void): Promise<void> => {
    // SO_REUSEPORT lets a restarted ztunnel bind beside the old one while it drains.
    // allowHalfOpen: a client that shuts down writing still reads the whole reply.
    const server = await listenInNetns(pod.netnsPath, { address: '0.0.0.0', port, mark: ZTUNNEL_MARK, reusePort: true, server: { noDelay: true, allowHalfOpen: true } });
    server.on('connection', (s: net.Socket) => {
      track(s);
      onSocket(s);
    });
    server.on('error', (err) => inputs.logger.error('pod listener failed', { pod: pod.ip, port, err: errorMessage(err) }));
    servers.push(server);
  };
  try {
    await bind(Ports.outbound, (s) => void handleOutbound(s, pod, inputs));
    await bind(Ports.inboundPlaintext, (s) => void handleInboundPlaintext(s, pod, inputs));
    await bind(Ports.hbone, (s) => hbone.handleConnection(s));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    close,
    adoptOutbound: (s) => {
      track(s);
      void handleOutbound(s, pod, inputs);
    },
  };
}

/** Resolves once every socket has closed, or after ms. */
async function drained(sockets: ReadonlySet<net.Socket>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const each = [...sockets].map((s) => s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r())));
  await Promise.race([Promise.all(each), new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}
