// Opens the mutual-TLS connection of an HBONE client: TCP (through the caller's dialer, e.g.
// inside a pod netns with SO_MARK), then TLS 1.3 with ALPN h2 and no SNI. The server is
// accepted only if its chain leads to the mesh roots and its SPIFFE id is exactly the one
// expected; host names play no part.
import net from 'node:net';
import tls from 'node:tls';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { HostPort } from '#core/hbone/authority.ts';
import { formatHostPort } from '#core/hbone/authority.ts';
import { HboneErrorCode } from '#core/hbone/errors.ts';
import { parseSubjectAltName } from '#core/hbone/peer-identity.ts';
import { HBONE_ALPN, type SecureContextCache } from '#core/hbone/tls-context.ts';

export type Dialer = (host: string, port: number) => Promise<net.Socket>;

export const defaultDialer: Dialer = (host, port) =>
  new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });

/** The check a client applies to the server certificate (after chain verification). */
export function checkServerSpiffeId(subjectAltName: string | undefined, expected: string): Error | undefined {
  const uris = parseSubjectAltName(subjectAltName ?? '').filter(([t]) => t === 'URI').map(([, v]) => v);
  if (uris.length === 1 && uris[0] === expected) return undefined;
  const got = uris.length === 0 ? 'no URI SAN' : uris.join(', ');
  return new WeftError(HboneErrorCode.peerIdentity, `HBONE server presented ${got}, expected ${expected}`,
    { hint: 'the address may now belong to another workload (stale endpoint), or the destination runs with another service account' });
}

export interface TlsDialRequest {
  cert: WorkloadCertificate;
  destinationIdentity: string;
  address: HostPort;
  dial: Dialer;
  contexts: SecureContextCache;
  timeoutMs: number;
}

export async function dialHboneTls(req: TlsDialRequest): Promise<tls.TLSSocket> {
  const endpoint = formatHostPort(req.address.host, req.address.port);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), req.timeoutMs);
  try {
    let raw: net.Socket;
    const dialing = req.dial(req.address.host, req.address.port);
    try {
      raw = await Promise.race([dialing, aborted(deadline.signal)]);
    } catch (err) {
      // A dial that completes after the deadline must not leak its socket.
      dialing.then((s) => s.destroy(), () => undefined);
      throw new WeftError(HboneErrorCode.connect, `cannot connect to HBONE endpoint ${endpoint}: ${errorMessage(err)}`,
        { hint: 'is port 15008 reachable? a NetworkPolicy may be blocking HBONE', cause: err });
    }
    raw.setNoDelay(true);
    // HTTP/2 has its own stream half-close; a TCP FIN from the server means the session is over,
    // and a half-open socket (the dialer's choice) would hide that from the HTTP/2 layer.
    raw.allowHalfOpen = false;
    let identityError: Error | undefined;
    const socket = tls.connect({
      socket: raw,
      secureContext: req.contexts.get(req.cert),
      ALPNProtocols: HBONE_ALPN,
      // No SNI: the server picks its certificate by destination address.
      servername: '',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        identityError = checkServerSpiffeId(cert.subjectaltname, req.destinationIdentity);
        return identityError;
      },
    });
    socket.allowHalfOpen = false;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => {
          socket.once('secureConnect', () => {
            socket.off('error', reject);
            resolve();
          });
          socket.once('error', reject);
        }),
        aborted(deadline.signal),
      ]);
    } catch (err) {
      socket.destroy();
      raw.destroy();
      if (identityError !== undefined) throw identityError;
      throw new WeftError(HboneErrorCode.tls, `TLS handshake with HBONE endpoint ${endpoint} failed: ${errorMessage(err)}`,
        { hint: 'check both sides trust the same mesh root and certificates are within their validity window', cause: err });
    }
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      throw new WeftError(HboneErrorCode.tls, `HBONE endpoint ${endpoint} did not negotiate ALPN h2`);
    }
    return socket;
  } finally {
    clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true });
  });
}
