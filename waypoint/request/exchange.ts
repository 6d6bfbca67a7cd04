// The client's side of one request, whichever HTTP version it arrived on: where the body
// comes from, how the answer goes back, and how to break it off. One forwarder (retries,
// timeouts, mirrors) serves HTTP/1.1 and HTTP/2 clients alike through it.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import type { HeaderMap } from '#waypoint/request/plan-types.ts';

export interface ClientExchange {
  /** The request body; null when the request has none. */
  readonly body: Readable | null;
  /** Where the response body is written, after `respond`. */
  readonly sink: Writable;
  /** Whether the response head went out. */
  headersSent(): boolean;
  /** Whether the client went away before the response was complete. */
  gone(): boolean;
  /** Runs once if the client goes away before the response is complete. */
  onGone(listener: () => void): void;
  /**
   * Sends the response head; the body follows through `sink`, then `finish`. `end`: the head
   * is the whole answer. `trailers`: HTTP/2 trailers follow the body (from `finish`).
   */
  respond(status: number, headers: HeaderMap, options?: { end?: boolean; trailers?: boolean }): void;
  /** Ends the response body; the trailers go out when `respond` asked for them (HTTP/2 only). */
  finish(trailers?: HeaderMap): void;
  /** A whole answer from the waypoint itself; returns the body bytes sent. */
  reply(status: number, body: string, headers?: Record<string, string>): number;
  /** Breaks off a response under way: HTTP/1.1 closes the connection after what was sent, HTTP/2 resets the stream. */
  abort(): void;
}

/** Whether an HTTP/1.1 request has a body (RFC 9112 §6.3: a length or a transfer coding). */
export function http1HasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function http1Exchange(req: http.IncomingMessage, res: http.ServerResponse): ClientExchange {
  return {
    body: http1HasBody(req) ? req : null,
    sink: res,
    headersSent: () => res.headersSent,
    gone: () => res.destroyed && !res.writableFinished,
    onGone: (listener) => {
      res.once('close', () => {
        if (!res.writableFinished) listener();
      });
    },
    respond: (status, headers, options) => {
      res.writeHead(status, headers);
      if (options?.end === true) {
        res.end();
        return;
      }
      // Sent now, as the backend sent them: a body may come much later, or never.
      res.flushHeaders();
    },
    finish: () => {
      if (!res.writableEnded) res.end();
    },
    reply: (status, body, headers = {}) => {
      if (res.headersSent) {
        res.socket?.end();
        return 0;
      }
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
      res.end(body);
      return Buffer.byteLength(body);
    },
    abort: () => {
      // The connection is closed after what was written, not reset: a reset can make the
      // client's kernel drop the head and body it has not read yet, where a close leaves a
      // body shorter than its framing promised, which every HTTP/1.1 client detects.
      const socket = res.socket;
      if (socket === null || socket.destroyed) res.destroy();
      else socket.end();
    },
  };
}

/** How long a broken-off HTTP/2 answer waits for what was written to be framed before its reset. */
const ABORT_FLUSH_MS = 1000;
const EMPTY = Buffer.alloc(0);

/** HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2); they may come from an HTTP/1.1 backend. */
const NOT_IN_HTTP2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * `grpc`: the client speaks gRPC, so the waypoint's own answers are trailers-only heads with
 * the grpc-status for their HTTP status (grpc/doc/http-grpc-status-mapping.md).
 */
export function http2Exchange(stream: http2.ServerHttp2Stream, endStream: boolean, grpc = false): ClientExchange {
  const finished = (): boolean => stream.writableFinished;
  let trailers: http2.OutgoingHttpHeaders = {};
  let ended = false;
  return {
    body: endStream ? null : stream,
    sink: stream,
    headersSent: () => stream.headersSent,
    gone: () => stream.destroyed && !finished(),
    onGone: (listener) => {
      stream.once('close', () => {
        if (!finished()) listener();
      });
    },
    respond: (status, headers, options) => {
      const out: http2.OutgoingHttpHeaders = { ':status': status };
      for (const [k, v] of Object.entries(headers)) if (!NOT_IN_HTTP2.has(k)) out[k] = v;
      if (options?.end === true) {
        ended = true;
        stream.respond(out, { endStream: true });
        return;
      }
      if (options?.trailers !== true) {
        stream.respond(out);
        return;
      }
      stream.respond(out, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    },
    finish: (t = {}) => {
      trailers = {};
      for (const [k, v] of Object.entries(t)) if (!NOT_IN_HTTP2.has(k)) trailers[k] = v;
      if (!ended && !stream.writableEnded && !stream.destroyed) stream.end();
    },
    reply: (status, body, headers = {}) => {
      if (stream.destroyed) return 0;
      if (stream.headersSent) {
        resetAfterFlush(stream);
        return 0;
      }
      if (grpc) {
        stream.respond({
          ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpcCodeFor(status)), 'grpc-message': encodeURIComponent(body), ...headers,
        }, { endStream: true });
        return 0;
      }
      stream.respond({ ':status': status, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
      stream.end(body);
      return Buffer.byteLength(body);
    },
    abort: () => resetAfterFlush(stream),
  };
}

/**
 * Resets a stream (RST_STREAM INTERNAL_ERROR) after what was written to it. A reset
 * submitted while the head and data are still queued in the session can go out without
 * them; an empty write completes once everything before it is framed, so the reset follows
 * what was sent. A client that stopped reading gets it after a bound. destroy(err) sends
 * RST_STREAM alone, where close() could send END_STREAM first.
 */
export function resetAfterFlush(stream: http2.Http2Stream): void {
  if (stream.destroyed) return;
  const reset = (): void => {
    clearTimeout(bound);
    if (!stream.destroyed) stream.destroy(new Error('upstream response broke off'));
  };
  const bound = setTimeout(reset, ABORT_FLUSH_MS);
  stream.write(EMPTY, () => setImmediate(reset));
}

/** HTTP status → gRPC code (grpc/doc/http-grpc-status-mapping.md). */
export function grpcCodeFor(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}
