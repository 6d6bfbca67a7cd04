// The one error base of weft: a stable code (reused as metric and access-log label) plus an
// operator hint that says what to check.

export class WeftError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: `WEFT_ERR_${string}`, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint === undefined ? message : `${message} (hint: ${options.hint})`, { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.hint = options.hint;
  }
}

export function isWeftError(err: unknown, code?: string): err is WeftError {
  return err instanceof WeftError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for logs and NACK reasons. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
