// VirtualService fault injection, decided per request before it is routed (Envoy's fault
// filter): whether this request is held back and for how long, and whether it is answered
// here instead of being sent. Pure; the waypoint sleeps and answers.
import type { RouteFault } from '#core/config/routes.ts';
import { fractionHit } from '#waypoint/route/filters.ts';

/** What the fault filter does to one request; an empty object leaves it alone. */
export interface FaultDecision {
  /** Milliseconds to wait before going on (flag DI). */
  delayMs?: number;
  /** Answer instead of sending (flag FI). `grpcStatus` only for a gRPC request. */
  abort?: { status: number; grpcStatus?: number };
}

/**
 * gRPC code → the HTTP status a plain client sees when a gRPC abort hits a non-gRPC request
 * (the inverse of grpc/doc/http-grpc-status-mapping.md where it has one).
 */
const HTTP_FOR_GRPC: Readonly<Record<number, number>> = {
  0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

/**
 * Draws the delay and then the abort, each on its own fraction, as Envoy does. A gRPC abort
 * answers a gRPC request with HTTP 200 and that grpc-status; an HTTP abort of a gRPC request
 * is left to the usual HTTP → gRPC mapping.
 */
export function decideFault(fault: RouteFault | undefined, grpc: boolean, random: () => number): FaultDecision {
  const out: FaultDecision = {};
  if (fault === undefined) return out;
  if (fault.delay !== undefined && fractionHit(fault.delay.fraction, random)) out.delayMs = fault.delay.fixedDelay;
  const abort = fault.abort;
  if (abort !== undefined && fractionHit(abort.fraction, random)) {
    if ('httpStatus' in abort) out.abort = { status: abort.httpStatus };
    else out.abort = grpc ? { status: 200, grpcStatus: abort.grpcStatus } : { status: HTTP_FOR_GRPC[abort.grpcStatus] ?? 500 };
  }
  return out;
}

/** Envoy's order of response flags in a log line, for the ones the waypoint sets. */
const FLAG_ORDER = ['UH', 'UT', 'UR', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'RBAC', 'DC', 'URX'];

/** `flags` (`-` for none, else comma-joined) with `flag` added in Envoy's order. */
export function addResponseFlag(flags: string, flag: string): string {
  const set = new Set(flags === '-' || flags === '' ? [] : flags.split(','));
  set.add(flag);
  const rank = (f: string): number => {
    const i = FLAG_ORDER.indexOf(f);
    return i === -1 ? FLAG_ORDER.length : i;
  };
  return [...set].sort((a, b) => rank(a) - rank(b)).join(',');
}
