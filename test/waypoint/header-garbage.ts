// A client for the waypoint's end-to-end tests that sends HTTP/1.1 requests whose header
// names and values are random bytes, one request per connection, many connections at once,
// and reports the status each got. Most requests are malformed on purpose (every one has
// at least one header name with a byte no token may hold); every `validEvery`-th request
// has random but well-formed headers and must be served normally.
//   node header-garbage.ts <host> <port> [--count 10000] [--concurrency 50] [--seed 1] [--valid-every 10]
// Prints one JSON line (GarbageReport); exit 0 unless the arguments are wrong.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

export interface GarbageReport {
  seed: number;
  invalidSent: number;
  validSent: number;
  /** Status code (or "none" when the connection closed without a status line) → count. */
  invalidStatuses: Record<string, number>;
  validStatuses: Record<string, number>;
}

/** A small seeded generator (mulberry32), so a failing run can be repeated with its seed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** RFC 9110 tchar. */
const TOKEN = [...'!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'].map((c) => c.charCodeAt(0));
/**
 * Bytes that may not appear in a header name. Left out: ':' (it would end the name early),
 * CR and LF (they would end the line), and space/tab, which at the start of a line would make
 * it a continuation of the previous header instead.
 */
const NOT_TOKEN = [0, 1, 8, 0x0b, 0x1f, 0x7f, 0x80, 0xc3, 0xff, ...'"(),/;<=>?@[\\]{}'].map((c) => typeof c === 'number' ? c : c.charCodeAt(0));
/** Field-value bytes (visible ASCII, space, tab, obs-text). */
const VALUE = [...range(0x20, 0x7e), 0x09, ...range(0x80, 0xff)];
/** Field-value bytes plus control characters no parser should accept. */
const VALUE_GARBAGE = [...VALUE, ...range(0x01, 0x08), 0x0b, 0x0c, ...range(0x0e, 0x1f), 0x7f];

function pick(random: () => number, from: readonly number[]): number {
  return from[Math.floor(random() * from.length)] ?? 0x61;
}

function bytes(random: () => number, from: readonly number[], min: number, max: number): number[] {
  const n = min + Math.floor(random() * (max - min + 1));
  return Array.from({ length: n }, () => pick(random, from));
}

/** One request; a malformed one has a non-token byte in at least one header name. */
export function garbageRequest(random: () => number, i: number, host: string, valid: boolean): Buffer {
  const lines: Buffer[] = [Buffer.from(`GET /garbage/${i} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n`, 'latin1')];
  const headers = 1 + Math.floor(random() * 6);
  const broken = valid ? -1 : Math.floor(random() * headers);
  for (let h = 0; h < headers; h++) {
    let name: number[];
    let value: number[];
    if (valid) {
      name = [...Buffer.from('x-garbage-'), ...bytes(random, TOKEN, 1, 30)];
      // Leading and trailing whitespace is not part of a value; keep the ends visible.
      value = [pick(random, range(0x21, 0x7e)), ...bytes(random, VALUE, 0, 80), pick(random, range(0x21, 0x7e))];
    } else {
      name = bytes(random, TOKEN, 0, 30);
      if (h === broken) name.splice(Math.floor(random() * (name.length + 1)), 0, pick(random, NOT_TOKEN));
      if (name.length === 0) name.push(pick(random, TOKEN));
      value = bytes(random, VALUE_GARBAGE, 0, 80);
    }
    lines.push(Buffer.from(name), Buffer.from(': '), Buffer.from(value), Buffer.from('\r\n'));
  }
  lines.push(Buffer.from('\r\n'));
  return Buffer.concat(lines);
}

/** Sends one request on its own connection; resolves with the status, or "none". */
function exchange(host: string, port: number, request: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const chunks: Buffer[] = [];
    let size = 0;
    // A bound on a connection that never finishes, so the report still comes.
    sock.setTimeout(15_000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (c: Buffer) => {
      if (size < 64) chunks.push(c);
      size += c.length;
    });
    // The server closes after its answer (connection: close); a client half-close before
    // that would be taken as the client going away, as proxies do.
    sock.once('end', () => sock.end());
    sock.once('close', () => {
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(Buffer.concat(chunks).subarray(0, 64).toString('latin1'));
      resolve(m?.[1] ?? 'none');
    });
    sock.write(request);
  });
}

export async function sendGarbage(o: { host: string; port: number; count: number; concurrency: number; seed: number; validEvery: number }): Promise<GarbageReport> {
  const random = generator(o.seed);
  const report: GarbageReport = { seed: o.seed, invalidSent: 0, validSent: 0, invalidStatuses: {}, validStatuses: {} };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.count) {
      const i = next++;
      const valid = o.validEvery > 0 && i % o.validEvery === 0;
      const status = await exchange(o.host, o.port, garbageRequest(random, i, o.host, valid));
      const tally = valid ? report.validStatuses : report.invalidStatuses;
      tally[status] = (tally[status] ?? 0) + 1;
      if (valid) report.validSent++;
      else report.invalidSent++;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return report;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      'valid-every': { type: 'string', default: '10' },
    },
  });
  const [host, port] = positionals;
  if (host === undefined || port === undefined) throw new Error('usage: header-garbage.ts <host> <port> [--count N] [--concurrency N] [--seed N] [--valid-every N]');
  const report = await sendGarbage({
    host, port: Number(port), count: Number(values.count), concurrency: Number(values.concurrency),
    seed: Number(values.seed), validEvery: Number(values['valid-every']),
  });
  process.stdout.write(JSON.stringify(report) + '\n');
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
