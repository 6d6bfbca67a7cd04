// A WebSocket echo for the waypoint's end-to-end tests, run inside pods of the embedded
// cluster: `serve` on a backend pod, `call` from the client pod.
//   node ws-echo.ts serve --port 8090
//     prints "ready"; each connection first gets a text message {pod, path, remoteAddress,
//     traceparent}, then every message comes back as it was sent (text stays text, binary
//     stays binary).
//   node ws-echo.ts call ws://host/path [--traceparent VALUE]
//     sends a text message and a 1 MiB binary one, checks both echoes, closes with 1000, and
//     prints one JSON line {hello, text, binaryBytes, binaryIntact, closeCode}; exit 1 on any failure.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export interface WsHello {
  pod: string;
  path: string;
  remoteAddress: string;
  /** The upgrade request's traceparent header, '' without one. */
  traceparent: string;
}

export interface WsCallResult {
  hello: WsHello;
  text: string;
  binaryBytes: number;
  binaryIntact: boolean;
  closeCode: number;
}

const BINARY_BYTES = 1 << 20;

function bytesOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

async function serve(port: number): Promise<void> {
  const wss = new WebSocketServer({ port, maxPayload: 4 * BINARY_BYTES });
  wss.on('connection', (ws, req) => {
    ws.on('error', () => ws.terminate());
    const remote = req.socket.remoteAddress ?? '';
    const hello: WsHello = {
      pod: process.env['POD_NAME'] ?? '',
      path: req.url ?? '',
      remoteAddress: remote.startsWith('::ffff:') ? remote.slice(7) : remote,
      traceparent: typeof req.headers.traceparent === 'string' ? req.headers.traceparent : '',
    };
    ws.send(JSON.stringify(hello));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  process.stdout.write('ready\n');
  const stop = (): void => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function call(url: string, traceparent: string | undefined): Promise<WsCallResult> {
  const ws = new WebSocket(url, { maxPayload: 4 * BINARY_BYTES, ...(traceparent === undefined ? {} : { headers: { traceparent } }) });
  const messages: { data: Buffer; binary: boolean }[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data, binary) => {
    messages.push({ data: bytesOf(data), binary });
    for (const w of waiters.splice(0)) w();
  });
  const failed = new Promise<never>((_, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode ?? 0}`)));
  });
  const next = async (): Promise<{ data: Buffer; binary: boolean }> => {
    for (;;) {
      const m = messages.shift();
      if (m !== undefined) return m;
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), failed]);
    }
  };
  await Promise.race([new Promise((resolve) => ws.once('open', resolve)), failed]);
  const helloMsg = await next();
  const hello = JSON.parse(helloMsg.data.toString('utf8')) as WsHello;
  ws.send('hello through the waypoint');
  const text = await next();
  if (text.binary) throw new Error('the text message came back as binary');
  const payload = randomBytes(BINARY_BYTES);
  ws.send(payload, { binary: true });
  const binary = await next();
  const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'done');
  return {
    hello,
    text: text.data.toString('utf8'),
    binaryBytes: binary.data.length,
    binaryIntact: binary.binary && digest(binary.data) === digest(payload),
    closeCode: await Promise.race([closed, failed]),
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { port: { type: 'string', default: '8090' }, traceparent: { type: 'string' } } });
  const [command, target] = positionals;
  if (command === 'serve') return serve(Number(values.port));
  if (command === 'call' && target !== undefined) {
    process.stdout.write(JSON.stringify(await call(target, values.traceparent)) + '\n');
    return;
  }
  throw new Error('usage: ws-echo.ts serve [--port N] | call <ws://host/path> [--traceparent VALUE]');
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
