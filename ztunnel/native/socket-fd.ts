// The file descriptor under a Node.js socket, for the socket options Node has no API for.
import type { Server, Socket } from 'node:net';
import { WeftError } from '#core/errors.ts';

/** The fd of a connected socket or a listening server; throws WEFT_ERR_NO_FD once it is closed. */
export function socketFd(socket: Socket | Server): number {
  // _handle is Node's internal TCP wrap; its fd getter is stable across releases on Unix.
  const handle: unknown = Reflect.get(socket, '_handle');
  if (typeof handle === 'object' && handle !== null) {
    const fd: unknown = Reflect.get(handle, 'fd');
    if (typeof fd === 'number' && Number.isInteger(fd) && fd >= 0) return fd;
  }
  throw new WeftError('WEFT_ERR_NO_FD', 'socket has no file descriptor (closed, or not a TCP socket)');
}
