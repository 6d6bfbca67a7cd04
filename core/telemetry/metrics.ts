// Every component's metrics go through prom-client, behind a small typed API: counters,
// gauges and histograms with fixed label names, gauges that read live state when scraped
// (`collect`, no timers), and the default process/nodejs metrics on each registry. Label
// children (`child(labels)`) let a connection bind its label set once and then only add;
// counters keep their hot-path adds out of prom-client until it collects (see Counter).
import client from 'prom-client';

type Labels<K extends string> = Readonly<Record<K, string>>;

export const PROMETHEUS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;

/** A counter bound to one label set. */
export interface CounterChild {
  inc(by?: number): void;
}

/** A histogram bound to one label set. */
export interface HistogramChild {
  observe(value: number): void;
}

/** One series of a metric as prom-client reports it (histograms list `_bucket`, `_sum`, `_count`). */
export interface SeriesValue {
  readonly name: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

async function seriesOf(metric: client.Metric): Promise<SeriesValue[]> {
  const got = await metric.get();
  return got.values.map((v) => {
    const named = v as { metricName?: string };
    return { name: named.metricName ?? got.name, labels: v.labels as Record<string, string | number>, value: v.value };
  });
}

/** The value of the series whose labels are exactly `labels` (0 when none). */
async function valueOf(metric: client.Metric, labels: Readonly<Record<string, string>>, name?: string): Promise<number> {
  const want = Object.entries(labels);
  for (const s of await seriesOf(metric)) {
    if (name !== undefined && s.name !== name) continue;
    const keys = Object.keys(s.labels).filter((k) => k !== 'le');
    if (keys.length === want.length && want.every(([k, v]) => String(s.labels[k]) === v)) return s.value;
  }
  return 0;
}

interface CounterCell<K extends string> {
  readonly labels: Labels<K>;
  pending: number;
}

/**
 * A counter whose adds land in a per-label-set cell (one string key and a Map lookup, or
 * nothing at all through a child) and reach prom-client when it collects, at scrape time.
 * prom-client's own inc() hashes and validates every label on every call, which costs a
 * connection with Istio's 19 labels several microseconds per add.
 */
export class Counter<K extends string = never> {
  readonly name: string;
  readonly #c: client.Counter<K>;
  readonly #labelNames: readonly K[];
  readonly #cells = new Map<string, CounterCell<K>>();

  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly K[]) {
    this.name = name;
    this.#labelNames = labelNames;
    this.#c = new client.Counter<K>({ name, help, labelNames, registers: [registry], collect: () => this.#flush() });
  }

  #key(labels: Labels<K>): string {
    let key = '';
    for (const n of this.#labelNames) key += `${labels[n]}\u0001`;
    return key;
  }

  #cell(labels: Labels<K>, key = this.#key(labels)): CounterCell<K> {
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { labels: { ...labels }, pending: 0 };
      this.#cells.set(key, cell);
      // The series exists from its first add, as prom-client would show it.
      this.#c.inc(cell.labels, 0);
    }
    return cell;
  }

  #child(cell: CounterCell<K>): CounterChild {
    return {
      inc: (by = 1) => {
        if (!(by >= 0)) throw new RangeError(`counter ${this.name} cannot add ${by}`);
        cell.pending += by;
      },
    };
  }

  /**
   * Children of several counters for one label set, the label key made once when they share
   * their label names (a connection's opened, sent, received and closed counters).
   */
  static children<K extends string>(counters: readonly Counter<K>[], labels: Labels<K>): CounterChild[] {
    const lead = counters[0];
    if (lead === undefined) return [];
    const names = lead.#labelNames;
    const key = lead.#key(labels);
    return counters.map((c) => {
      const same = c.#labelNames === names || (c.#labelNames.length === names.length && c.#labelNames.every((n, i) => n === names[i]));
      return c.#child(c.#cell(labels, same ? key : c.#key(labels)));
    });
  }

  #flush(): void {
    for (const cell of this.#cells.values()) {
      if (cell.pending === 0) continue;
      this.#c.inc(cell.labels, cell.pending);
      cell.pending = 0;
    }
  }

  inc(labels: Labels<K>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`counter ${this.name} cannot add ${by}`);
    this.#cell(labels).pending += by;
  }

  /** The counter for one label set, bound once: each add is a number added to a cell. */
  child(labels: Labels<K>): CounterChild {
    return this.#child(this.#cell(labels));
  }

  /** Forgets one series (a child still bound to it adds to nothing from then on). */
  remove(labels: Labels<K>): void {
    this.#cells.delete(this.#key(labels));
    this.#c.remove(labels);
  }

  /** The current value for one label set (tests, the dashboard). */
  value(labels: Labels<K>): Promise<number> {
    return valueOf(this.#c, labels);
  }

  /** Totals grouped by one label (e.g. per reporter). */
  async sumBy(label: K): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const s of await seriesOf(this.#c)) {
      const key = String(s.labels[label] ?? '');
      out.set(key, (out.get(key) ?? 0) + s.value);
    }
    return out;
  }
}

