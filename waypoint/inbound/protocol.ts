// Which protocol a connection into the waypoint speaks: declared by the Service port
// (appProtocol, Istio's rules), otherwise detected from the client's first bytes. A port
// declared HTTP still takes HTTP/2 with prior knowledge, as Envoy's AUTO codec does.
export const Protocol = { http1: 'http1', http2: 'http2', tcp: 'tcp' } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * Istio's appProtocol values: `http`, `http2`/`h2c`/`grpc`/`grpc-web` (HTTP/2 to the
 * backend), `tcp` and friends (opaque); anything else, or none, is detected.
 */
export function declaredProtocol(appProtocol: string | undefined): Protocol | 'detect' {
  const p = appProtocol?.toLowerCase();
  if (p === undefined || p === '') return 'detect';
  if (p === 'http' || p === 'http1' || p === 'kubernetes.io/http') return Protocol.http1;
  if (p === 'http2' || p === 'h2c' || p === 'grpc' || p === 'grpc-web' || p === 'kubernetes.io/h2c') return Protocol.http2;
  if (p === 'tcp' || p === 'tls' || p === 'https' || p === 'mongo' || p === 'mysql' || p === 'redis') return Protocol.tcp;
  return 'detect';
}

const METHOD_LINE = /^[A-Z][A-Z-]{0,19} /;

/**
 * Decides from the first bytes; `more` when they are a prefix of both answers still
 * possible (a caller gives up waiting after a short time and treats it as TCP).
 */
export function detectProtocol(head: Buffer): Protocol | 'more' {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return head.length >= H2_PREFACE.length ? Protocol.http2 : 'more';
  const text = head.subarray(0, 24).toString('latin1');
  if (METHOD_LINE.test(text)) return Protocol.http1;
  // A method token still arriving: only capital letters so far.
  if (/^[A-Z-]{1,20}$/.test(text)) return 'more';
  return Protocol.tcp;
}

/**
 * For a port declared HTTP: HTTP/2 when the client opens with the preface, else HTTP/1.1.
 * Never TCP, so bytes that are not HTTP meet the HTTP/1.1 parser and get a 400.
 */
export function detectHttpVersion(head: Buffer): Protocol | 'more' {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (!head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return Protocol.http1;
  return head.length >= H2_PREFACE.length ? Protocol.http2 : 'more';
}
