// HBONE error codes and the error a client gets for a non-200 CONNECT answer. Codes double
// as metric / access-log labels; `responseFlagFor` maps them to Istio's response_flags.
import { WeftError } from '#core/errors.ts';

export const HboneErrorCode = {
  /** 401: the destination's policy denied the tunnel. */
  denied: 'WEFT_ERR_HBONE_DENIED',
  /** 503: the destination could not reach the target. */
  upstream: 'WEFT_ERR_HBONE_UPSTREAM',
  /** 400: not CONNECT, or a bad :authority. */
  badRequest: 'WEFT_ERR_HBONE_BAD_REQUEST',
  /** Any other non-200 status. */
  status: 'WEFT_ERR_HBONE_STATUS',
  /** TCP connect to the HBONE endpoint failed or timed out. */
  connect: 'WEFT_ERR_HBONE_CONNECT',
  /** TLS handshake failed (bad chain, expired, wrong CA, protocol). */
  tls: 'WEFT_ERR_HBONE_TLS',
  /** The peer's certificate is valid but names the wrong (or no) SPIFFE id. */
  peerIdentity: 'WEFT_ERR_HBONE_PEER_IDENTITY',
  /** The HTTP/2 session or stream failed before or while tunnelling. */
  session: 'WEFT_ERR_HBONE_SESSION',
  /** The pool was closed. */
  closed: 'WEFT_ERR_HBONE_CLOSED',
} as const;
export type HboneErrorCode = (typeof HboneErrorCode)[keyof typeof HboneErrorCode];

/** Istio response_flags values the HBONE layer can produce. */
export type ResponseFlag = '-' | 'DENY' | 'CONNECT' | 'TLS_FAILURE' | 'BAD_REQUEST';

export class HboneStatusError extends WeftError {
  readonly status: number;
  constructor(code: HboneErrorCode, status: number, message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint });
    this.name = 'HboneStatusError';
    this.status = status;
  }
}

/** The client-side error for a CONNECT answered with `status` (never 200). */
export function errorForStatus(status: number, authority: string, endpoint: string): HboneStatusError {
  switch (status) {
    case 401:
      return new HboneStatusError(HboneErrorCode.denied, status, `HBONE CONNECT ${authority} via ${endpoint} denied (401)`,
        'an AuthorizationPolicy at the destination refused this source identity');
    case 503:
      return new HboneStatusError(HboneErrorCode.upstream, status, `HBONE CONNECT ${authority} via ${endpoint}: destination unreachable (503)`,
        'the destination proxy could not connect to the target port; is the app listening?');
    case 400:
      return new HboneStatusError(HboneErrorCode.badRequest, status, `HBONE CONNECT ${authority} via ${endpoint} rejected as a bad request (400)`,
        'the :authority must be ip:port');
    default:
      return new HboneStatusError(HboneErrorCode.status, status, `HBONE CONNECT ${authority} via ${endpoint} answered ${status}`);
  }
}

export function responseFlagFor(status: number): ResponseFlag {
  if (status === 200) return '-';
  if (status === 401) return 'DENY';
  if (status === 503) return 'CONNECT';
  if (status === 400) return 'BAD_REQUEST';
  return 'CONNECT';
}