export class Gauge<K extends string = never> {
  readonly name: string;
  readonly #g: client.Gauge<K>;

  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly K[], collect?: (g: Gauge<K>) => void | Promise<void>) {
    this.name = name;
    this.#g = new client.Gauge<K>({
      name, help, labelNames, registers: [registry],
      ...(collect === undefined ? {} : { collect: () => collect(this) }),
    });
  }

  set(labels: Labels<K>, value: number): void {
    this.#g.set(labels, value);
  }

  inc(labels: Labels<K>, by = 1): void {
    this.#g.inc(labels, by);
  }

  dec(labels: Labels<K>, by = 1): void {
    this.#g.dec(labels, by);
  }

  /** Forget one labelled series (a pod that left). */
  remove(labels: Labels<K>): void {
    this.#g.remove(labels);
  }

  /** Forget every series (a collect function that rebuilds the whole set). */
  reset(): void {
    this.#g.reset();
  }

  value(labels: Labels<K>): Promise<number> {
    return valueOf(this.#g, labels);
  }
}

export class Histogram<K extends string = never> {
  readonly name: string;
  readonly buckets: readonly number[];
  readonly #h: client.Histogram<K>;

  constructor(h: client.Histogram<K>, name: string, buckets: readonly number[]) {
    this.#h = h;
    this.name = name;
    this.buckets = buckets;
  }

  observe(labels: Labels<K>, value: number): void {
    this.#h.observe(labels, value);
  }

  child(labels: Labels<K>): HistogramChild {
    return this.#h.labels(labels);
  }

  /** How many observations one label set has. */
  count(labels: Labels<K>): Promise<number> {
    return valueOf(this.#h, labels, `${this.name}_count`);
  }
}

export interface RegistryOptions {
  /**
   * prom-client's default process and nodejs metrics (process_cpu_seconds_total,
   * process_resident_memory_bytes, process_open_fds, nodejs_eventloop_lag_seconds, heap,
   * GC, ...). On by default: every component exports them.
   */
  processMetrics?: boolean;
}

export class Registry {
  /** The prom-client registry underneath, for callers that need the full library. */
  readonly prom: client.Registry;

  constructor(opts: RegistryOptions = {}) {
    this.prom = new client.Registry();
    if (opts.processMetrics ?? true) client.collectDefaultMetrics({ register: this.prom });
  }

  #claim(name: string): void {
    if (this.prom.getSingleMetric(name) !== undefined) throw new Error(`metric ${name} registered twice`);
  }

  counter<K extends string = never>(name: string, help: string, labelNames: readonly K[] = []): Counter<K> {
    this.#claim(name);
    return new Counter<K>(this.prom, name, help, labelNames);
  }

  /**
   * `collect`, when given, runs at every scrape to set the gauge from live state; it may be
   * async (the scrape waits for it).
   */
  gauge<K extends string = never>(name: string, help: string, labelNames: readonly K[] = [], collect?: (g: Gauge<K>) => void | Promise<void>): Gauge<K> {
    this.#claim(name);
    return new Gauge<K>(this.prom, name, help, labelNames, collect);
  }

  histogram<K extends string = never>(name: string, help: string, labelNames: readonly K[], buckets: readonly number[]): Histogram<K> {
    this.#claim(name);
    const sorted = [...buckets].sort((a, b) => a - b);
    return new Histogram<K>(new client.Histogram<K>({ name, help, labelNames, buckets: sorted, registers: [this.prom] }), name, sorted);
  }

  /** Prometheus text exposition (version 0.0.4), collect functions run first. */
  render(): Promise<string> {
    return this.prom.metrics();
  }

  readonly contentType: string = PROMETHEUS_CONTENT_TYPE;
}
