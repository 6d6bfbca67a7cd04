// Backends and a gRPC client for test/waypoint/pool.test.ts, run in pods:
//   node pool-backends.ts serve        HTTP/1.1 on 8080, h2c on 8081, gRPC on 9090; prints "ready"
//   node pool-backends.ts grpc-calls <host:port> <prefix> <n>   n unary calls, keys <prefix>-1..n; one JSON line of their codes
// HTTP paths (both HTTP servers):
//   /conn/<key>      200; the connection that carried it is remembered for the key
//   /conns/<key>     JSON: how many requests each connection carried for the key
//   /flaky/<key>     503 the first time per key, then 200 with the size of the body it got
//   /rst/<key>       (h2c) the first time per key the stream is reset before any answer, then 200
//   /stall/<key>     (h2c) the first time per key no answer comes until the caller gives up, then 200
// gRPC `weft.pool.Flaky/Call` answers UNAVAILABLE the first time per key (the request's text).
import http from 'node:http';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';

interface Message { text?: string; attempt?: number }

const json = {
  serialize: (m: Message): Buffer => Buffer.from(JSON.stringify(m)),
  deserialize: (b: Buffer): Message => JSON.parse(b.toString('utf8')) as Message,
};
const FLAKY: grpc.ServiceDefinition = {
  Call: {
    path: '/weft.pool.Flaky/Call', requestStream: false, responseStream: false,
    requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize,
  },
};

/** Bounds what the backend remembers, as a long-running one should. */
const MAX_KEYS = 10_000;
const seen = new Map<string, number>();
function attemptFor(key: string): number {
  const n = (seen.get(key) ?? 0) + 1;
  seen.set(key, n);
  if (seen.size > MAX_KEYS) seen.delete(seen.keys().next().value ?? '');
  return n;
}

const byKey = new Map<string, Map<number, number>>();
function handle(path: string, connection: number, bodyBytes: number): { status: number; body: string } {
  const m = /^\/(conn|conns|flaky)\/([^/?]+)$/.exec(path);
  const key = m?.[2] ?? '';
  switch (m?.[1]) {
    case 'conn': {
      const per = byKey.get(key) ?? new Map<number, number>();
      per.set(connection, (per.get(connection) ?? 0) + 1);
      byKey.set(key, per);
      if (byKey.size > MAX_KEYS) byKey.delete(byKey.keys().next().value ?? '');
      return { status: 200, body: 'ok\n' };
    }
    case 'conns': return { status: 200, body: JSON.stringify([...(byKey.get(key) ?? new Map<number, number>()).values()]) };
    case 'flaky': return attemptFor(`flaky/${key}`) === 1 ? { status: 503, body: 'failing the first time\n' } : { status: 200, body: `${bodyBytes}\n` };
    default: return { status: 404, body: 'unknown path\n' };
  }
}

let connections = 0;

function serve(): void {
  const h1 = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.once('end', () => {
      const id = (req.socket as unknown as { poolId: number }).poolId;
      const r = handle(req.url ?? '/', id, bytes);
      res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.body);
    });
  });
  h1.keepAliveTimeout = 120_000;
  h1.on('connection', (socket) => { (socket as unknown as { poolId: number }).poolId = ++connections; });
  const h2 = http2.createServer();
  h2.on('session', (session) => { (session as unknown as { poolId: number }).poolId = ++connections; });
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const first = /^\/(rst|stall)\/([^/?]+)$/.exec(String(headers[':path'] ?? ''));
    if (first !== null && attemptFor(`${first[1] ?? ''}/${first[2] ?? ''}`) === 1) {
      if (first[1] === 'rst') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      // A stalled stream ends when the caller resets it.
      return;
    }
    if (first !== null) {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok\n');
      return;
    }
    let bytes = 0;
    stream.on('data', (c: Buffer) => { bytes += c.length; });
    stream.once('end', () => {
      const r = handle(String(headers[':path'] ?? '/'), (stream.session as unknown as { poolId: number }).poolId, bytes);
      if (stream.destroyed) return;
      stream.respond({ ':status': r.status, 'content-type': 'text/plain' });
      stream.end(r.body);
    });
  });
  const server = new grpc.Server();
  server.addService(FLAKY, {
    Call: (call: grpc.ServerUnaryCall<Message, Message>, cb: grpc.sendUnaryData<Message>) => {
      const attempt = attemptFor(`grpc/${call.request.text ?? ''}`);
      if (attempt === 1) cb({ code: grpc.status.UNAVAILABLE, details: 'failing the first time' }, null);
      else cb(null, { text: call.request.text ?? '', attempt });
    },
  });
  let pending = 3;
  const ready = (): void => {
    if (--pending === 0) process.stdout.write('ready\n');
  };
  h1.listen(8080, ready);
  h2.listen(8081, ready);
  server.bindAsync('0.0.0.0:9090', grpc.ServerCredentials.createInsecure(), (err) => {
    if (err !== null) {
      process.stderr.write(`pool-backends: ${err.message}\n`);
      process.exit(1);
    }
    ready();
  });
}

/** Calls one after another, each with its own key; prints the codes, in order. */
async function grpcCalls(target: string, prefix: string, n: number): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(FLAKY, 'Flaky');
  const client = new Client(target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const codes: number[] = [];
  for (let i = 1; i <= n; i++) {
    codes.push(await new Promise<number>((resolve) => {
      client['Call']?.({ text: `${prefix}-${i}` }, { deadline: new Date(Date.now() + 10_000) }, (err: grpc.ServiceError | null, reply?: Message) => {
        resolve(err !== null ? err.code : reply?.text === `${prefix}-${i}` ? grpc.status.OK : grpc.status.DATA_LOSS);
      });
    }));
  }
  client.close();
  process.stdout.write(`${JSON.stringify(codes)}\n`);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') serve();
else if (mode === 'grpc-calls' && rest.length === 3) await grpcCalls(rest[0] ?? '', rest[1] ?? '', Number(rest[2]));
else {
  process.stderr.write('usage: pool-backends.ts serve | grpc-calls <host:port> <prefix> <n>\n');
  process.exit(2);
}
