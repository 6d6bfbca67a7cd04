// Copies bytes both ways between two connected streams, counting them, carrying half-close
// across (one side's end of reads ends the other side's writes), and tearing both down when
// either errors or is destroyed mid-way. A side torn down because the other broke is reset
// (RST), not closed: a FIN would let a truncated transfer pass for a complete one.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { forwardBatched } from '#core/hbone/forward-batched.ts';

export interface SpliceResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  bToA: number;
  error?: Error;
  /** The side that broke first: errored, or closed before both its halves were done. */
  broken?: 'a' | 'b';
}

/**
 * Ends a stream abruptly: a TCP socket with RST, anything else by destroy() with an error.
 * For an HTTP/2 stream the error matters: a bare destroy() sends RST_STREAM NO_ERROR and
 * close(CANCEL) sends END_STREAM first, both of which the peer reads as a clean end of the
 * request; destroy(err) resets the stream (INTERNAL_ERROR) with no END_STREAM before it.
 */
export function abort(d: Duplex): void {
  if (d.destroyed) return;
  if (isHttp2Stream(d)) {
    d.destroy(new Error('the other side of the connection broke'));
    return;
  }
  // Once end() was called a shutdown may be under way, and libuv refuses to reset such a
  // socket (the handle would then never close): a plain destroy is all that is left.
  if (d instanceof net.Socket && !d.pending && !d.writableEnded) {
    try {
      d.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle: fall through to a plain destroy.
    }
  }
  d.destroy();
}

function isHttp2Stream(d: Duplex): boolean {
  return 'rstCode' in d;
}

export function splice(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const result: SpliceResult = { aToB: 0, bToA: 0 };
    let open = 2;
    const onError = (side: 'a' | 'b') => (err: Error): void => {
      result.error ??= err;
      result.broken ??= side;
      abort(a);
      abort(b);
    };
    const onClose = (side: 'a' | 'b', other: Duplex, self: Duplex) => (): void => {
      // Closed without both halves done: a reset, which the other side must see too.
      if (!(self.readableEnded && self.writableFinished)) {
        result.broken ??= side;
        abort(other);
      }
      if (--open === 0) resolve(result);
    };
    a.on('error', onError('a'));
    b.on('error', onError('b'));
    a.once('close', onClose('a', b, a));
    b.once('close', onClose('b', a, b));
    // Not pipe(): each way gathers a loop turn's chunks into one write (see forward-batched.ts).
    forwardBatched(a, b, (n) => { result.aToB += n; });
    forwardBatched(b, a, (n) => { result.bToA += n; });
  });
}
