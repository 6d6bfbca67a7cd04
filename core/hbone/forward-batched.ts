// Moves bytes one way, gathering every chunk that arrives in one turn of the event loop into
// one vectored write. An HTTP/2 stream delivers a tunnel's bytes one DATA frame (16 KiB) at a
// time; written one by one, each costs a syscall and a small packet through the kernel's
// network path. Corking until the loop's check phase turns them into one writev. Towards an
// HTTP/2 stream, the larger queue budget (than pipe's pause at the high-water mark) lets a
// socket be read several times per loop turn, so the session frames and encrypts bigger batches.
//
// Only a clean end of the source (a TCP FIN, an HTTP/2 END_STREAM) is passed on as an end of
// the destination. A source that stops any other way broke, and the destination is reset:
// a FIN there would pass a truncated transfer off as a complete one (see onReadEnd).
import type { Duplex } from 'node:stream';
import { abort } from '#core/net/abort.ts';

/** Bytes queued on the destination above which the source is paused until 'drain'. */
export const BATCH_QUEUE_LIMIT = 256 * 1024;

export interface ForwardOptions {
  /** Bytes queued on the destination above which the source is paused (BATCH_QUEUE_LIMIT). */
  queueLimit?: number;
  /** The source broke (see onReadEnd); absent, the destination is reset. */
  onBreak?: () => void;
}

/**
 * Tells, once, how the reading side of `src` finished: `clean` for an end of stream the peer
 * sent, false when it broke. An HTTP/2 stream that is reset (RST_STREAM), or whose session
 * closes or errors under it, emits 'aborted' when its writing side was still open; either way
 * Node then ends its reading side too, so an 'end' follows that looks like END_STREAM. What
 * tells them apart is that the broken stream is already destroyed when that 'end' is emitted,
 * whereas after a real END_STREAM it is destroyed only by an 'end' listener of Node's own,
 * which this one is put in front of. Errors are not reported here (the caller's 'error'
 * handler has them, and no 'end' follows an error).
 * A peer's RST_STREAM(NO_ERROR) after this side finished writing reads as clean: HTTP/2
 * allows it there ("stop sending"), and Node reports it exactly like END_STREAM.
 */
export function onReadEnd(src: Duplex, handler: (clean: boolean) => void): void {
  let done = false;
  const settle = (clean: boolean): void => {
    if (done) return;
    done = true;
    src.off('aborted', onAborted);
    handler(clean);
  };
  const onAborted = (): void => settle(false);
  src.once('aborted', onAborted);
  src.prependOnceListener('end', () => settle(!src.destroyed && Reflect.get(src, 'aborted') !== true));
}

export function forwardBatched(src: Duplex, dst: Duplex, count: (n: number) => void, options: number | ForwardOptions = {}): void {
  const opts: ForwardOptions = typeof options === 'number' ? { queueLimit: options } : options;
  const queueLimit = opts.queueLimit ?? BATCH_QUEUE_LIMIT;
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
  onReadEnd(src, (clean) => {
    // end() uncorks and flushes what is still gathered before the FIN.
    if (clean) dst.end();
    else if (opts.onBreak !== undefined) opts.onBreak();
    else abort(dst);
  });
}
