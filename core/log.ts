// Structured JSON logging: one line per event, child loggers carry ids (connection, request).
// A logger and its children share one level, so a change at run time (the admin `/logging`
// endpoint) reaches loggers made long before it. A level below the threshold costs one comparison.

export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, off: 100 } as const;
export type LogLevelName = keyof typeof LogLevel;

export type LogFields = Record<string, unknown>;

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

/**
 * The level a logger and all its children share: changing it on any of them (the admin
 * `/logging` endpoint changes the root's) reaches every logger made from the same root.
 */
interface LevelCell {
  value: number;
  /** A fixed level ignores setLevel (the shared silent logger must stay silent). */
  readonly fixed: boolean;
}

export class Logger {
  readonly #fields: LogFields;
  readonly #sink: LogSink;
  #level: LevelCell;

  constructor(options: { level?: LogLevelName; fields?: LogFields; sink?: LogSink; fixed?: boolean } = {}) {
    this.#fields = options.fields ?? {};
    this.#sink = options.sink ?? stderrSink;
    this.#level = { value: LogLevel[options.level ?? levelFromEnv()], fixed: options.fixed ?? false };
  }

  /** A logger with more fields that shares this one's sink and level, now and after any setLevel. */
  child(fields: LogFields): Logger {
    const child = new Logger({ fields: { ...this.#fields, ...fields }, sink: this.#sink });
    child.#level = this.#level;
    return child;
  }

  /** Sets the level of this logger's whole family (its root, the root's children, theirs). */
  setLevel(level: LogLevelName): void {
    if (!this.#level.fixed) this.#level.value = LogLevel[level];
  }

  get level(): LogLevelName {
    const v = this.#level.value;
    return (Object.keys(LogLevel) as LogLevelName[]).find((k) => LogLevel[k] === v) ?? 'info';
  }

  enabled(level: LogLevelName): boolean {
    return LogLevel[level] >= this.#level.value;
  }

  debug(msg: string, fields?: LogFields): void { this.#log('debug', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.#log('info', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.#log('warn', msg, fields); }
  error(msg: string, fields?: LogFields): void { this.#log('error', msg, fields); }

  #log(level: LogLevelName, msg: string, fields: LogFields | undefined): void {
    if (LogLevel[level] < this.#level.value) return;
    const record = { time: new Date().toISOString(), level, msg, ...this.#fields, ...fields };
    this.#sink.write(JSON.stringify(record, replacer) + '\n');
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function levelFromEnv(): LogLevelName {
  const v = process.env['WEFT_LOG_LEVEL'];
  return v !== undefined && v in LogLevel ? (v as LogLevelName) : 'info';
}

/** A logger that drops everything; for tests and benchmarks. */
export const silentLogger = new Logger({ level: 'off', fixed: true });
