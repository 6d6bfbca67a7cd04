// A ztunnel with less or no metrics work, for measuring what metrics cost on the data path:
// preloaded into the ztunnels with
//   WEFT_ZTUNNEL_NODE_OPTIONS="--import $PWD/bench/node/no-metric-adds.ts"
// it makes every counter add and histogram observation a no-op (children included) and stops
// prom-client's default metrics from starting (their event-loop and GC observers), so a run
// with it against a run without it bounds what the metrics cost between scrapes from above.
// WEFT_BENCH_METRICS_OFF=adds or =defaults turns off only that half. Scrapes still answer;
// what is off stays at zero or absent. Bench only.
import client from 'prom-client';
import { Counter, Histogram } from '#core/telemetry/metrics.ts';
import type { CounterChild, HistogramChild } from '#core/telemetry/metrics.ts';

const off = process.env['WEFT_BENCH_METRICS_OFF'] ?? 'adds,defaults';

if (off.includes('adds')) {
  const counterChild: CounterChild = { inc: () => undefined };
  const histogramChild: HistogramChild = { observe: () => undefined };
  Counter.prototype.inc = function inc(): void {};
  Counter.prototype.child = function child(): CounterChild {
    return counterChild;
  };
  Histogram.prototype.observe = function observe(): void {};
  Histogram.prototype.child = function child(): HistogramChild {
    return histogramChild;
  };
}

// The CommonJS exports object, which core/telemetry/metrics.ts calls through.
if (off.includes('defaults')) Object.assign(client, { collectDefaultMetrics: (): void => undefined });
