// Public surface of the native socket layer: the raw addon calls and the Node-level helpers
// ztunnel uses to listen and connect inside pods' network namespaces.
import { nativeBinding, type Endpoint, type OpenSocketOptions } from './addon.ts';

export type { Endpoint, NativeBinding, OpenSocketOptions } from './addon.ts';
export { listenInNetns, type ListenInNetnsOptions } from './listen.ts';
export { connectInNetns, type ConnectInNetnsOptions } from './connect.ts';
export { originalDst } from './original-dst.ts';
export { socketFd } from './socket-fd.ts';

/** A non-blocking IPv4 TCP socket created inside netnsPath (null: this namespace); returns the fd. */
export function openSocketInNetns(netnsPath: string | null, opts: OpenSocketOptions): number {
  return nativeBinding().openSocketInNetns(netnsPath, opts);
}

/** SO_ORIGINAL_DST of a redirected connection's fd. */
export function getOriginalDst(fd: number): Endpoint {
  return nativeBinding().getOriginalDst(fd);
}

export function setMark(fd: number, mark: number): void {
  nativeBinding().setMark(fd, mark);
}

export function getMark(fd: number): number {
  return nativeBinding().getMark(fd);
}

export function setTransparent(fd: number): void {
  nativeBinding().setTransparent(fd);
}

/** IP_BIND_ADDRESS_NO_PORT of an fd (set on sockets bound to a source address with port 0). */
export function getBindAddressNoPort(fd: number): boolean {
  return nativeBinding().getBindAddressNoPort(fd);
}
