// Copies bytes both ways between two connected streams, counting them, carrying half-close
// across (one side's end of reads ends the other side's writes), and tearing both down when
// either errors or is destroyed mid-way.
import type { Duplex } from 'node:stream';

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
    a.on('data', (c: Buffer) => { result.aToB += c.length; });
    b.on('data', (c: Buffer) => { result.bToA += c.length; });
    a.on('error', onError);
    b.on('error', onError);
    a.once('close', onClose(b, a));
    b.once('close', onClose(a, b));
    a.pipe(b);
    b.pipe(a);
  });
}
