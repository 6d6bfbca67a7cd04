// A backend for test/waypoint/mirror-h2.test.ts, run in a pod:
//   node mirror-h2-backend.ts serve    h2c on 8081, h2c that never answers on 8083, counts on 8082; prints "ready"
// On 8081 every request is answered 200 and counted by its first path segment and :authority,
// with the body bytes it carried.
// On 8083 no request is answered: its streams stay open until the caller resets them.
//   GET /counts on 8082: JSON {"seen": {"<segment> <authority>": n}, "bytes": {same keys: body bytes}, "hang": {"open": n, "total": n}}
import http from 'node:http';
import http2 from 'node:http2';

/** Bounds what the backend remembers, as a long-running one should. */
const MAX_KEYS = 10_000;
const seen = new Map<string, number>();
const bytes = new Map<string, number>();
const hang = { open: 0, total: 0 };

function serve(): void {
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const segment = /^\/([^/?]*)/.exec(String(headers[':path'] ?? '/'))?.[1] ?? '';
    const key = `${segment} ${String(headers[':authority'] ?? '')}`;
    const kept = seen.has(key) || seen.size < MAX_KEYS;
    if (kept) seen.set(key, (seen.get(key) ?? 0) + 1);
    stream.on('data', (c: Buffer) => { if (kept) bytes.set(key, (bytes.get(key) ?? 0) + c.length); });
    stream.once('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok\n');
    });
  });
  const silent = http2.createServer();
  silent.on('stream', (stream) => {
    stream.on('error', () => undefined);
    hang.open++;
    hang.total++;
    stream.resume();
    stream.once('close', () => { hang.open--; });
  });
  const stats = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ seen: Object.fromEntries(seen), bytes: Object.fromEntries(bytes), hang }));
  });
  let pending = 3;
  const ready = (): void => {
    if (--pending === 0) process.stdout.write('ready\n');
  };
  h2.listen(8081, ready);
  silent.listen(8083, ready);
  stats.listen(8082, ready);
}

if (process.argv[2] === 'serve') serve();
else {
  process.stderr.write('usage: mirror-h2-backend.ts serve\n');
  process.exit(2);
}
