// One attempt of a plan against an HTTP/2 (h2c or gRPC) backend, with the same shape as the
// HTTP/1.1 attempt (forward-http1.ts), so one attempt loop gives both retries, timeouts and
// streaming. The head goes on as it arrives, but for one exception: a gRPC answer whose head
// carries no grpc-status, while a retry could still follow, is held until its first body byte
// or its end, so a status that only comes in the trailers (an error after the head) can still
// be retried; a held head that ends in trailers goes on as one trailers-only head.
import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { HeaderMap } from '#waypoint/request/plan-types.ts';
import type { AttemptResult, OnResponse, ResponseTarget } from '#waypoint/request/forward-http1.ts';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface Http2AttemptRequest {
  /** Opens the stream; rejects (ConnectFailure) when there is no connection. */
  open: (headers: http2.OutgoingHttpHeaders, options: http2.ClientSessionRequestOptions) => Promise<http2.ClientHttp2Stream>;
  /** Pseudo-headers included. */
  headers: http2.OutgoingHttpHeaders;
  body: Readable | null;
  signal: AbortSignal;
  /** Hold a gRPC head without grpc-status until the first body byte or the trailers (a retry may follow). */
  holdGrpcHead: boolean;
}

/** The backend reset the stream before any response (RST_STREAM with this code). */
export class StreamReset extends Error {
  readonly code: string;
  readonly rstCode: number;
  constructor(rstCode: number) {
    super(`upstream reset the stream (HTTP/2 error code ${rstCode})`);
    this.name = 'StreamReset';
    this.rstCode = rstCode;
    // The same code undici gives a broken connection, so classify() calls it a reset (UC).
    this.code = rstCode === NGHTTP2_REFUSED_STREAM ? 'ERR_HTTP2_REFUSED_STREAM' : 'ECONNRESET';
  }
}

/** Headers of a head or trailers without the pseudo-headers. */
export function plainHeaders(h: http2.IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(':')) out[k] = v;
  return out;
}

/**
 * Whether a response announces trailers: gRPC always ends in them; other responses name them
 * in `trailer`. Only then does the client's answer wait for trailers, since an empty trailers
 * frame breaks some clients (curl reports a framing error).
 */
export function expectsTrailers(h: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const ct = h['content-type'];
  return (typeof ct === 'string' && ct.startsWith('application/grpc')) || h['trailer'] !== undefined;
}

function isGrpc(h: HeaderMap): boolean {
  const ct = h['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

/** Never rejects; settles once, with the same results as the HTTP/1.1 attempt. */
export function attemptHttp2(r: Http2AttemptRequest, onResponse: OnResponse): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let settled = false;
    let req: http2.ClientHttp2Stream | undefined;
    let target: ResponseTarget | 'discard' | undefined;
    let status: number | undefined;
    let held: HeaderMap | undefined;
    let trailers: HeaderMap = {};
    const passedOn = (): boolean => status !== undefined && target !== undefined && target !== 'discard';
    const settle = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      r.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const fail = (error: unknown): void => settle({ kind: 'failed', error, ...(passedOn() && status !== undefined ? { status } : {}) });
    const reason = (): Error => (r.signal.reason instanceof Error ? r.signal.reason : new Error('attempt aborted'));
    function onAbort(): void {
      if (req !== undefined && !req.closed) req.close(NGHTTP2_CANCEL);
      r.body?.destroy();
      fail(reason());
    }
    if (r.signal.aborted) {
      onAbort();
      return;
    }
    r.signal.addEventListener('abort', onAbort, { once: true });
    /** Asks the caller what to do with the response, once. */
    const decide = (head: HeaderMap, complete: boolean): void => {
      if (status === undefined || target !== undefined) return;
      target = onResponse(status, head, complete);
    };
    const done = (): void => {
      if (status === undefined) return;
      if (target !== undefined && target !== 'discard') target.end(trailers);
      settle({ kind: target === 'discard' ? 'discarded' : 'relayed', status });
    };
    r.open(r.headers, { endStream: r.body === null }).then((stream) => {
      req = stream;
      if (settled) {
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      stream.on('error', () => undefined);
      if (r.body !== null) {
        r.body.pipe(stream);
        r.body.once('error', () => stream.close(NGHTTP2_CANCEL));
      }
      // Body and end are read only once the head is in: node can push a DATA frame that came
      // with the HEADERS before it emits 'response'.
      stream.once('response', (h, flags) => {
        status = Number(h[':status'] ?? 502);
        const head = plainHeaders(h);
        if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) decide(head, true);
        else if (r.holdGrpcHead && isGrpc(head) && head['grpc-status'] === undefined) held = head;
        else decide(head, false);
        stream.on('data', onData);
        stream.once('end', onEnd);
      });
      stream.on('trailers', (t: http2.IncomingHttpHeaders) => { trailers = plainHeaders(t); });
      const onData = (c: Buffer): void => {
        if (settled) return;
        if (held !== undefined) {
          decide(held, false);
          held = undefined;
        }
        if (target === undefined || target === 'discard') return;
        if (!target.write(c)) {
          stream.pause();
          target.onDrain(() => stream.resume());
        }
      };
      const onEnd = (): void => {
        if (settled) return;
        if (held !== undefined) {
          // Head and trailers with no body in between: one trailers-only answer.
          decide({ ...held, ...trailers }, true);
          held = undefined;
          trailers = {};
        }
        done();
      };
      stream.once('close', () => {
        if (settled) return;
        const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
        // A clean close before 'end' ran: the response did end.
        if (code === NGHTTP2_NO_ERROR && status !== undefined && stream.readableEnded) {
          done();
          return;
        }
        fail(new StreamReset(code === NGHTTP2_NO_ERROR ? http2.constants.NGHTTP2_INTERNAL_ERROR : code));
      });
    }, (err: unknown) => fail(err));
  });
}
