// An OTLP/HTTP trace receiver for tests, standing in for a collector (none can be installed
// here). It takes POST /v1/traces with the OTLP/JSON encoding (application/json, optionally
// gzip), which is what @opentelemetry/exporter-trace-otlp-http sends, and decodes the real
// ExportTraceServiceRequest: resourceSpans → scopeSpans → spans with their attributes. The
// protobuf encoding is refused with 415, so a change of exporter shows up as a failing test
// rather than as spans silently missing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, AttributeValue>;
  scope: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** An OTLP AnyValue: exactly one of its fields is set; 64-bit ints arrive as decimal strings. */
export function anyValue(v: unknown): AttributeValue {
  if (!isObj(v)) return undefined;
  if (typeof v['stringValue'] === 'string') return v['stringValue'];
  if (typeof v['boolValue'] === 'boolean') return v['boolValue'];
  if (typeof v['intValue'] === 'string' || typeof v['intValue'] === 'number') return Number(v['intValue']);
  if (typeof v['doubleValue'] === 'number') return v['doubleValue'];
  if (isObj(v['arrayValue'])) return list(v['arrayValue']['values']).map(anyValue);
  return undefined;
}

export function keyValues(v: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list(v)) if (isObj(kv) && typeof kv['key'] === 'string') out[kv['key']] = anyValue(kv['value']);
  return out;
}

/** OTLP/JSON carries ids as hex (the spec's rule); base64, as protobuf's JSON mapping would give, is accepted too. */
export function otlpId(v: unknown, bytes: number): string {
  if (typeof v !== 'string' || v === '') return '';
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v)) return v.toLowerCase();
  const b = Buffer.from(v, 'base64');
  return b.length === bytes ? b.toString('hex') : v;
}

/** fixed64 times come as decimal strings in OTLP/JSON (a number is accepted too). */
function nanos(v: unknown): bigint {
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return 0n;
}

/** Decodes one ExportTraceServiceRequest in its JSON encoding. */
export function decodeTraceRequest(body: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  if (!isObj(body)) throw new Error('the request is not a JSON object');
  for (const rs of list(body['resourceSpans'])) {
    if (!isObj(rs)) continue;
    const resource = keyValues(isObj(rs['resource']) ? rs['resource']['attributes'] : undefined);
    for (const ss of list(rs['scopeSpans'])) {
      if (!isObj(ss)) continue;
      const scope = isObj(ss['scope']) && typeof ss['scope']['name'] === 'string' ? ss['scope']['name'] : '';
      for (const s of list(ss['spans'])) {
        if (!isObj(s)) continue;
        spans.push({
          traceId: otlpId(s['traceId'], 16),
          spanId: otlpId(s['spanId'], 8),
          parentSpanId: otlpId(s['parentSpanId'], 8),
          name: typeof s['name'] === 'string' ? s['name'] : '',
          kind: typeof s['kind'] === 'number' ? s['kind'] : 0,
          startTimeUnixNano: nanos(s['startTimeUnixNano']),
          endTimeUnixNano: nanos(s['endTimeUnixNano']),
          attributes: keyValues(s['attributes']),
          statusCode: isObj(s['status']) && typeof s['status']['code'] === 'number' ? s['status']['code'] : 0,
          resource, scope,
        });
      }
    }
  }
  return spans;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that could not be decoded, with why. */
  readonly rejected: string[] = [];
  /** The headers of the last accepted exports (at most 100). */
  readonly headers: http.IncomingHttpHeaders[] = [];
  readonly #server: http.Server;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  /** Listens on host (port 0 picks a free one). */
  static async start(host: string, port = 0): Promise<OtlpReceiver> {
    const server = http.createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => receiver.#handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return receiver;
  }

  /** `http://host:port/v1/traces`. */
  get url(): string {
    const a = this.#server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/v1/traces`;
  }

  #handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const fail = (status: number, why: string): void => {
      this.rejected.push(why);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, message: why }));
    };
    if (req.method !== 'POST' || req.url !== '/v1/traces') return fail(404, `${req.method ?? ''} ${req.url ?? ''} is not the traces endpoint`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type !== 'application/json') return fail(415, `content type ${type ?? ''} is not OTLP/JSON`);
    let spans: ReceivedSpan[];
    try {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      spans = decodeTraceRequest(JSON.parse(body.toString('utf8')) as unknown);
    } catch (err) {
      return fail(400, `undecodable export: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.spans.push(...spans);
    this.headers.push(req.headers);
    if (this.headers.length > 100) this.headers.shift();
    // An ExportTraceServiceResponse with no partialSuccess: everything was taken.
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
