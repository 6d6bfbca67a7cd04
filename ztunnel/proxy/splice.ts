// Copies bytes both ways between two connected streams, counting them, carrying half-close
// across (one side's end of reads ends the other side's writes), and tearing both down when
// either errors or is destroyed mid-way.
import type { Duplex } from 'node:stream';
import { forwardBatched } from '#core/hbone/forward-batched.ts';

export interface SpliceResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  bToA: number;
  error?: Error;
}

export function splice(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const result: SpliceResult = { aToB: 0, bToA: 0 };
    let open = 2;
    const onError = (err: Error): void => {
      result.error ??= err;
      a.destroy();
      b.destroy();
    };
    const onClose = (other: Duplex, self: Duplex) => (): void => {
      // Closed without both halves done: a reset, which the other side must see too.
      if (!(self.readableEnded && self.writableFinished)) other.destroy();
      if (--open === 0) resolve(result);
    };
    a.on('error', onError);
    b.on('error', onError);
    a.once('close', onClose(b, a));
    b.once('close', onClose(a, b));
    // Not pipe(): each way gathers a loop turn's chunks into one write (see forward-batched.ts).
    forwardBatched(a, b, (n) => { result.aToB += n; });
    forwardBatched(b, a, (n) => { result.bToA += n; });
  });
}
