// The app-side socket of an inbound HBONE tunnel, watched for how it ends. The HBONE relay
// tears it down with a bare destroy() when the tunnel is aborted (client reset, session
// gone); here that becomes a reset, so the app sees the connection fail instead of a clean
// end, and the side that broke first is kept for the close flag.
import type net from 'node:net';
import { abort } from '#ztunnel/proxy/splice.ts';
import type { BrokenSide } from '#ztunnel/telemetry/close-flag.ts';

export interface UpstreamWatch {
  readonly broken: BrokenSide;
}

export function watchUpstream(s: net.Socket): UpstreamWatch {
  const watch: { broken: BrokenSide } = { broken: undefined };
  s.once('error', () => { watch.broken ??= 'upstream'; });
  const destroy = s.destroy.bind(s);
  s.destroy = (err?: Error): net.Socket => {
    s.destroy = destroy;
    if (err !== undefined || s.destroyed || (s.readableEnded && s.writableFinished)) return destroy(err);
    watch.broken ??= 'downstream';
    // abort() ends in destroy(), the original one again by now.
    abort(s);
    return s;
  };
  return watch;
}
