import type { Registry as PromRegistry } from 'prom-client';
import { OptionRangeError } from '../core/errors.js';

/**
 * Counters and a histogram for the gateway's hot path, registered in a prom-client Registry
 * (they implement the part of its metric interface that the registry reads: `name`, `get()`,
 * `reset()`), so `/metrics` and `registry.metrics()` show them like any other metric.
 *
 * Why not prom-client's own: its `labels(...).inc()` hashes the label values on every call,
 * and a histogram's observe() does that plus a bucket search — per request, at ten thousand
 * requests a second, that was a measurable share of the gateway's CPU. Here a labelled child
 * is looked up once and kept; counting is `child.value++`.
 */
interface Child {
  labels: Record<string, string>;
  value: number;
}

abstract class FastMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registers: PromRegistry[],
  ) {
    for (const r of registers) r.registerMetric(this as never);
  }

  protected labelsOf(values: readonly string[]): Record<string, string> {
    if (values.length !== this.labelNames.length) throw new OptionRangeError(`${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    const labels: Record<string, string> = {};
    this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
    return labels;
  }

  abstract reset(): void;
}

export class FastCounter extends FastMetric {
  private readonly children = new Map<string, Child>();

  constructor(o: { name: string; help: string; labelNames: readonly string[]; registers: PromRegistry[] }) {
    super(o.name, o.help, o.labelNames, o.registers);
  }

  /** The counter for these label values; keep it, and count with `child.value++`. */
  child(...values: string[]): Child {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = { labels: this.labelsOf(values), value: 0 }));
    return c;
  }

  get(): { name: string; help: string; type: 'counter'; aggregator: 'sum'; values: { labels: Record<string, string>; value: number }[] } {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.children.values()].map((c) => ({ labels: c.labels, value: c.value })) };
  }

  reset(): void {
    for (const c of this.children.values()) c.value = 0;
  }
}

export interface HistogramChild {
  /** Records one observation, in seconds. */
  observe(seconds: number): void;
}

export class FastHistogram extends FastMetric {
  private readonly children = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number; observe: (s: number) => void }>();

  constructor(o: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registers: PromRegistry[] }) {
    super(o.name, o.help, o.labelNames, o.registers);
    this.buckets = [...o.buckets].sort((a, b) => a - b);
  }

  private readonly buckets: number[];

  child(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) {
      const counts = new Float64Array(this.buckets.length);
      const buckets = this.buckets;
      const entry = {
        labels: this.labelsOf(values),
        counts,
        sum: 0,
        count: 0,
        observe: (s: number): void => {
          entry.sum += s;
          entry.count++;
          // Few buckets: a linear scan beats a binary search.
          for (let i = 0; i < buckets.length; i++) {
            if (s <= buckets[i]!) {
              counts[i]!++;
              return;
            }
          }
        },
      };
      this.children.set(key, (c = entry));
    }
    return c;
  }

  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const c of this.children.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: '+Inf' }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    for (const c of this.children.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
