// Retry decisions, table-driven, from Envoy's x-envoy-retry-on / x-envoy-retry-grpc-on
// condition list as VirtualService retries.retryOn names them, and GEP-1731's default rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryCondition } from '#core/config/routes.ts';
import { retryWanted, type AttemptOutcome, type RetryRule } from '#waypoint/route/retry.ts';

const rule = (on: RetryCondition[] | undefined, codes: number[] = []): RetryRule =>
  on === undefined ? { codes: new Set(codes) } : { codes: new Set(codes), on: new Set(on) };

const connect: AttemptOutcome = { failure: 'connect' };
const reset: AttemptOutcome = { failure: 'reset' };
const timeout: AttemptOutcome = { failure: 'timeout' };
const refused: AttemptOutcome = { failure: 'refused' };
const status = (s: number, grpcStatus?: number): AttemptOutcome => (grpcStatus === undefined ? { status: s } : { status: s, grpcStatus });

test('retryWanted', () => {
  const rows: [string, RetryRule, AttemptOutcome, boolean][] = [
    ['GEP-1731: a listed code', rule(undefined, [500, 503]), status(503), true],
    ['GEP-1731: an unlisted code', rule(undefined, [500]), status(502), false],
    ['GEP-1731: connection errors', rule(undefined, []), reset, true],
    ['GEP-1731: connect failure', rule(undefined, []), connect, true],
    ['5xx: 500', rule(['5xx']), status(500), true],
    ['5xx: 599', rule(['5xx']), status(599), true],
    ['5xx: not 404', rule(['5xx']), status(404), false],
    ['5xx: reset', rule(['5xx']), reset, true],
    ['5xx: connect failure', rule(['5xx']), connect, true],
    ['5xx: per-try timeout', rule(['5xx']), timeout, true],
    ['gateway-error: 502', rule(['gateway-error']), status(502), true],
    ['gateway-error: 504', rule(['gateway-error']), status(504), true],
    ['gateway-error: not 500', rule(['gateway-error']), status(500), false],
    ['gateway-error: reset', rule(['gateway-error']), reset, true],
    ['reset: reset', rule(['reset']), reset, true],
    ['reset: not a 503', rule(['reset']), status(503), false],
    ['connect-failure: connect failure', rule(['connect-failure']), connect, true],
    ['connect-failure: not a reset', rule(['connect-failure']), reset, false],
    ['connect-failure: not a 503', rule(['connect-failure']), status(503), false],
    ['reset-before-request: connect failure', rule(['reset-before-request']), connect, true],
    ['reset-before-request: not a reset after sending', rule(['reset-before-request']), reset, false],
    ['refused-stream', rule(['refused-stream']), refused, true],
    ['refused-stream: not a reset', rule(['refused-stream']), reset, false],
    ['retriable-4xx: 409', rule(['retriable-4xx']), status(409), true],
    ['retriable-4xx: not 429', rule(['retriable-4xx']), status(429), false],
    ['retriable-status-codes', rule(['retriable-status-codes'], [429]), status(429), true],
    ['retriable-status-codes: not others', rule(['retriable-status-codes'], [429]), status(500), false],
    ['codes without the condition are not retried', rule(['reset'], [503]), status(503), false],
    ['unavailable: grpc-status 14', rule(['unavailable']), status(200, 14), true],
    ['cancelled: grpc-status 1', rule(['cancelled']), status(200, 1), true],
    ['deadline-exceeded: grpc-status 4', rule(['deadline-exceeded']), status(200, 4), true],
    ['resource-exhausted: grpc-status 8', rule(['resource-exhausted']), status(200, 8), true],
    ['internal: grpc-status 13', rule(['internal']), status(200, 13), true],
    ['unavailable: not grpc-status 13', rule(['unavailable']), status(200, 13), false],
    ['no conditions: nothing is retried', rule([]), reset, false],
    ['several conditions', rule(['connect-failure', 'retriable-4xx']), status(409), true],
  ];
  for (const [name, r, outcome, want] of rows) assert.equal(retryWanted(r, outcome), want, name);
});
