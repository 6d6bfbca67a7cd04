// Self-calls ("illegal ports", as Istio's ztunnel calls them). A connection that reaches a
// pod listener without an iptables REDIRECT (someone dialed 15001 or 15006 itself, or ztunnel
// dialed its own listener) has an original destination equal to the listener's own address;
// forwarding it would dial the listener again, in a loop. Such connections, and any whose
// destination is one of ztunnel's own ports, are refused. Pure.
import { Ports } from '#core/ports.ts';

/** The ports ztunnel listens on inside a pod; no connection is ever forwarded to them. */
export const ILLEGAL_PORTS: ReadonlySet<number> = new Set([Ports.outbound, Ports.inboundPlaintext, Ports.hbone]);

export interface HostPortLike {
  address?: string | undefined;
  port?: number | undefined;
}

function plain(a: string | undefined): string | undefined {
  return a?.startsWith('::ffff:') === true ? a.slice(7) : a;
}

/**
 * Why forwarding to `dst` would be a self-call, or undefined when it is fine. `local` is the
 * accepted socket's own address (absent for HBONE, where only the target port counts).
 */
export function selfCallReason(dst: HostPortLike, local?: HostPortLike): string | undefined {
  if (dst.port !== undefined && ILLEGAL_PORTS.has(dst.port)) {
    return `self-call: destination port ${dst.port} is one of ztunnel's own (${[...ILLEGAL_PORTS].join(', ')})`;
  }
  if (local !== undefined && dst.port !== undefined && dst.port === local.port && plain(dst.address) === plain(local.address)) {
    return `self-call: destination ${plain(dst.address)}:${dst.port} is the listener's own address`;
  }
  return undefined;
}
