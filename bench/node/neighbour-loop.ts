// A neighbour's steady request loop, run inside a pod (`ip netns exec`): at a fixed rate, each
// request is a new TCP connection to an echo port, a few bytes out, the same bytes back, closed
// by the client. A request fails when it errors or has no answer within the timeout. Cumulative
// counts go to stdout as one JSON line (NeighbourCounts) every 200 ms, so a runner reads what
// happened between two moments. Bounded: it stops by itself after --seconds.
//   node bench/node/neighbour-loop.ts --host 10.0.2.5 --port 9000 [--rps 100] [--timeout-ms 1000] [--seconds 600]
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { NeighbourCounts } from '#bench/node/short-connections-report.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    rps: { type: 'string', default: '100' },
    'timeout-ms': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '600' },
  },
});
const host = values.host ?? '';
const port = Number(values.port);
const rps = Number(values.rps);
const timeoutMs = Number(values['timeout-ms']);
const seconds = Number(values.seconds);
if (!net.isIPv4(host) || !(port > 0 && port < 65536) || !(rps > 0) || !(timeoutMs > 0) || !(seconds > 0)) {
  process.stderr.write('usage: neighbour-loop.ts --host <ipv4> --port <port> [--rps N] [--timeout-ms N] [--seconds N]\n');
  process.exit(2);
}

const counts: NeighbourCounts = { sent: 0, ok: 0, failed: 0, timedOut: 0 };
const PAYLOAD = 'neighbour';

function request(): void {
  counts.sent++;
  let done = false;
  let got = '';
  const s = net.connect({ host, port, noDelay: true });
  const finish = (outcome: 'ok' | 'failed' | 'timeout'): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (outcome === 'ok') counts.ok++;
    else {
      counts.failed++;
      if (outcome === 'timeout') counts.timedOut++;
    }
    if (outcome === 'ok') s.end();
    else s.destroy();
  };
  const timer = setTimeout(() => finish('timeout'), timeoutMs);
  s.setEncoding('utf8');
  s.on('error', () => finish('failed'));
  s.on('data', (d: string) => {
    got += d;
    if (got.length >= PAYLOAD.length) finish(got === PAYLOAD ? 'ok' : 'failed');
  });
  s.once('close', () => finish('failed'));
  s.write(PAYLOAD);
}

const print = (): void => {
  process.stdout.write(`${JSON.stringify(counts)}\n`);
};

// A fixed schedule, not a fixed gap: a late tick sends the requests it owes, as a real client
// population would keep arriving while the server stalls.
const started = performance.now();
const tick = setInterval(() => {
  const due = Math.floor(((performance.now() - started) / 1000) * rps);
  while (counts.sent < due) request();
}, 5);
const report = setInterval(print, 200);
const stop = (): void => {
  clearInterval(tick);
  clearInterval(report);
  print();
  // Requests still in flight get their timeout to settle, then the process leaves.
  setTimeout(() => {
    print();
    process.exit(0);
  }, timeoutMs + 50).unref();
};
setTimeout(stop, seconds * 1000).unref();
process.once('SIGTERM', stop);
process.stdout.write('ready\n');
