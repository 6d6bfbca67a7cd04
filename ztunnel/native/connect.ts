// A TCP connection opened inside a network namespace, optionally from a foreign source address
// (IP_TRANSPARENT): how ztunnel reaches a pod's app while keeping the caller's address.
//
// The addon creates, marks and binds the socket; Node adopts the fd and connects it, so the
// result is an ordinary net.Socket with Node's own connect errors (ECONNREFUSED, ...).
// manualStart keeps Node from reading the fd before connect() has even been called.
import net from 'node:net';
import { nativeBinding } from './addon.ts';

export interface ConnectInNetnsOptions {
  /** IPv4 literal: a name would be resolved outside the namespace, so none is accepted. */
  host: string;
  port: number;
  /** Source address; with transparent, it may be an address the namespace does not own. */
  localAddress?: string;
  localPort?: number;
  mark?: number;
  transparent?: boolean;
  /** Fail with ETIMEDOUT when not connected by then (default 10 s; 0 disables). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function timeoutError(opts: ConnectInNetnsOptions, timeoutMs: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`connect ETIMEDOUT ${opts.host}:${opts.port} (no answer within ${timeoutMs} ms)`);
  err.code = 'ETIMEDOUT';
  err.syscall = 'connect';
  return err;
}

/** Resolves with a connected socket, or rejects with the connect error (the socket is destroyed). */
export async function connectInNetns(netnsPath: string | null, opts: ConnectInNetnsOptions): Promise<net.Socket> {
  if (!net.isIPv4(opts.host)) {
    throw new TypeError(`connectInNetns: host must be an IPv4 address, got ${JSON.stringify(opts.host)}`);
  }
  const fd = nativeBinding().openSocketInNetns(netnsPath, {
    ...(opts.localAddress === undefined ? {} : { bind: { address: opts.localAddress, port: opts.localPort ?? 0 } }),
    ...(opts.mark === undefined ? {} : { mark: opts.mark }),
    ...(opts.transparent === true ? { transparent: true, freebind: true } : {}),
  });
  // manualStart is honoured by net.Socket but absent from its published option type.
  const socketOptions: net.SocketConstructorOpts & { manualStart: boolean } = { fd, manualStart: true };
  const socket = new net.Socket(socketOptions);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<net.Socket>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('connect', onConnect);
    if (timeoutMs > 0) {
      timer = setTimeout(() => onError(timeoutError(opts, timeoutMs)), timeoutMs);
    }
    socket.connect({ host: opts.host, port: opts.port });
  });
}
