// What the waypoint does with one request, decided before any byte goes upstream: answer it
// here (redirect, 403, 404, 500), or forward it to a backend with the route's edits,
// timeouts, retries and mirrors. Plain data plus two header editors, so both HTTP/1.1 and
// HTTP/2 forwarders carry out the same plan.
import type { Service, Workload } from '#core/config/model.ts';
import type { RetryCondition } from '#core/config/routes.ts';

/** Lower-case header names; repeated headers as arrays. */
export type HeaderMap = Record<string, string | string[]>;

export interface RequestFacts {
  method: string;
  /** Path with query, as received. */
  path: string;
  /** `:authority` or Host. */
  authority: string;
  /** Lower-case name; repeated values joined with ",". */
  header: (name: string) => string | undefined;
  /** The port the client addressed (the Service port). */
  port: number;
  scheme: 'http' | 'https';
  /** The Service the client addressed, when it addressed one. */
  service?: Service;
  /** The pod the client addressed directly, when it did. */
  workload?: Workload;
}

export type Backend =
  /** `subset`: only that DestinationRule subset's endpoints (the table's `destinations` list them). */
  | { kind: 'service'; serviceKey: string; port: number; subset?: string }
  | { kind: 'workload'; workload: Workload; port: number };

export interface RetryPlan {
  /** Extra attempts after the first. */
  attempts: number;
  /** Response codes that are retried (besides resets and connect failures). */
  codes: ReadonlySet<number>;
  /** Envoy retry conditions (VirtualService); absent: `codes` and connection errors. */
  on?: ReadonlySet<RetryCondition>;
  backoffMs: number;
  /** Whether a retry avoids the endpoints already tried (when others are left). */
  avoidTried: boolean;
}

export interface MirrorPlan {
  backend: Backend;
}

export type Plan =
  | {
    kind: 'respond'; status: number; body: string; flags: string; headers?: Record<string, string>; route?: string;
    /** A gRPC request answered with this grpc-status (HTTP 200), as a fault abort does. */
    grpcStatus?: number;
    /** Held this long before the answer (a fault delay; flags then include DI). */
    delayMs?: number;
  }
  | {
    kind: 'forward';
    /** Held this long before it is sent (a fault delay, flag DI), outside the timeouts. */
    delayMs?: number;
    backend: Backend;
    /** The path to send (after rewrites). */
    path: string;
    /** The authority to send, when rewritten. */
    authority?: string;
    editRequest(headers: HeaderMap): void;
    editResponse(headers: HeaderMap): void;
    /** Whole request, including retries (HTTPRoute timeouts.request). */
    timeoutMs?: number;
    /** Each attempt (timeouts.backendRequest). */
    attemptTimeoutMs?: number;
    retry?: RetryPlan;
    mirrors: MirrorPlan[];
    route?: string;
  };

export const noEdit = (): void => undefined;
