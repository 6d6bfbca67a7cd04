// Ending a connection abruptly, so the far side sees a failure and never a clean end: a
// truncated transfer must not pass for a complete one.
import net from 'node:net';
import type { Duplex } from 'node:stream';

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
