// A CertificateFetcher that asks the controller's CA over HTTPS: POST {csr, identity} as JSON
// with a bearer token, verify the controller against the mesh roots, read back
// {certChain (leaf first), rootCerts}. Anything the server sends is parsed from unknown.
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { CertificateFetcher, FetchedCertificate } from './fetcher.ts';

export interface HttpsFetcherOptions {
  /** The controller's CA endpoint, e.g. https://weft-controller.istio-system.svc:15010/v1/certificates */
  url: string | URL;
  /** Trust anchors for the controller's serving certificate (the mesh roots). */
  rootsPem: string[] | (() => string[]);
  /** Bearer token proving who is asking (a projected service account token). */
  token: string | (() => string | Promise<string>);
  /** When set, the controller is checked by this SPIFFE id in its URI SAN instead of by hostname. */
  serverIdentity?: string;
  /** Default 15 s. */
  timeoutMs?: number;
}

const MAX_BODY = 1 << 20;

export function httpsFetcher(opts: HttpsFetcherOptions): CertificateFetcher {
  const url = new URL(opts.url);
  if (url.protocol !== 'https:') throw new WeftError('WEFT_ERR_CERT_CONFIG', `certificate endpoint must be https, got ${url.href}`);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return async (csrPem, identity) => {
    const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
    const body = JSON.stringify({ csr: csrPem, identity });
    const ca = typeof opts.rootsPem === 'function' ? opts.rootsPem() : opts.rootsPem;
    const { status, text } = await post(url, body, {
      ca,
      token,
      timeoutMs,
      ...(opts.serverIdentity === undefined ? {} : { checkServerIdentity: spiffeServerCheck(opts.serverIdentity) }),
    });
    if (status < 200 || status > 299) throw httpError(url, status, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new WeftError('WEFT_ERR_CERT_FETCH', `certificate response from ${url.href} is not JSON: ${errorMessage(err)}`, { cause: err });
    }
    return parseCertificateResponse(parsed, url.href);
  };
}

/** Reads the CA's answer; the root may or may not be repeated at the end of certChain. */
export function parseCertificateResponse(body: unknown, from: string): FetchedCertificate {
  const bad = (why: string): WeftError => new WeftError('WEFT_ERR_CERT_FETCH', `bad certificate response from ${from}: ${why}`);
  if (typeof body !== 'object' || body === null) throw bad('not an object');
  const { certChain, rootCerts } = body as Record<string, unknown>;
  if (!isPemList(certChain) || certChain.length === 0) throw bad('certChain must be a non-empty list of PEM certificates');
  if (!isPemList(rootCerts) || rootCerts.length === 0) throw bad('rootCerts must be a non-empty list of PEM certificates');
  const rootKeys = new Set(rootCerts.map(normalize));
  const [certPem, ...rest] = certChain as [string, ...string[]];
  return { certPem, chainPem: rest.filter((c) => !rootKeys.has(normalize(c))), rootsPem: [...rootCerts] };
}

function isPemList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x.includes('-----BEGIN CERTIFICATE-----'));
}

function normalize(pem: string): string {
  return pem.replace(/\s+/g, '');
}

function httpError(url: URL, status: number, text: string): WeftError {
  let message = text.trim().slice(0, 500);
  let code: `WEFT_ERR_${string}` | undefined;
  try {
    const j: unknown = JSON.parse(text);
    if (typeof j === 'object' && j !== null) {
      const r = j as Record<string, unknown>;
      const m = typeof r['message'] === 'string' ? r['message'] : typeof r['error'] === 'string' ? r['error'] : undefined;
      if (m !== undefined) message = m;
      if (typeof r['code'] === 'string' && /^WEFT_ERR_[A-Z0-9_]+$/.test(r['code'])) code = r['code'] as `WEFT_ERR_${string}`;
    }
  } catch {
    // a plain-text body is the message as is
  }
  code ??= status === 403 ? 'WEFT_ERR_CSR_UNAUTHORIZED' : status === 401 ? 'WEFT_ERR_CERT_AUTH' : 'WEFT_ERR_CERT_FETCH';
  return new WeftError(code, `certificate request to ${url.href} failed with HTTP ${status}: ${message || '(no message)'}`);
}

function spiffeServerCheck(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const sans = (cert.subjectaltname ?? '').split(', ');
    return sans.includes(`URI:${expected}`)
      ? undefined
      : new WeftError('WEFT_ERR_CERT_FETCH', `controller presented ${cert.subjectaltname ?? 'no SAN'}, expected URI:${expected}`);
  };
}

function post(
  url: URL,
  body: string,
  o: { ca: string[]; token: string; timeoutMs: number; checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      ca: o.ca,
      timeout: o.timeoutMs,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${o.token}` },
      ...(o.checkServerIdentity === undefined ? {} : { checkServerIdentity: o.checkServerIdentity }),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new WeftError('WEFT_ERR_CERT_FETCH', `certificate response from ${url.href} exceeds ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new WeftError('WEFT_ERR_CERT_FETCH', `certificate request to ${url.href} timed out after ${o.timeoutMs} ms`)));
    req.on('error', (err) => {
      reject(err instanceof WeftError ? err : new WeftError('WEFT_ERR_CERT_FETCH', `certificate request to ${url.href} failed: ${errorMessage(err)}`, {
        hint: 'check that the controller is running and that nothing blocks the node from reaching it',
        cause: err,
      }));
    });
    req.end(body);
  });
}
