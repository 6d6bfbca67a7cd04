// The CA's HTTPS endpoint: a proxy POSTs `{ csr, identity }` with its bearer token and gets
// back `{ certChain: [leaf, ...intermediates], rootCerts }`. The token says who is asking;
// the current mesh model says what that caller may hold: a ztunnel only identities of pods
// running on its node, a waypoint only its own identity.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SignOptions, SignedCertificate } from '#core/ca/authority.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { clientId } from '#core/config/protocol.ts';
import { errorMessage, isWeftError } from '#core/errors.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import { silentLogger } from '#core/log.ts';
import type { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import type { Counter } from '#core/telemetry/metrics.ts';
import type { MeshModel } from '#controller/model/types.ts';

export const CERTIFICATES_PATH = '/v1/certificates';

export interface Signer {
  readonly rootsPem: string[];
  sign(csrPem: string, opts: SignOptions): SignedCertificate;
}

export interface CaEndpointOptions {
  ca: Signer;
  /** The client a bearer token names, or undefined when the token is not valid (TokenReview answers later). */
  authenticate: (token: string) => ClientDescriptor | undefined | Promise<ClientDescriptor | undefined>;
  /** Identities the client may obtain right now. */
  identitiesFor: (client: ClientDescriptor) => Iterable<string>;
  logger?: Logger;
  metrics?: Registry;
  maxBodyBytes?: number;
  ttlSeconds?: number;
}

/** Node authorization: what a client may hold under the given model. */
export function authorizedIdentities(model: MeshModel | undefined, client: ClientDescriptor): string[] {
  if (model === undefined) return [];
  if (client.kind === 'ztunnel') return [...(model.identitiesByNode.get(client.node) ?? [])];
  return model.waypointIdentities.has(client.identity) ? [client.identity] : [];
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class CaEndpoint {
  readonly #opts: CaEndpointOptions;
  readonly #log: Logger;
  readonly #requests: Counter<'result'>;

  constructor(opts: CaEndpointOptions) {
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'ca-endpoint' });
    this.#requests = (opts.metrics ?? new Registry()).counter('weft_ca_requests_total', 'Certificate requests, by result.', ['result']);
  }

  /** Serves the request if it is for the certificates path; returns false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== CERTIFICATES_PATH) return false;
    this.#serve(req, res).catch((err: unknown) => {
      this.#log.error('certificate request failed', { err: errorMessage(err) });
      if (!res.headersSent) this.#reply(res, 500, { error: 'WEFT_ERR_CA_INTERNAL', message: 'internal error' });
    });
    return true;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress ?? '?';
    let caller: string | undefined;
    let requested: string | undefined;
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'WEFT_ERR_CA_METHOD', 'use POST');
      const auth = req.headers.authorization ?? '';
      const token = /^Bearer (\S+)$/i.exec(auth)?.[1];
      let client: ClientDescriptor | undefined;
      try {
        client = token === undefined ? undefined : await this.#opts.authenticate(token);
      } catch (err) {
        // The token could not be checked (the API server is away): not the caller's fault, so
        // not a 401, which would tell it to give up on its token.
        throw new HttpError(503, 'WEFT_ERR_TOKEN_REVIEW', errorMessage(err));
      }
      if (client === undefined) throw new HttpError(401, 'WEFT_ERR_CERT_AUTH', 'missing or invalid bearer token');
      caller = clientId(client);
      const body = await this.#readJson(req);
      const csr = body['csr'];
      const identity = body['identity'];
      if (typeof csr !== 'string' || typeof identity !== 'string') throw new HttpError(400, 'WEFT_ERR_BAD_CSR', 'body must be {"csr": string, "identity": string}');
      requested = identity;
      try {
        parseSpiffeId(identity);
      } catch (err) {
        throw new HttpError(400, 'WEFT_ERR_BAD_CSR', errorMessage(err));
      }
      const allowed = new Set(this.#opts.identitiesFor(client));
      if (!allowed.has(identity)) {
        throw new HttpError(403, 'WEFT_ERR_CSR_UNAUTHORIZED', client.kind === 'ztunnel'
          ? `node ${client.node} runs no pod with identity ${identity}`
          : `waypoint ${client.identity} may only obtain its own identity`);
      }
      let signed: SignedCertificate;
      try {
        // Only the requested identity is authorized, so the CSR must carry exactly that one.
        signed = this.#opts.ca.sign(csr, { authorizedIdentities: [identity], ...(this.#opts.ttlSeconds === undefined ? {} : { ttlSeconds: this.#opts.ttlSeconds }) });
      } catch (err) {
        if (isWeftError(err, 'WEFT_ERR_CSR_UNAUTHORIZED')) throw new HttpError(403, err.code, err.message);
        if (isWeftError(err, 'WEFT_ERR_BAD_CSR')) throw new HttpError(400, err.code, err.message);
        throw err;
      }
      this.#requests.inc({ result: 'issued' });
      this.#log.info('certificate issued', { caller, identity, notAfter: signed.notAfter.toISOString(), remote });
      this.#reply(res, 200, { certChain: [signed.certPem, ...signed.chainPem], rootCerts: this.#opts.ca.rootsPem });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const result = err.status === 401 ? 'unauthenticated' : err.status === 403 ? 'unauthorized' : err.status === 503 ? 'unavailable' : 'bad_request';
      this.#requests.inc({ result });
      this.#log.warn('certificate request refused', { caller, identity: requested, remote, status: err.status, code: err.code, message: err.message });
      this.#reply(res, err.status, { error: err.code, message: err.message });
    }
  }

  async #readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const type = req.headers['content-type'] ?? '';
    if (!type.toLowerCase().startsWith('application/json')) throw new HttpError(415, 'WEFT_ERR_BAD_CSR', 'content-type must be application/json');
    const text = await this.#readBody(req, this.#opts.maxBodyBytes ?? 64 * 1024);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'WEFT_ERR_BAD_CSR', 'body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'WEFT_ERR_BAD_CSR', 'body must be a JSON object');
    return { ...parsed };
  }

  /**
   * The request body, up to `limit` bytes. Past the limit it stops buffering and refuses at
   * once; the rest of the body is left for the HTTP server to discard, and #reply closes the
   * connection, since the unread bytes would otherwise be parsed as the next request.
   */
  #readBody(req: IncomingMessage, limit: number): Promise<string> {
    const tooLarge = (): HttpError => new HttpError(413, 'WEFT_ERR_BAD_CSR', `body exceeds ${limit} bytes`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer | string): void => {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        size += b.length;
        if (size > limit) {
          done();
          reject(tooLarge());
          return;
        }
        chunks.push(b);
      };
      const onEnd = (): void => {
        done();
        resolve(Buffer.concat(chunks).toString('utf8'));
      };
      const onAbort = (): void => {
        done();
        reject(new HttpError(400, 'WEFT_ERR_BAD_CSR', 'the request body was cut short'));
      };
      const done = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onAbort);
        req.off('error', onAbort);
      };
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('close', onAbort);
      req.once('error', onAbort);
    });
  }

  #reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' };
    // An answer sent before the whole request was read (413, or a refusal before the body)
    // ends the connection, as Go's HTTP server (Istio's istiod) does when a handler leaves a
    // body unread: kept alive, the connection would stall the client that reuses it.
    if (!res.req.complete) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end(text);
  }
}
