import type { Registry as PromRegistry } from 'prom-client';
import { promClient } from './packages.js';

/** A figure a component keeps anyway, exported as a metric read when scraped: no work per call. */
export interface SampledMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames?: string[];
  /** The values now: a number for a metric without labels, one entry per label set, or undefined for none. */
  read: () => number | undefined | { labels: Record<string, string>; value: number }[];
}

/**
 * Registers `m` in a prom-client Registry: a Counter or Gauge whose `collect()` sets it from
 * `read()` at every scrape (a counter's value is the cumulative figure read; negative and
 * non-finite values are left out).
 */
export function registerSampled(into: PromRegistry, m: SampledMetric): void {
  const prom = promClient();
  const fill = (put: (labels: Record<string, string>, value: number) => void): void => {
    const now = m.read();
    if (now === undefined) return;
    for (const { labels, value } of typeof now === 'number' ? [{ labels: {}, value: now }] : now) if (Number.isFinite(value)) put(labels, value);
  };
  const base = { name: m.name, help: m.help, labelNames: m.labelNames ?? [], registers: [into] };
  if (m.type === 'counter') {
    new prom.Counter({
      ...base,
      collect(this: import('prom-client').Counter) {
        this.reset();
        fill((labels, value) => this.inc(labels, Math.max(0, value)));
      },
    });
  } else {
    new prom.Gauge({
      ...base,
      collect(this: import('prom-client').Gauge) {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  }
}
