// Structured JSON logging: one line per event, child loggers carry ids (connection, request).
// A level below the threshold costs one comparison.

export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, off: 100 } as const;
export type LogLevelName = keyof typeof LogLevel;

export type LogFields = Record<string, unknown>;

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

export class Logger {
  readonly #fields: LogFields;
  readonly #sink: LogSink;
  #level: number;

  constructor(options: { level?: LogLevelName; fields?: LogFields; sink?: LogSink } = {}) {
    this.#fields = options.fields ?? {};
    this.#sink = options.sink ?? stderrSink;
    this.#level = LogLevel[options.level ?? levelFromEnv()];
  }

  child(fields: LogFields): Logger {
    const child = new Logger({ fields: { ...this.#fields, ...fields }, sink: this.#sink });
    child.#level = this.#level;
    return child;
  }

  setLevel(level: LogLevelName): void {
    this.#level = LogLevel[level];
  }

  enabled(level: LogLevelName): boolean {
    return LogLevel[level] >= this.#level;
  }

  debug(msg: string, fields?: LogFields): void { this.#log('debug', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.#log('info', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.#log('warn', msg, fields); }
  error(msg: string, fields?: LogFields): void { this.#log('error', msg, fields); }

  #log(level: LogLevelName, msg: string, fields: LogFields | undefined): void {
    if (LogLevel[level] < this.#level) return;
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
export const silentLogger = new Logger({ level: 'off' });
