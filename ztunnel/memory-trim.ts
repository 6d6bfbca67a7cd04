// Memory back after traffic. glibc keeps mapped the heap a burst of connections grew and then
// freed (after `iperf3 -P 8` through a ztunnel, 30–70 MiB that no object holds) until
// malloc_trim is called; nothing else in Node calls it. Every interval the trimmer looks at a
// count of connection events (opened + closed): when it has not moved since the last look, but
// has since the last trim, it trims once. So one call per quiet spell after activity, off the
// data path, and none while the node sits idle. A long transfer opens and closes nothing, so it
// may get one trim mid-way; its end is activity, and the quiet after it gets another.
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';

export interface MemoryTrimOptions {
  /** A count that moves with connection activity (monotonic). */
  activity: () => Promise<number>;
  /** Returns freed memory to the kernel; true when some was. */
  trim: () => boolean;
  intervalMs?: number;
  logger?: Logger;
}

export class MemoryTrim {
  readonly #o: MemoryTrimOptions;
  #timer: NodeJS.Timeout | undefined;
  #lastSeen: number | undefined;
  #lastTrimmed: number | undefined;
  #trims = 0;

  constructor(o: MemoryTrimOptions) {
    this.#o = o;
  }

  /** Looks every intervalMs (5 s by default); the timer keeps no process alive. */
  start(): this {
    this.#timer = setInterval(() => void this.check(), this.#o.intervalMs ?? 5_000);
    this.#timer.unref();
    return this;
  }

  /** One look; resolves with whether it trimmed. */
  async check(): Promise<boolean> {
    let now: number;
    try {
      now = await this.#o.activity();
    } catch {
      return false;
    }
    const quiet = now === this.#lastSeen;
    this.#lastSeen = now;
    if (!quiet || now === this.#lastTrimmed) return false;
    this.#lastTrimmed = now;
    const started = performance.now();
    let released: boolean;
    try {
      released = this.#o.trim();
    } catch (err) {
      // Without the call (an addon that cannot load) memory only stays higher: stop looking.
      this.#o.logger?.warn('cannot trim the heap; not trying again', { err: errorMessage(err) });
      this.close();
      return false;
    }
    this.#trims++;
    this.#o.logger?.debug('heap trimmed after activity', { released, ms: Math.round((performance.now() - started) * 10) / 10 });
    return true;
  }

  get trims(): number {
    return this.#trims;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
