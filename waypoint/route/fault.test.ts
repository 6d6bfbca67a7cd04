// Fault injection decisions, table-driven: each of delay and abort fires on its own fraction
// (Envoy's fault filter, VirtualService HTTPFaultInjection), a gRPC abort answers a gRPC
// request with grpc-status and a plain one with the matching HTTP status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteFault } from '#core/config/routes.ts';
import { addResponseFlag, decideFault, type FaultDecision } from '#waypoint/route/fault.ts';

const all = { numerator: 100, denominator: 100 };
const none = { numerator: 0, denominator: 100 };
const tenth = { numerator: 10, denominator: 100 };

/** A random source that returns these values in turn. */
const draws = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++] ?? 0.99;
};

test('decideFault', () => {
  const rows: [string, RouteFault | undefined, boolean, number[], FaultDecision][] = [
    ['no fault', undefined, false, [], {}],
    ['delay for every request', { delay: { fixedDelay: 500, fraction: all } }, false, [], { delayMs: 500 }],
    ['delay for none', { delay: { fixedDelay: 500, fraction: none } }, false, [], {}],
    ['delay, draw inside 10 %', { delay: { fixedDelay: 7, fraction: tenth } }, false, [0.05], { delayMs: 7 }],
    ['delay, draw outside 10 %', { delay: { fixedDelay: 7, fraction: tenth } }, false, [0.1], {}],
    ['http abort', { abort: { httpStatus: 418, fraction: all } }, false, [], { abort: { status: 418 } }],
    ['http abort of a gRPC request keeps the HTTP status', { abort: { httpStatus: 503, fraction: all } }, true, [], { abort: { status: 503 } }],
    ['grpc abort of a gRPC request', { abort: { grpcStatus: 14, fraction: all } }, true, [], { abort: { status: 200, grpcStatus: 14 } }],
    ['grpc abort of a plain request maps to HTTP', { abort: { grpcStatus: 14, fraction: all } }, false, [], { abort: { status: 503 } }],
    ['grpc abort, unauthenticated', { abort: { grpcStatus: 16, fraction: all } }, false, [], { abort: { status: 401 } }],
    ['both, each on its own draw', { delay: { fixedDelay: 5, fraction: tenth }, abort: { httpStatus: 500, fraction: tenth } }, false, [0.5, 0.01],
      { abort: { status: 500 } }],
    ['both fire', { delay: { fixedDelay: 5, fraction: all }, abort: { httpStatus: 500, fraction: all } }, false, [], { delayMs: 5, abort: { status: 500 } }],
  ];
  for (const [name, fault, grpc, values, want] of rows) assert.deepEqual(decideFault(fault, grpc, draws(...values)), want, name);
});

test('decideFault: a 10 % abort hits about 10 % of requests', () => {
  let state = 1;
  // A fixed linear congruential sequence: the same numbers every run.
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (decideFault({ abort: { httpStatus: 500, fraction: tenth } }, false, random).abort !== undefined) hits++;
  assert.ok(Math.abs(hits - 1000) < 150, `${hits} of 10000`);
});

test('addResponseFlag: DI joins the other flags in Envoy\'s order', () => {
  const rows: [string, string, string][] = [
    ['-', 'DI', 'DI'],
    ['FI', 'DI', 'DI,FI'],
    ['UT', 'DI', 'UT,DI'],
    ['URX', 'DI', 'DI,URX'],
    ['DI', 'DI', 'DI'],
  ];
  for (const [flags, flag, want] of rows) assert.equal(addResponseFlag(flags, flag), want, `${flags} + ${flag}`);
});
