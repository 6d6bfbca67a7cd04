// The connection to the app on the caller's behalf: from the caller's address and, where it
// is known, the caller's own port. Every inbound connection to one app port shares the rest of
// the 4-tuple, so letting the kernel pick a port means walking the ports TIME_WAIT holds (the
// cost grows with each closed connection, bench/README.md "Short connections"); the caller's
// port is already unique for that tuple. A port still held here (the caller reused it before
// TIME_WAIT ended) falls back to a kernel-chosen one.
import type net from 'node:net';
import { connectInNetns, type ConnectInNetnsOptions } from '#ztunnel/native/index.ts';

const PORT_TAKEN = new Set(['EADDRINUSE', 'EADDRNOTAVAIL']);

export async function connectAsCaller(netnsPath: string, opts: ConnectInNetnsOptions & { callerPort?: number | undefined }): Promise<net.Socket> {
  const { callerPort, ...rest } = opts;
  if (callerPort === undefined || callerPort <= 0) return connectInNetns(netnsPath, rest);
  try {
    return await connectInNetns(netnsPath, { ...rest, localPort: callerPort });
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    if (!PORT_TAKEN.has(code)) throw err;
    return connectInNetns(netnsPath, rest);
  }
}
