// Whether a failed attempt is tried again, for both retry dialects of the route table:
// GEP-1731 (listed status codes, and connection errors) and a VirtualService's Envoy
// retry conditions (`5xx`, `gateway-error`, `reset`, ...). Pure; the attempt loop asks.
import type { RetryCondition } from '#core/config/routes.ts';

export interface RetryRule {
  codes: ReadonlySet<number>;
  /** Envoy's conditions; absent: GEP-1731's rule. */
  on?: ReadonlySet<RetryCondition>;
}

/** How an attempt ended: a response (with grpc-status when its head carries one), or no response. */
export type AttemptOutcome =
  | { status: number; grpcStatus?: number }
  /** connect: no connection; reset: the connection broke before a response; timeout: the attempt's own timeout; refused: HTTP/2 REFUSED_STREAM. */
  | { failure: 'connect' | 'reset' | 'timeout' | 'refused' };

const GATEWAY_ERRORS: ReadonlySet<number> = new Set([502, 503, 504]);
/** Envoy's retriable-4xx is 409 alone. */
const RETRIABLE_4XX = 409;
const GRPC_CONDITIONS: Readonly<Partial<Record<RetryCondition, number>>> = {
  cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14,
};

export function retryWanted(rule: RetryRule, outcome: AttemptOutcome): boolean {
  const on = rule.on;
  if (on === undefined) return 'failure' in outcome || rule.codes.has(outcome.status);
  if ('failure' in outcome) {
    // Envoy counts any reset, a failed connection and a per-try timeout under 5xx, gateway-error and reset.
    if (on.has('5xx') || on.has('gateway-error') || on.has('reset')) return true;
    switch (outcome.failure) {
      case 'connect': return on.has('connect-failure') || on.has('reset-before-request');
      case 'refused': return on.has('refused-stream') || on.has('reset-before-request');
      default: return false;
    }
  }
  const { status, grpcStatus } = outcome;
  if (on.has('5xx') && status >= 500 && status <= 599) return true;
  if (on.has('gateway-error') && GATEWAY_ERRORS.has(status)) return true;
  if (on.has('retriable-4xx') && status === RETRIABLE_4XX) return true;
  if (on.has('retriable-status-codes') && rule.codes.has(status)) return true;
  if (grpcStatus !== undefined) {
    for (const c of on) if (GRPC_CONDITIONS[c] === grpcStatus) return true;
  }
  return false;
}
