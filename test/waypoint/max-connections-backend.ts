// A backend for test/waypoint/max-connections.test.ts, run in a pod:
//   node max-connections-backend.ts serve    HTTP/1.1 on 8080, h2c on 8081, counts on 8082; prints "ready"
// Every request on 8080 and 8081 is answered 200 after a short wait, so concurrent requests
// need concurrent connections (HTTP/1.1) or streams (HTTP/2). On 8082:
//   GET /counts        JSON {"8080": {open, peak, total}, "8081": …}: TCP connections open now, the most at once, and all ever accepted
//   GET /reset         peak := open on both ports
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';

const ANSWER_AFTER_MS = 20;

interface Count { open: number; peak: number; total: number }
const counts: Record<'8080' | '8081', Count> = { 8080: { open: 0, peak: 0, total: 0 }, 8081: { open: 0, peak: 0, total: 0 } };

function counted(server: net.Server, c: Count): void {
  server.on('connection', (socket: net.Socket) => {
    c.open++;
    c.total++;
    c.peak = Math.max(c.peak, c.open);
    socket.once('close', () => { c.open--; });
  });
}

function serve(): void {
  const h1 = http.createServer((req, res) => {
    req.resume();
    req.once('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'), ANSWER_AFTER_MS));
  });
  // Idle connections go within seconds, so a test can wait for none to be open before it
  // measures; the waypoint's pool keeps one for the hinted time less 2 s, so shorter means none is reused.
  h1.keepAliveTimeout = 5000;
  counted(h1, counts[8080]);
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.once('end', () => setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok\n');
    }, ANSWER_AFTER_MS));
  });
  counted(h2, counts[8081]);
  const stats = http.createServer((req, res) => {
    if (req.url === '/reset') for (const c of Object.values(counts)) c.peak = c.open;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
  });
  let pending = 3;
  const ready = (): void => {
    if (--pending === 0) process.stdout.write('ready\n');
  };
  h1.listen(8080, ready);
  h2.listen(8081, ready);
  stats.listen(8082, ready);
}

if (process.argv[2] === 'serve') serve();
else {
  process.stderr.write('usage: max-connections-backend.ts serve\n');
  process.exit(2);
}
