// The destination a connection was addressed to before an iptables REDIRECT sent it to ztunnel.
import type { Socket } from 'node:net';
import { nativeBinding, type Endpoint } from './addon.ts';
import { socketFd } from './socket-fd.ts';

/**
 * SO_ORIGINAL_DST of an accepted socket (IPv4). For a redirected connection this is where the
 * client was going; for a tracked but untranslated one it is the socket's own address; an
 * untracked one throws ENOENT.
 */
export function originalDst(socket: Socket): Endpoint {
  return nativeBinding().getOriginalDst(socketFd(socket));
}
