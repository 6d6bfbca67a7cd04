// A small Prometheus registry: counters, gauges and histograms with fixed label names,
// rendered in the text exposition format (version 0.0.4). Hot-path cost of inc(): one
// string join and one Map lookup.

type Labels<K extends string> = Readonly<Record<K, string>>;

interface Metric {
  readonly name: string;
  render(out: string[]): void;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Series<K extends string, V> implements Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly K[];
  protected readonly series = new Map<string, { values: string[]; v: V }>();

  constructor(name: string, help: string, labelNames: readonly K[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  protected entry(labels: Labels<K>, init: () => V): { values: string[]; v: V } {
    const values = this.labelNames.map((n) => labels[n]);
    const key = values.join('\u0001');
    let e = this.series.get(key);
    if (e === undefined) {
      e = { values, v: init() };
      this.series.set(key, e);
    }
    return e;
  }

  /** Forget one labelled series (a pod that left, for gauges). */
  remove(labels: Labels<K>): void {
    this.series.delete(this.labelNames.map((n) => labels[n]).join('\u0001'));
  }

  abstract render(out: string[]): void;
}

export class Counter<K extends string = never> extends Series<K, { n: number }> {
  inc(labels: Labels<K>, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).v.n += by;
  }

  get(labels: Labels<K>): number {
    return this.series.get(this.labelNames.map((n) => labels[n]).join('\u0001'))?.v.n ?? 0;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { values, v } of this.series.values()) out.push(`${this.name}${labelText(this.labelNames, values)} ${v.n}`);
  }
}

export class Gauge<K extends string = never> extends Series<K, { n: number }> {
  readonly #collect: ((g: Gauge<K>) => void) | undefined;

  constructor(name: string, help: string, labelNames: readonly K[], collect?: (g: Gauge<K>) => void) {
    super(name, help, labelNames);
    this.#collect = collect;
  }

  set(labels: Labels<K>, value: number): void {
    this.entry(labels, () => ({ n: 0 })).v.n = value;
  }

  inc(labels: Labels<K>, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).v.n += by;
  }

  dec(labels: Labels<K>, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).v.n -= by;
  }

  get(labels: Labels<K>): number {
    return this.series.get(this.labelNames.map((n) => labels[n]).join('\u0001'))?.v.n ?? 0;
  }

  render(out: string[]): void {
    // A gauge with a collect function reads its value when scraped, so it is never stale.
    this.#collect?.(this);
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { values, v } of this.series.values()) out.push(`${this.name}${labelText(this.labelNames, values)} ${v.n}`);
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<K extends string = never> extends Series<K, HistogramState> {
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly K[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<K>, value: number): void {
    const s = this.entry(labels, () => ({ counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 })).v;
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { values, v } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += v.counts[i] ?? 0;
        out.push(`${this.name}_bucket${labelText(this.labelNames, values, `le="${b}"`)} ${cumulative}`);
      });
      out.push(`${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${v.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${v.sum}`);
      out.push(`${this.name}_count${labelText(this.labelNames, values)} ${v.count}`);
    }
  }
}

export class Registry {
  readonly #metrics = new Map<string, Metric>();

  #add<M extends Metric>(m: M): M {
    if (this.#metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.#metrics.set(m.name, m);
    return m;
  }

  counter<K extends string = never>(name: string, help: string, labelNames: readonly K[] = []): Counter<K> {
    return this.#add(new Counter<K>(name, help, labelNames));
  }

  /** `collect`, when given, runs at every scrape to set the gauge from live state. */
  gauge<K extends string = never>(name: string, help: string, labelNames: readonly K[] = [], collect?: (g: Gauge<K>) => void): Gauge<K> {
    return this.#add(new Gauge<K>(name, help, labelNames, collect));
  }

  histogram<K extends string = never>(name: string, help: string, labelNames: readonly K[], buckets: readonly number[]): Histogram<K> {
    return this.#add(new Histogram<K>(name, help, labelNames, buckets));
  }

  /** Prometheus text exposition. */
  render(): string {
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.render(out);
    return out.join('\n') + '\n';
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
