// Runs a command to completion (argv only, never a shell) and collects its output; the one
// place the embedded cluster starts short-lived programs such as ip and iptables-restore.
import { spawn } from 'node:child_process';
import { WeftError } from '#core/errors.ts';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Extra environment variables, on top of the caller's environment. */
  readonly env?: Record<string, string>;
  /** Written to stdin, then stdin is closed. */
  readonly input?: string | Buffer;
  /** Killed (SIGKILL) after this long; the result then has code 124 (like timeout(1)). */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export function runCommand(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => { /* the program may exit before reading its input */ });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new WeftError('WEFT_ERR_LOCAL_EXEC', `cannot run ${file}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: timedOut ? 124 : code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(opts.input);
  });
}

/** Like runCommand, but a non-zero exit is an error that carries what the program said. */
export async function runChecked(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const res = await runCommand(file, args, opts);
  if (res.code !== 0) {
    const said = res.stderr.trim() || res.stdout.trim();
    throw new WeftError('WEFT_ERR_LOCAL_EXEC', `${file} ${args.slice(0, 6).join(' ')} failed (exit ${res.code}): ${said}`);
  }
  return res.stdout;
}
