// A request body that can be sent again. Each attempt reads it through its own reader: what
// earlier attempts already took, then the rest as it arrives, so the first attempt streams
// (a gRPC client stream or a bidirectional call is never held back until it ends) while a
// copy is kept for a retry. The copy is bounded: past `limit` bytes it is dropped and the
// body is no longer replayable, so that request gets no retry (Envoy's retry buffer does
// the same). A mirror takes the whole body once it is in (`whole`), without holding back
// the attempt that streams it.
import { Readable } from 'node:stream';

export class ReplayBody {
  readonly #source: Readable;
  readonly #limit: number;
  /** Everything read so far; undefined once that outgrew the limit. */
  #kept: Buffer[] | undefined = [];
  #size = 0;
  #ended = false;
  #error: Error | undefined;
  #current: Readable | undefined;
  /** Whether the current reader has taken the kept part and now gets data as it comes. */
  #live = false;
  /** Mirrors waiting for the whole body. */
  readonly #whole: ((body: Buffer | undefined) => void)[] = [];

  constructor(source: Readable, limit: number) {
    this.#source = source;
    this.#limit = limit;
    source.pause();
    source.on('data', (c: Buffer) => {
      if (this.#kept !== undefined) {
        this.#size += c.length;
        if (this.#size > this.#limit) this.#drop();
        else this.#kept.push(c);
      }
      // With no live reader (between attempts, or after the last) nothing takes it: pause.
      if (this.#current === undefined || !this.#live || !this.#current.push(c)) source.pause();
    });
    source.once('end', () => {
      this.#ended = true;
      this.#current?.push(null);
      const whole = this.#kept === undefined ? undefined : Buffer.concat(this.#kept);
      for (const w of this.#whole.splice(0)) w(whole);
    });
    source.once('error', (err) => {
      this.#error = err;
      this.#current?.destroy(err);
      this.#drop();
    });
  }

  /**
   * The whole body once the client sent it, as it is read for the attempts; undefined when it
   * outgrew the limit, broke off, or the exchange ended first.
   */
  whole(): Promise<Buffer | undefined> {
    if (this.#kept === undefined || this.#error !== undefined) return Promise.resolve(undefined);
    if (this.#ended) return Promise.resolve(Buffer.concat(this.#kept));
    return new Promise((resolve) => this.#whole.push(resolve));
  }

  #drop(): void {
    this.#kept = undefined;
    for (const w of this.#whole.splice(0)) w(undefined);
  }

  /** Whether a new reader can still give the whole body. */
  get replayable(): boolean {
    return this.#kept !== undefined && this.#error === undefined;
  }

  /** A reader for one attempt; the previous reader stops getting data. */
  reader(): Readable {
    this.#source.pause();
    const reader: Readable = new Readable({
      read: () => {
        if (this.#current !== reader) return;
        if (!this.#live) {
          this.#live = true;
          for (const c of this.#kept ?? []) reader.push(c);
          if (this.#ended) {
            reader.push(null);
            return;
          }
        }
        if (!this.#ended) this.#source.resume();
      },
      destroy: (err, callback) => {
        if (this.#current === reader) {
          this.#current = undefined;
          this.#source.pause();
        }
        callback(err);
      },
    });
    this.#current = reader;
    this.#live = false;
    if (this.#error !== undefined) reader.destroy(this.#error);
    return reader;
  }

  /** The exchange is over: whatever the client still sends is read and dropped, and no copy is kept. */
  release(): void {
    this.#current?.destroy();
    this.#current = undefined;
    this.#drop();
    if (!this.#ended && !this.#source.destroyed) {
      this.#source.on('data', () => undefined);
      this.#source.resume();
    }
  }
}
