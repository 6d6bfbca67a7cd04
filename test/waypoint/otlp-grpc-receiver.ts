// An OTLP/gRPC trace receiver for tests, standing in for a collector (none can be installed
// here). It serves the real TraceService/Export method over HTTP/2 with @grpc/grpc-js and
// decodes the real protobuf ExportTraceServiceRequest with protobufjs, from the message
// definitions below (the subset of opentelemetry-proto's trace, common and resource messages
// that spans carry; field numbers as the spec gives them). Decoded spans go through the same
// reading as the OTLP/JSON receiver's, by way of protobuf's JSON mapping.
import { Server, ServerCredentials, status, type Metadata, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { decodeTraceRequest, type ReceivedSpan } from './otlp-receiver.ts';

const PROTO = `
syntax = "proto3";
package opentelemetry.proto;
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
`;

const ExportRequest = protobuf.parse(PROTO).root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');

/** The method's path, as gRPC names TraceService/Export of opentelemetry.proto.collector.trace.v1. */
export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Decodes one protobuf ExportTraceServiceRequest. */
export function decodeProtobufTraceRequest(bytes: Buffer): ReceivedSpan[] {
  const message = ExportRequest.decode(bytes);
  return decodeTraceRequest(ExportRequest.toObject(message, { longs: String, bytes: String }));
}

export class OtlpGrpcReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that could not be decoded, with why. */
  readonly rejected: string[] = [];
  /** The metadata of the last accepted exports (at most 100), as header name → value. */
  readonly headers: Record<string, string>[] = [];
  readonly #server: Server;
  #host = '';
  #port = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on host (port 0 picks a free one), without TLS. */
  static async start(host: string, port = 0): Promise<OtlpGrpcReceiver> {
    const server = new Server();
    const receiver = new OtlpGrpcReceiver(server);
    const identity = (b: Buffer): Buffer => b;
    server.addService({
      Export: {
        path: TRACE_EXPORT_PATH, requestStream: false, responseStream: false,
        requestSerialize: identity, requestDeserialize: identity,
        // An empty ExportTraceServiceResponse (no partial_success): everything was taken.
        responseSerialize: () => Buffer.alloc(0), responseDeserialize: identity,
      },
    }, {
      Export: (call: ServerUnaryCall<Buffer, unknown>, done: sendUnaryData<unknown>) => receiver.#export(call, done),
    });
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
    });
    receiver.#host = host.includes(':') ? `[${host}]` : host;
    receiver.#port = bound;
    return receiver;
  }

  #export(call: ServerUnaryCall<Buffer, unknown>, done: sendUnaryData<unknown>): void {
    try {
      this.spans.push(...decodeProtobufTraceRequest(call.request));
    } catch (err) {
      const why = `undecodable export: ${err instanceof Error ? err.message : String(err)}`;
      this.rejected.push(why);
      done({ code: status.INVALID_ARGUMENT, details: why });
      return;
    }
    this.headers.push(metadataRecord(call.metadata));
    if (this.headers.length > 100) this.headers.shift();
    done(null, {});
  }

  /** `http://host:port`, what an OTLP/gRPC exporter is given. */
  get url(): string {
    return `http://${this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
  }
}

function metadataRecord(m: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.getMap())) out[k] = typeof v === 'string' ? v : v.toString('base64');
  return out;
}
