import type http from 'node:http';
import type { Registry as PromRegistry } from 'prom-client';
import { FastCounter, FastHistogram, type HistogramChild } from '../balance/fast-metrics.js';
import { promClient } from '../core/packages.js';
import { registerSampled, type SampledMetric } from '../core/sampled-metric.js';

/** Where every demo process serves Prometheus text, and the service meta that says so. */
export const METRICS_PATH = '/metrics';
export const METRICS_META = { metrics_path: METRICS_PATH } as const;

/**
 * prom-client's default process metrics (CPU, memory, event-loop lag, GC, handles), labelled
 * with the process's role, in `registry`. Its three gauges named `*_total`
 * (`nodejs_active_handles_total`, `…_requests_total`, `…_resources_total`) fail `promtool check
 * metrics` (a gauge must not end in _total) and repeat the per-type gauges beside them summed:
 * they are left out. Event-loop lag is sampled every 50 ms.
 */
export function withProcessMetrics(registry: PromRegistry, role: string): PromRegistry {
  const prom = promClient();
  registry.setDefaultLabels({ role });
  // The event-loop lag histogram samples every 50 ms, not prom-client's 10: at 10 ms its timer
  // alone kept each idle process at ~3 % of a core (the load shedder's sampler likewise).
  prom.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 50 });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  return registry;
}

/**
 * A demo process's `/metrics`: prom-client's default process metrics (CPU, memory, event-loop
 * lag, GC), requests by status and a latency histogram (counted in the request's path with the
 * gateway's lean counters), and the figures the process keeps anyway — sheds, checkpoints,
 * journal, quorum failures — read when Prometheus scrapes.
 */
export class DemoNodeMetrics {
  readonly registry: PromRegistry;
  private readonly requests: FastCounter;
  private readonly byCode = new Map<number, { value: number }>();
  private readonly duration: HistogramChild;

  constructor(readonly role: string, sampled: SampledMetric[] = []) {
    const prom = promClient();
    this.registry = withProcessMetrics(new prom.Registry(), role);
    this.requests = new FastCounter({ name: 'steadfast_demo_requests_total', help: 'Requests this process answered, by status code', labelNames: ['code'], registers: [this.registry] });
    this.duration = new FastHistogram({
      name: 'steadfast_demo_request_duration_seconds',
      help: 'Time from a request arriving to its answer being written',
      labelNames: [],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    }).child();
    for (const m of sampled) registerSampled(this.registry, m);
  }

  /** Counts `res` once it is answered: its status and how long it took. */
  track(res: http.ServerResponse): void {
    const start = performance.now();
    res.once('finish', () => {
      this.duration.observe((performance.now() - start) / 1000);
      let c = this.byCode.get(res.statusCode);
      if (!c) this.byCode.set(res.statusCode, (c = this.requests.child(String(res.statusCode))));
      c.value++;
    });
  }

  /** Answers `GET /metrics`; true when it did. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== METRICS_PATH) return false;
    const text = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
}

/** The admission door's counters (db and web nodes), as sampled metrics. */
export function admissionMetrics(stats: () => { admitted: number; shedByLimit: number; shedByHealth: number; expired: number; limit: number | null; inflight: number }): SampledMetric[] {
  return [
    { name: 'steadfast_demo_admitted_total', help: 'Requests let in by the admission door', type: 'counter', read: () => stats().admitted },
    {
      name: 'steadfast_demo_shed_total',
      help: 'Requests refused without work: limit (503, past the concurrency limit), health (503, process overloaded), deadline (504, caller gave up)',
      type: 'counter',
      labelNames: ['reason'],
      read: () => {
        const s = stats();
        return [
          { labels: { reason: 'limit' }, value: s.shedByLimit },
          { labels: { reason: 'health' }, value: s.shedByHealth },
          { labels: { reason: 'deadline' }, value: s.expired },
        ];
      },
    },
    { name: 'steadfast_demo_concurrency_limit', help: 'The adaptive concurrency limit now', type: 'gauge', read: () => stats().limit ?? undefined },
    { name: 'steadfast_demo_inflight', help: 'Requests being worked on now', type: 'gauge', read: () => stats().inflight },
  ];
}
