// Copies bytes both ways between a CONNECT stream and the upstream socket, with half-close
// carried across in each direction (end of one side's reads ends the other side's writes),
// and an error on either side tearing down both. A tunnel that breaks resets the upstream,
// so the application sees a failure rather than a clean end of a truncated request.
import type { Duplex } from 'node:stream';
import { forwardBatched } from '#core/hbone/forward-batched.ts';
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
function forward(src: Duplex, dst: Duplex, count: (n: number) => void): void {
  const resume = (): void => {
    src.resume();
  };
  src.on('data', (c: Buffer) => {
    count(c.length);
    if (!dst.write(c)) {
      src.pause();
      dst.once('drain', resume);
    }
  });
  src.once('end', () => dst.end());
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
    if (strategy === 'batched') {
      forwardBatched(tunnel, upstream, (n) => { result.toUpstream += n; });
      forward(upstream, tunnel, (n) => { result.toTunnel += n; });
    } else if (strategy === 'manual') {
      forward(tunnel, upstream, (n) => { result.toUpstream += n; });
      forward(upstream, tunnel, (n) => { result.toTunnel += n; });
    } else {
      tunnel.on('data', (c: Buffer) => { result.toUpstream += c.length; });
      upstream.on('data', (c: Buffer) => { result.toTunnel += c.length; });
      tunnel.pipe(upstream);
      upstream.pipe(tunnel);
    }
    tunnel.once('close', closed);
    upstream.once('close', closed);
    upstream.once('error', (err: Error) => {
      result.error ??= err;
      result.broken ??= 'upstream';
      onUpstreamError(err);
    });
    tunnel.once('error', (err: Error) => {
      result.error ??= err;
      result.broken ??= 'tunnel';
      abort(upstream);
    });
    // A stream closed without both halves ended (RST, session gone) takes the upstream with it.
    tunnel.once('close', () => {
      if (!upstream.destroyed && !(upstream.writableEnded && upstream.readableEnded)) {
        result.broken ??= 'tunnel';
        abort(upstream);
      }
    });
    upstream.once('close', () => {
      if (!tunnel.destroyed && !(tunnel.writableEnded && tunnel.readableEnded)) {
        result.broken ??= 'upstream';
        onUpstreamError(new Error('upstream closed'));
      }
    });
  });
}
