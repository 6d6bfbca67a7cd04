// Copies bytes both ways between a CONNECT stream and the upstream socket, with half-close
// carried across in each direction (a clean end of one side's reads ends the other side's
// writes), and an error on either side tearing down both. A tunnel that breaks (RST_STREAM,
// its session closing or erroring, any end without END_STREAM) resets the upstream, so the
// application sees a failure rather than a clean end of a truncated transfer; an upstream
// that breaks resets the tunnel (RST_STREAM, never END_STREAM) before onUpstreamError runs.
import type { Duplex } from 'node:stream';
import { forwardBatched, onReadEnd } from '#core/hbone/forward-batched.ts';
import { abort } from '#core/net/abort.ts';

export interface RelayResult {
  /** Bytes from the tunnel to the upstream. */
  toUpstream: number;
  /** Bytes from the upstream back into the tunnel. */
  toTunnel: number;
  error?: Error;
  /** The side that broke first (errored, or closed before both its halves were done). */
  broken?: 'tunnel' | 'upstream';
}

/** `batched`: tunnel → upstream gathers a loop turn's DATA frames into one write. */
export type RelayStrategy = 'pipe' | 'manual' | 'batched';

/** Moves bytes one way with backpressure: a full destination pauses the source until 'drain'. */
function forward(src: Duplex, dst: Duplex, count: (n: number) => void, onBreak: () => void): void {
  const resume = (): void => {
    src.resume();
  };
  src.on('data', (c: Buffer) => {
    count(c.length);
    if (dst.destroyed) return;
    if (!dst.write(c)) {
      src.pause();
      dst.once('drain', resume);
    }
  });
  onReadEnd(src, (clean) => {
    if (clean) dst.end();
    else onBreak();
  });
}

/** pipe() with the end of the source judged here: a broken source must not end the destination. */
function pipeOneWay(src: Duplex, dst: Duplex, count: (n: number) => void, onBreak: () => void): void {
  src.on('data', (c: Buffer) => { count(c.length); });
  src.pipe(dst, { end: false });
  onReadEnd(src, (clean) => {
    if (clean) dst.end();
    else onBreak();
  });
}

export function relay(tunnel: Duplex, upstream: Duplex, onUpstreamError: (err: Error) => void, strategy: RelayStrategy = 'pipe'): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { toUpstream: 0, toTunnel: 0 };
    let pending = 2;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const closed = (): void => {
      if (--pending === 0) finish();
    };
    const tunnelBroke = (): void => {
      result.broken ??= 'tunnel';
      abort(upstream);
    };
    // The tunnel is reset here, before the caller hears of it: Node's stream.close(code) on a
    // stream with nothing queued sends END_STREAM ahead of the RST_STREAM, which the peer
    // would pass on as a clean end; destroy(err) sends the RST alone.
    const upstreamFailed = (err: Error): void => {
      abort(tunnel);
      onUpstreamError(err);
    };
    const upstreamBroke = (): void => {
      result.broken ??= 'upstream';
      upstreamFailed(new Error('upstream closed'));
    };
    const toUpstream = (n: number): void => { result.toUpstream += n; };
    const toTunnel = (n: number): void => { result.toTunnel += n; };
    if (strategy === 'batched') {
      forwardBatched(tunnel, upstream, toUpstream, { onBreak: tunnelBroke });
      forward(upstream, tunnel, toTunnel, upstreamBroke);
    } else if (strategy === 'manual') {
      forward(tunnel, upstream, toUpstream, tunnelBroke);
      forward(upstream, tunnel, toTunnel, upstreamBroke);
    } else {
      pipeOneWay(tunnel, upstream, toUpstream, tunnelBroke);
      pipeOneWay(upstream, tunnel, toTunnel, upstreamBroke);
    }
    tunnel.once('close', closed);
    upstream.once('close', closed);
    upstream.once('error', (err: Error) => {
      result.error ??= err;
      result.broken ??= 'upstream';
      upstreamFailed(err);
    });
    tunnel.once('error', (err: Error) => {
      result.error ??= err;
      result.broken ??= 'tunnel';
      abort(upstream);
    });
    // A stream closed without both halves ended (RST, session gone) takes the upstream with it.
    tunnel.once('close', () => {
      if (!upstream.destroyed && !(upstream.writableEnded && upstream.readableEnded)) tunnelBroke();
    });
    upstream.once('close', () => {
      if (!tunnel.destroyed && !(tunnel.writableEnded && tunnel.readableEnded)) upstreamBroke();
    });
  });
}
