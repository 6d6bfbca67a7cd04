// Carries out a plan for an HTTP/1.1 request: each attempt through the endpoint's undici
// pool (over HBONE), the response streamed back with the route's edits. Retries and
// mirrors need the body more than once, so a body is buffered only when the plan has them
// (up to a bound; a larger body is sent once, unretried).
import type http from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { errorMessage } from '#core/errors.ts';
import type { HeaderMap, Plan } from '#waypoint/request/plan-types.ts';
import { ConnectFailure } from '#waypoint/endpoint/upstreams.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ones undici sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'http2-settings']);

export const MAX_BUFFERED_BODY = 1 << 20;

export function requestHeaders(req: http.IncomingMessage): HeaderMap {
  const out: HeaderMap = {};
  const named = new Set((req.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

export function responseHeaders(h: Record<string, string | string[] | undefined>): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Why an attempt failed, as an Envoy response flag and the status a client gets. */
export interface AttemptFailure {
  status: number;
  flags: string;
  retriable: boolean;
  message: string;
}

export function classify(err: unknown, timedOut: boolean): AttemptFailure {
  if (timedOut) return { status: 504, flags: 'UT', retriable: true, message: 'upstream request timeout' };
  if (err instanceof ConnectFailure) return { status: 503, flags: 'UF', retriable: true, message: `upstream connect error: ${err.message}` };
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'UND_ERR_CLOSED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return { status: 502, flags: 'UC', retriable: true, message: `upstream connection reset before response: ${errorMessage(err)}` };
  }
  return { status: 502, flags: 'UC', retriable: true, message: `upstream failed: ${errorMessage(err)}` };
}

/** Reads a body fully when it is at most `limit` bytes; undefined when larger (what was read is returned as a prefix). */
export async function bufferBody(req: Readable, limit: number): Promise<{ body: Buffer } | { prefix: Buffer[] }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const chunk = c as Buffer;
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) return { prefix: chunks };
  }
  return { body: Buffer.concat(chunks) };
}

export type Forwarded = Extract<Plan, { kind: 'forward' }>;

export interface AttemptRequest {
  dispatcher: Dispatcher;
  method: string;
  path: string;
  headers: HeaderMap;
  body: Buffer | Readable | null;
  signal: AbortSignal;
}

export async function attempt(r: AttemptRequest): Promise<Dispatcher.ResponseData> {
  return r.dispatcher.request({
    method: r.method,
    path: r.path,
    headers: r.headers,
    body: r.body,
    signal: r.signal,
  });
}

/** Concatenates a read prefix with the rest of a stream. */
export function rejoin(prefix: Buffer[], rest: Readable): Readable {
  return Readable.from((async function* () {
    for (const c of prefix) yield c;
    for await (const c of rest) yield c as Buffer;
  })());
}
