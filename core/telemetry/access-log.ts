// Access log: one JSON line per finished connection or request. Lines are queued and written in
// batches from a timer, so a connection's close path only pushes onto an array.
import type { Writable } from 'node:stream';

export interface AccessLogEntry {
  direction: 'inbound' | 'outbound';
  src: { addr: string; identity?: string | undefined; workload?: string | undefined };
  dst: { addr: string; identity?: string | undefined; workload?: string | undefined; service?: string | undefined };
  /** Bytes from the source to the destination, and back. */
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  responseFlags: string;
  error?: string | undefined;
}

export interface AccessLogSink {
  write(chunk: string): unknown;
}

/** Lines are any JSON object; ztunnel writes AccessLogEntry, the waypoint one line per request. */
export class AccessLog<E extends object = AccessLogEntry> {
  readonly #sink: AccessLogSink | Writable;
  readonly #queue: string[] = [];
  readonly #maxQueue: number;
  #timer: NodeJS.Timeout | undefined;
  #dropped = 0;

  constructor(opts: { sink: AccessLogSink | Writable; flushMs?: number; maxQueue?: number }) {
    this.#sink = opts.sink;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#timer = setInterval(() => this.flush(), opts.flushMs ?? 1000);
    this.#timer.unref();
  }

  /** Lines lost because the queue was full. */
  get dropped(): number { return this.#dropped; }

  log(entry: E): void {
    if (this.#queue.length >= this.#maxQueue) {
      this.#dropped += 1;
      return;
    }
    this.#queue.push(JSON.stringify({ time: new Date().toISOString(), ...entry }));
  }

  flush(): void {
    if (this.#queue.length === 0) return;
    const text = this.#queue.join('\n') + '\n';
    this.#queue.length = 0;
    this.#sink.write(text);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
