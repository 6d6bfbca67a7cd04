// Sample gRPC app for the embedded cluster, with the real gRPC stack (@grpc/grpc-js) on both
// ends and JSON messages, so no code generation is needed:
//   node local/apps/grpc-echo.ts serve [--port 9090]          prints "ready" once listening
//   node local/apps/grpc-echo.ts call <host:port> echo <text>   one unary call, JSON reply on stdout
//   node local/apps/grpc-echo.ts call <host:port> count <n>     a server-streaming call, one line per message
//   node local/apps/grpc-echo.ts call <host:port> fail <code>   a unary call answered with that status
// Service `weft.echo.Echo`: Echo (unary), Count (server streaming), Fail (unary error).
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';

interface EchoMessage { text?: string; n?: number; code?: number; pod?: string }

const json = {
  serialize: (m: EchoMessage): Buffer => Buffer.from(JSON.stringify(m)),
  deserialize: (b: Buffer): EchoMessage => JSON.parse(b.toString('utf8')) as EchoMessage,
};

export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/weft.echo.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Count: { path: '/weft.echo.Echo/Count', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Fail: { path: '/weft.echo.Echo/Fail', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

function serve(port: number): void {
  const pod = process.env['POD_NAME'] ?? '';
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) => {
      cb(null, { text: call.request.text ?? '', pod });
    },
    Count: (call: grpc.ServerWritableStream<EchoMessage, EchoMessage>) => {
      const n = Math.min(call.request.n ?? 0, 10_000);
      for (let i = 1; i <= n; i++) call.write({ n: i, pod });
      call.end();
    },
    Fail: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) => {
      cb({ code: call.request.code ?? grpc.status.INTERNAL, details: 'failed on request' }, null);
    },
  });
  server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err !== null) {
      process.stderr.write(`grpc-echo: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write('ready\n');
  });
  process.on('SIGTERM', () => server.forceShutdown());
}

function call(target: string, method: string, arg: string): void {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const client = new Client(target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const deadline = new Date(Date.now() + 5000);
  const done = (code: number, details: string): void => {
    process.stdout.write(`${JSON.stringify({ status: code, details })}\n`);
    client.close();
  };
  if (method === 'count') {
    const stream = client['Count']?.({ n: Number(arg) }, { deadline }) as grpc.ClientReadableStream<EchoMessage>;
    stream.on('data', (m: EchoMessage) => process.stdout.write(`${JSON.stringify(m)}\n`));
    stream.on('status', (s: grpc.StatusObject) => done(s.code, s.details));
    stream.on('error', () => undefined);
    return;
  }
  const name = method === 'fail' ? 'Fail' : 'Echo';
  const req: EchoMessage = method === 'fail' ? { code: Number(arg) } : { text: arg };
  client[name]?.(req, { deadline }, (err: grpc.ServiceError | null, reply?: EchoMessage) => {
    if (reply !== undefined) process.stdout.write(`${JSON.stringify(reply)}\n`);
    done(err?.code ?? grpc.status.OK, err?.details ?? '');
  });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') {
  const { values } = parseArgs({ args: rest, options: { port: { type: 'string' } } });
  serve(Number(values.port ?? 9090));
} else if (mode === 'call' && rest.length === 3) {
  call(rest[0] ?? '', rest[1] ?? '', rest[2] ?? '');
} else {
  process.stderr.write('usage: grpc-echo.ts serve [--port N] | call <host:port> echo|count|fail <arg>\n');
  process.exit(2);
}
