// Sample app for the embedded cluster: an HTTP echo (who called, with what) and a TCP echo in
// one process. Prints "ready" once both listen.
//   node local/apps/echo.ts [--http PORT] [--tcp PORT]
//   GET /status/<code> answers that status; GET /bytes/<n> answers n bytes; anything else
//   answers JSON {pod, remoteAddress, remotePort, method, path, headers}.
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

const MAX_BYTES = 1 << 30;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

export function handleHttp(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
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
