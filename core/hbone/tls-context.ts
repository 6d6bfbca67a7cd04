// TLS parameters of HBONE (TLS 1.3 only, AES-GCM suites, ALPN h2) and a cache of secure
// contexts per workload certificate, so a context is built once per certificate rather
// than once per connection.
import tls from 'node:tls';
import type { WorkloadCertificate } from '#core/certs/types.ts';

export const HBONE_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384';
export const HBONE_ALPN = ['h2'];

const MAX_CACHED = 512;

/** Secure contexts keyed by the leaf PEM; oldest dropped past MAX_CACHED (renewed certs age out). */
export class SecureContextCache {
  readonly #contexts = new Map<string, tls.SecureContext>();

  get(cert: WorkloadCertificate): tls.SecureContext {
    const key = cert.certPem;
    let ctx = this.#contexts.get(key);
    if (ctx === undefined) {
      ctx = createHboneContext(cert);
      if (this.#contexts.size >= MAX_CACHED) {
        const oldest = this.#contexts.keys().next();
        if (oldest.done !== true) this.#contexts.delete(oldest.value);
      }
      this.#contexts.set(key, ctx);
    }
    return ctx;
  }

  get size(): number {
    return this.#contexts.size;
  }
}

/** What every HBONE TLS endpoint, client or server, is built from. */
export function hboneTlsOptions(cert: WorkloadCertificate): tls.SecureContextOptions {
  return {
    key: cert.keyPem,
    cert: [cert.certPem, ...cert.chainPem].join('\n'),
    ca: cert.rootsPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: HBONE_CIPHERSUITES,
    // No resumption, as in Istio: every connection authenticates with the current certificate.
    sessionTimeout: 0,
  };
}

export function createHboneContext(cert: WorkloadCertificate): tls.SecureContext {
  return tls.createSecureContext(hboneTlsOptions(cert));
}
