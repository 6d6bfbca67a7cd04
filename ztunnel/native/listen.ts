// A net.Server listening inside a network namespace (a pod's 15001/15006/15008 listeners).
import net from 'node:net';
import { nativeBinding } from './addon.ts';

export interface ListenInNetnsOptions {
  address: string;
  port: number;
  backlog?: number;
  mark?: number;
  transparent?: boolean;
  reusePort?: boolean;
  /** Passed to net.createServer (pauseOnConnect, noDelay, ...). */
  server?: net.ServerOpts;
}

/** Opens the listening socket inside netnsPath (null: this namespace) and serves it from Node. */
export async function listenInNetns(netnsPath: string | null, opts: ListenInNetnsOptions): Promise<net.Server> {
  const fd = nativeBinding().openSocketInNetns(netnsPath, {
    listen: { address: opts.address, port: opts.port, ...(opts.backlog === undefined ? {} : { backlog: opts.backlog }) },
    reuseAddr: true,
    ...(opts.mark === undefined ? {} : { mark: opts.mark }),
    ...(opts.transparent === undefined ? {} : { transparent: opts.transparent }),
    ...(opts.reusePort === undefined ? {} : { reusePort: opts.reusePort }),
  });
  const server = net.createServer(opts.server ?? {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Node adopts the fd: it owns and closes it from here on.
    server.listen({ fd, ...(opts.backlog === undefined ? {} : { backlog: opts.backlog }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
