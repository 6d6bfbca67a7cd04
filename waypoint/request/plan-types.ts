// What the waypoint does with one request, decided before any byte goes upstream: answer it
// here (redirect, 403, 404, 500), or forward it to a backend with the route's edits,
// timeouts, retries and mirrors. Plain data plus two header editors, so both HTTP/1.1 and
// HTTP/2 forwarders carry out the same plan.
import type { Service, Workload } from '#core/config/model.ts';

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
  | { kind: 'service'; serviceKey: string; port: number }
  | { kind: 'workload'; workload: Workload; port: number };

export interface RetryPlan {
  /** Extra attempts after the first. */
  attempts: number;
  /** Response codes that are retried (besides resets and connect failures). */
  codes: ReadonlySet<number>;
  backoffMs: number;
}

export interface MirrorPlan {
  backend: Backend;
}

export type Plan =
  | { kind: 'respond'; status: number; body: string; flags: string; headers?: Record<string, string>; route?: string }
  | {
    kind: 'forward';
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
