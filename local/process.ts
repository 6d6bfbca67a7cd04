// A long-running program started inside a netns of the embedded cluster: output captured,
// its own process group so stop() takes its children too.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WeftError } from '#core/errors.ts';

export interface SpawnOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Keep at most this many bytes of each of stdout and stderr (the newest); default 1 MiB. */
  readonly maxCapture?: number;
  /** Also copy the program's output to this process's stderr, prefixed; for debugging. */
  readonly echo?: boolean;
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class LocalProcess {
  readonly pid: number;
  readonly label: string;
  /** Settles when the program has exited and its output is flushed; never rejects. */
  readonly exited: Promise<ProcessExit>;
  readonly #child: ChildProcess;
  readonly #max: number;
  #stdout = '';
  #stderr = '';
  #exit: ProcessExit | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(file: string, args: readonly string[], label: string, opts: SpawnOptions = {}) {
    this.label = label;
    this.#max = opts.maxCapture ?? 1 << 20;
    this.#child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    const spawnError = new Promise<ProcessExit>((resolve) => {
      this.#child.once('error', (e) => {
        this.#stderr += `spawn failed: ${e.message}\n`;
        resolve({ code: 127, signal: null });
      });
    });
    if (this.#child.pid === undefined) {
      // spawn reports a missing program asynchronously; pid is then undefined.
      this.pid = -1;
    } else {
      this.pid = this.#child.pid;
    }
    this.#child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      this.#stdout = trimTo(this.#stdout + s, this.#max);
      if (opts.echo === true) process.stderr.write(prefixLines(label, s));
      this.#notify();
    });
    this.#child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.#stderr = trimTo(this.#stderr + s, this.#max);
      if (opts.echo === true) process.stderr.write(prefixLines(label, s));
      this.#notify();
    });
    const closed = once(this.#child, 'close').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    this.exited = Promise.race([closed, spawnError]).then((exit) => {
      this.#exit = exit;
      this.#notify();
      return exit;
    });
  }

  get stdout(): string { return this.#stdout; }
  get stderr(): string { return this.#stderr; }
  /** Undefined while the program runs. */
  get exitStatus(): ProcessExit | undefined { return this.#exit; }

  /**
   * Resolves with the first stdout line that matches; rejects if the program exits first or
   * the time runs out, with its output in the message.
   */
  async waitForLine(match: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const test = (line: string): boolean => typeof match === 'string' ? line === match : match.test(line);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.#stdout.split('\n').slice(0, -1).find(test) ??
        (this.#exit !== undefined ? this.#stdout.split('\n').find(test) : undefined);
      if (line !== undefined) return line;
      if (this.#exit !== undefined) {
        throw new WeftError('WEFT_ERR_LOCAL_PROCESS_EXITED', `${this.label} exited (${describe(this.#exit)}) before printing ${String(match)}; stderr: ${this.#stderr.trim().slice(-2000)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new WeftError('WEFT_ERR_LOCAL_TIMEOUT', `${this.label} did not print ${String(match)} within ${timeoutMs} ms; stderr: ${this.#stderr.trim().slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiters = this.#waiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** Sends a signal to the whole process group (no-op once exited). */
  signal(sig: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exit !== undefined || this.pid <= 0) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      // the group is already gone
    }
  }

  /** SIGTERM to the process group, SIGKILL after graceMs; resolves once it has exited. Idempotent. */
  async stop(graceMs = 1000): Promise<ProcessExit> {
    if (this.#exit !== undefined) {
      this.signal('SIGKILL'); // children that outlived the leader
      return this.#exit;
    }
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    this.#killGroupNow();
    return exit;
  }

  /** Synchronous SIGKILL of the group, for exit handlers. */
  killSync(): void {
    this.#killGroupNow();
  }

  #killGroupNow(): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

function trimTo(s: string, max: number): string {
  return s.length > max ? s.slice(s.length - max) : s;
}

function prefixLines(label: string, s: string): string {
  return s.split('\n').filter((l) => l !== '').map((l) => `[${label}] ${l}\n`).join('');
}

function describe(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
}
