// Copies bytes both ways between two connected streams, counting them, carrying half-close
// across (one side's clean end of reads ends the other side's writes), and tearing both down
// when either errors, is destroyed mid-way, or ends without a clean end of stream (an HBONE
// stream reset, or whose session closed under it). A side torn down because the other broke
// is reset (RST), not closed: a FIN would let a truncated transfer pass for a complete one.
import type { Duplex } from 'node:stream';
import { forwardBatched } from '#core/hbone/forward-batched.ts';
import { abort } from '#core/net/abort.ts';

export interface SpliceResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  bToA: number;
  error?: Error;
  /** The side that broke first: errored, or closed before both its halves were done. */
  broken?: 'a' | 'b';
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
    // A side whose reads ended without a clean end is already closed: only the other is reset.
    const broke = (side: 'a' | 'b', self: Duplex, other: Duplex): void => {
      result.broken ??= side;
      abort(other);
      self.destroy();
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
    forwardBatched(a, b, (n) => { result.aToB += n; }, { onBreak: () => broke('a', a, b) });
    forwardBatched(b, a, (n) => { result.bToA += n; }, { onBreak: () => broke('b', b, a) });
  });
}
