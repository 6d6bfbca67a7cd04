// The pieces of carrying out a plan against an HTTP/1.1 backend: each attempt through the
// endpoint's undici pool (over HBONE), its response streamed to the client as it arrives.
// Retries and mirrors need the body more than once, so a body is buffered only when the
// plan has them (up to a bound; a larger body is sent once, unretried).
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
  /** HTTP/2 REFUSED_STREAM: the backend did not process the request (retry condition refused-stream). */
  refused?: boolean;
}

export function classify(err: unknown, timedOut: boolean): AttemptFailure {
  if (timedOut) return { status: 504, flags: 'UT', retriable: true, message: 'upstream request timeout' };
  if (err instanceof ConnectFailure) return { status: 503, flags: 'UF', retriable: true, message: `upstream connect error: ${err.message}` };
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  if (code === 'ERR_HTTP2_REFUSED_STREAM') return { status: 503, flags: 'UC', retriable: true, refused: true, message: 'upstream refused the stream' };
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'UND_ERR_CLOSED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return { status: 502, flags: 'UC', retriable: true, message: `upstream connection reset before response: ${errorMessage(err)}` };
  }
  return { status: 502, flags: 'UC', retriable: true, message: `upstream failed: ${errorMessage(err)}` };
}

/**
 * Reads a body whole when it is at most `limit` bytes. A larger one is left paused and
 * intact after what was read (returned as `prefix`), so it can still be sent once.
 */
export function bufferBody(body: Readable, limit: number): Promise<{ body: Buffer } | { prefix: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    function onData(c: Buffer): void {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        // Not an async iterator: leaving one early destroys the stream.
        body.pause();
        stop();
        resolve({ prefix: chunks });
      }
    }
    function onEnd(): void {
      stop();
      resolve({ body: Buffer.concat(chunks) });
    }
    function onError(err: Error): void {
      stop();
      reject(err);
    }
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.resume();
  });
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

/** Where a response body goes, with backpressure: `write` returning false waits for `onDrain`. */
export interface ResponseTarget {
  write(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  /** The body is over; HTTP/2 trailers, when the backend sent some. */
  end(trailers?: HeaderMap): void;
}

/**
 * What to do with a response once its head is in: `discard` reads and drops the body (a
 * response that will be retried, a mirror's), else the body streams to the target.
 * `complete`: the head is the whole response (HTTP/2 END_STREAM on it, as a gRPC
 * trailers-only answer), so the target only gets `end`.
 */
export type OnResponse = (status: number, headers: Record<string, string | string[] | undefined>, complete?: boolean) => ResponseTarget | 'discard';

export type AttemptResult =
  /** The whole response went to its target. */
  | { kind: 'relayed'; status: number }
  /** The whole response was read and dropped. */
  | { kind: 'discarded'; status: number }
  /**
   * The attempt failed: before any response (`status` undefined), or after its head was
   * passed on, when the body broke off.
   */
  | { kind: 'failed'; error: unknown; status?: number };

/**
 * One request through an endpoint's pool. The response head and each body chunk go on as
 * they arrive (a Readable in between would drop what it buffered when the backend breaks
 * off), so a client sees exactly how far the backend got. Never rejects.
 */
export function attempt(r: AttemptRequest, onResponse: OnResponse): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let settled = false;
    let controller: Dispatcher.DispatchController | undefined;
    let target: ResponseTarget | 'discard' | undefined;
    let status: number | undefined;
    const settle = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      r.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const reason = (): Error => (r.signal.reason instanceof Error ? r.signal.reason : new Error('attempt aborted'));
    function onAbort(): void {
      // Settled now, even while the pool is still connecting: the caller answers at once.
      controller?.abort(reason());
      settle({ kind: 'failed', error: reason(), ...(status === undefined || target === 'discard' ? {} : { status }) });
    }
    if (r.signal.aborted) {
      onAbort();
      return;
    }
    r.signal.addEventListener('abort', onAbort, { once: true });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (c) => {
        controller = c;
        if (settled) c.abort(reason());
      },
      onResponseStart: (_c, statusCode, headers) => {
        // 1xx heads are the backend's business; the final one follows.
        if (settled || statusCode < 200) return;
        status = statusCode;
        target = onResponse(statusCode, headers);
      },
      onResponseData: (c, chunk) => {
        if (settled || target === undefined || target === 'discard') return;
        if (!target.write(chunk)) {
          c.pause();
          target.onDrain(() => c.resume());
        }
      },
      onResponseEnd: () => {
        if (settled || status === undefined) return;
        if (target !== undefined && target !== 'discard') target.end();
        settle({ kind: target === 'discard' ? 'discarded' : 'relayed', status });
      },
      onResponseError: (_c, error) => {
        settle({ kind: 'failed', error, ...(status === undefined || target === 'discard' ? {} : { status }) });
      },
    };
    try {
      r.dispatcher.dispatch({ method: r.method, path: r.path, headers: r.headers, body: r.body }, handler);
    } catch (error) {
      settle({ kind: 'failed', error });
    }
  });
}

/**
 * A read prefix followed by the rest of a stream. Destroying it (an attempt that ended
 * before the body was sent) lets go of the rest without destroying it: the rest belongs to
 * the client's connection, which the caller drains or closes.
 */
export function rejoin(prefix: Buffer[], rest: Readable): Readable {
  let attached = false;
  const onData = (c: Buffer): void => {
    if (!out.push(c)) rest.pause();
  };
  const onEnd = (): void => {
    out.push(null);
  };
  const onError = (err: Error): void => {
    out.destroy(err);
  };
  const detach = (): void => {
    rest.off('data', onData);
    rest.off('end', onEnd);
    rest.off('error', onError);
  };
  const out: Readable = new Readable({
    read() {
      if (!attached) {
        attached = true;
        for (const c of prefix) this.push(c);
        if (rest.readableEnded) {
          this.push(null);
          return;
        }
        rest.on('data', onData);
        rest.once('end', onEnd);
        rest.once('error', onError);
      }
      rest.resume();
    },
    destroy(err, callback) {
      detach();
      // Paused, as it was handed over: the owner decides whether to drain or close it.
      rest.pause();
      callback(err);
    },
  });
  return out;
}
