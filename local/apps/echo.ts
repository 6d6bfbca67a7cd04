// Sample app for the embedded cluster: an HTTP echo (who called, with what) and a TCP echo in
// one process. Prints "ready" once both listen.
//   node local/apps/echo.ts [--http PORT] [--tcp PORT]
//   GET /status/<code> answers that status; GET /bytes/<n> answers n bytes;
//   /flaky/<key>/<n> answers 503 the first n times for that key (per process), then echoes
//   (with ?fail=reset it resets the connection instead of answering 503);
//   /delay/<ms> echoes after ms; /reset sends headers and part of a body, then closes the
//   connection; /reset/early resets the connection before any byte; /seen lists the requests
//   this process served (for mirror checks); anything else answers JSON {pod, remoteAddress,
//   remotePort, method, path, headers}.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

export interface EchoReply {
  pod: string;
  remoteAddress: string;
  remotePort: number;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
}

/** One request as /seen reports it. */
export interface SeenRequest {
  method: string;
  path: string;
  host: string;
}

const MAX_BYTES = 1 << 30;
const CHUNK = Buffer.alloc(64 * 1024, 'x');
/** Bounds what a long-running echo keeps for /flaky and /seen. */
const MAX_REMEMBERED = 10_000;
const MAX_DELAY_MS = 60_000;
/** What /reset promises and what it sends before closing. */
const RESET_DECLARED = 1 << 20;

const flakyCounts = new Map<string, number>();
const seen: SeenRequest[] = [];

function remember(req: IncomingMessage, path: string): void {
  seen.push({ method: req.method ?? '', path, host: req.headers.host ?? '' });
  if (seen.length > MAX_REMEMBERED) seen.splice(0, seen.length - MAX_REMEMBERED);
}

/** How many times this key has been asked for, counting this time. */
function flakyAttempt(key: string): number {
  const n = (flakyCounts.get(key) ?? 0) + 1;
  flakyCounts.delete(key);
  flakyCounts.set(key, n);
  if (flakyCounts.size > MAX_REMEMBERED) {
    const oldest = flakyCounts.keys().next();
    if (oldest.done !== true) flakyCounts.delete(oldest.value);
  }
  return n;
}

export function handleHttp(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  if (path === '/seen') {
    const body = JSON.stringify(seen) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
    req.resume();
    return;
  }
  remember(req, path);
  const bare = path.split('?')[0];
  if (bare === '/reset/early') {
    req.socket.resetAndDestroy();
    return;
  }
  if (bare === '/reset') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(RESET_DECLARED) });
    // The close follows the bytes already written, so the client gets headers and a partial body.
    res.write(CHUNK, () => req.socket.destroy());
    req.resume();
    return;
  }
  const flaky = /^\/flaky\/([^/?]+)\/(\d+)(\?.*)?$/.exec(path);
  if (flaky !== null && flakyAttempt(flaky[1] ?? '') <= Number(flaky[2])) {
    if (new URLSearchParams(flaky[3] ?? '').get('fail') === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    res.writeHead(503, { 'content-type': 'text/plain' }).end('flaky: failing this time\n');
    req.resume();
    return;
  }
  const delay = /^\/delay\/(\d+)(?:\?.*)?$/.exec(path);
  if (delay !== null) {
    const timer = setTimeout(() => echo(req, res, path), Math.min(Number(delay[1]), MAX_DELAY_MS));
    res.once('close', () => clearTimeout(timer));
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status !== null) {
    res.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end(`${status[1]}\n`);
    req.resume();
    return;
  }
  const bytes = /^\/bytes\/(\d+)$/.exec(path);
  if (bytes !== null) {
    const n = Number(bytes[1]);
    if (n > MAX_BYTES) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`at most ${MAX_BYTES} bytes\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    writeBytes(res, n);
    req.resume();
    return;
  }
  echo(req, res, path);
}

/** Answers with what the request looked like. */
function echo(req: IncomingMessage, res: ServerResponse, path: string): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = v;
  const reply: EchoReply = {
    pod: process.env['POD_NAME'] ?? '',
    remoteAddress: normalizeAddress(req.socket.remoteAddress ?? ''),
    remotePort: req.socket.remotePort ?? 0,
    method: req.method ?? '',
    path,
    headers,
  };
  const body = JSON.stringify(reply) + '\n';
  // Drain the request body before answering, so clients that send one see a clean exchange.
  req.resume();
  req.once('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
  });
}

/** Writes n bytes, respecting backpressure. */
function writeBytes(res: ServerResponse, n: number): void {
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Writes back what it reads; when the client half-closes, finishes writing and closes too. */
export function createTcpEcho(): Server {
  return createTcpServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { http: { type: 'string', default: '8080' }, tcp: { type: 'string', default: '9000' } },
  });
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, handleHttp);
  const tcp = createTcpEcho();
  http.listen(Number(values.http));
  tcp.listen(Number(values.tcp));
  await Promise.all([once(http, 'listening'), once(tcp, 'listening')]);
  process.stdout.write('ready\n');
  const shutdown = (): void => {
    http.close();
    http.closeAllConnections();
    tcp.close();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
