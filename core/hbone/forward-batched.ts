// Moves bytes one way, gathering every chunk that arrives in one turn of the event loop into
// one vectored write. An HTTP/2 stream delivers a tunnel's bytes one DATA frame (16 KiB) at a
// time; written one by one, each costs a syscall and a small packet through the kernel's
// network path. Corking until the loop's check phase turns them into one writev. Towards an
// HTTP/2 stream, the larger queue budget (than pipe's pause at the high-water mark) lets a
// socket be read several times per loop turn, so the session frames and encrypts bigger batches.
import type { Duplex } from 'node:stream';

/** Bytes queued on the destination above which the source is paused until 'drain'. */
export const BATCH_QUEUE_LIMIT = 256 * 1024;

export function forwardBatched(src: Duplex, dst: Duplex, count: (n: number) => void, queueLimit = BATCH_QUEUE_LIMIT): void {
  let corked = false;
  const flush = (): void => {
    corked = false;
    if (!dst.destroyed) dst.uncork();
  };
  const resume = (): void => {
    src.resume();
  };
  src.on('data', (c: Buffer) => {
    count(c.length);
    // A destination gone mid-way is the caller's to tear down; the bytes have nowhere to go.
    if (dst.destroyed) return;
    if (!corked) {
      corked = true;
      dst.cork();
      setImmediate(flush);
    }
    // write() turns false at the destination's high-water mark; pausing only past the larger
    // limit keeps whole batches together, and 'drain' still follows since a write said false.
    if (!dst.write(c) && dst.writableLength >= Math.max(queueLimit, dst.writableHighWaterMark)) {
      src.pause();
      dst.once('drain', resume);
    }
  });
  // end() uncorks and flushes what is still gathered before the FIN.
  src.once('end', () => dst.end());
}
