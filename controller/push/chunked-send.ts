// Sends one (possibly very large) message, text or binary, as WebSocket fragments, a few at a time: the
// next fragment is written only when an earlier one has left for the kernel. A full snapshot
// then occupies at most `window × chunkBytes` of socket buffers per client instead of the
// whole TLS-encrypted message, so memory stays bounded when many clients take a snapshot at
// once, and a slow reader holds back only its own stream.
import { WebSocket } from 'ws';

export interface ChunkedSendOptions {
  /** Largest fragment; messages up to this size go out as one frame. */
  chunkBytes: number;
  /** Fragments written but not yet flushed, at most. */
  window: number;
}

export const DEFAULT_CHUNKED_SEND: ChunkedSendOptions = { chunkBytes: 256 * 1024, window: 2 };

/** The [start, end) byte ranges a message of `length` bytes is sent in. */
export function fragmentRanges(length: number, chunkBytes: number): [number, number][] {
  if (!(chunkBytes > 0)) throw new RangeError('chunkBytes must be positive');
  const out: [number, number][] = [];
  for (let start = 0; start < length; start += chunkBytes) out.push([start, Math.min(length, start + chunkBytes)]);
  if (out.length === 0) out.push([0, 0]);
  return out;
}

/**
 * Sends `message` as one text message (a binary one with `binary`); `done` is called once, when the last fragment is
 * flushed or a write failed. Nothing else may be sent on `ws` (except control frames) until
 * then: fragments of two messages must not interleave.
 */
export function sendChunked(ws: WebSocket, message: Buffer, opts: ChunkedSendOptions, done: (err?: Error) => void, binary = false): void {
  const ranges = fragmentRanges(message.length, opts.chunkBytes);
  let next = 0;
  let unflushed = 0;
  let finished = false;
  const finish = (err?: Error): void => {
    if (finished) return;
    finished = true;
    done(err);
  };
  const pump = (): void => {
    while (!finished && unflushed < opts.window && next < ranges.length) {
      if (ws.readyState !== WebSocket.OPEN) {
        finish(new Error('connection closed during a push'));
        return;
      }
      const range = ranges[next++];
      if (range === undefined) break;
      const fin = next === ranges.length;
      unflushed++;
      ws.send(message.subarray(range[0], range[1]), { binary, fin }, (err) => {
        unflushed--;
        if (err !== undefined && err !== null) finish(err);
        else if (next === ranges.length && unflushed === 0) finish();
        else pump();
      });
    }
  };
  pump();
}
