// A small Redis client for the global rate limit: RESP2 over one pipelined TCP connection,
// commands answered in the order sent. It never waits long: a command fails after its timeout,
// and while Redis is down it fails at once (retrying the connection at most once a second),
// so the caller can fail open without holding requests.
import net from 'node:net';

export type RedisReply = string | number | null | RedisReply[] | RedisError;

export class RedisError extends Error {
  override readonly name = 'RedisError';
}

export interface RedisClientOptions {
  host: string;
  port: number;
  /** How long a command may take before it fails (ms). */
  timeoutMs?: number;
  /** How long to wait before dialling again after a failure (ms). */
  retryMs?: number;
}

interface Pending {
  resolve: (r: RedisReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Encodes one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One reply from the start of `buf`, and the bytes it took; undefined while incomplete. */
export function decodeReply(buf: Buffer, at = 0): { reply: RedisReply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol === -1) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at] ?? 0)) {
    case '+': return { reply: line, end: next };
    case '-': return { reply: new RedisError(line), end: next };
    case ':': return { reply: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { reply: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { reply: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, end: next };
      const items: RedisReply[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = decodeReply(buf, pos);
        if (item === undefined) return undefined;
        items.push(item.reply);
        pos = item.end;
      }
      return { reply: items, end: pos };
    }
    default:
      throw new RedisError(`unexpected RESP type byte ${JSON.stringify(String.fromCharCode(buf[at] ?? 0))}`);
  }
}

export class RedisClient {
  readonly #o: Required<RedisClientOptions>;
  #socket: net.Socket | undefined;
  #connected = false;
  #retryAt = 0;
  #buf: Buffer = Buffer.alloc(0);
  readonly #pending: Pending[] = [];
  #closed = false;

  constructor(o: RedisClientOptions) {
    this.#o = { timeoutMs: 200, retryMs: 1000, ...o };
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Sends the commands together and resolves with their replies in order (an error reply is a RedisError in the list). */
  async pipeline(commands: readonly (readonly (string | number)[])[]): Promise<RedisReply[]> {
    const socket = this.#dial();
    const replies = commands.map(() => new Promise<RedisReply>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new RedisError(`no answer from redis ${this.#o.host}:${this.#o.port} within ${this.#o.timeoutMs}ms`)), this.#o.timeoutMs);
      this.#pending.push({ resolve, reject, timer });
    }));
    socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  close(): void {
    this.#closed = true;
    this.#fail(new RedisError('redis client closed'));
  }

  #dial(): net.Socket {
    if (this.#closed) throw new RedisError('redis client closed');
    if (this.#socket !== undefined) return this.#socket;
    if (Date.now() < this.#retryAt) throw new RedisError(`redis ${this.#o.host}:${this.#o.port} is unreachable; retrying shortly`);
    const socket = net.connect({ host: this.#o.host, port: this.#o.port });
    socket.setNoDelay(true);
    socket.on('connect', () => { this.#connected = true; });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(new RedisError(`redis ${this.#o.host}:${this.#o.port}: ${err.message}`)));
    socket.on('close', () => this.#fail(new RedisError(`redis ${this.#o.host}:${this.#o.port} closed the connection`)));
    this.#socket = socket;
    return socket;
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let at = 0;
    for (;;) {
      let got: ReturnType<typeof decodeReply>;
      try {
        got = decodeReply(this.#buf, at);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new RedisError(String(err)));
        return;
      }
      if (got === undefined) break;
      at = got.end;
      const p = this.#pending.shift();
      if (p === undefined) continue;
      clearTimeout(p.timer);
      p.resolve(got.reply);
    }
    this.#buf = this.#buf.subarray(at);
  }

  /** Drops the connection and fails everything waiting on it; the next command dials again after the retry delay. */
  #fail(err: Error): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#connected = false;
    this.#buf = Buffer.alloc(0);
    if (socket !== undefined) {
      this.#retryAt = Date.now() + this.#o.retryMs;
      socket.removeAllListeners('close');
      socket.on('error', () => undefined);
      socket.destroy();
    }
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
