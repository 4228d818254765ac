import type { Registry as PromRegistry } from 'prom-client';
import { InvalidOptionError } from '../core/errors.js';
import { registerSampled } from '../core/sampled-metric.js';
import { AdaptiveLimitPolicy } from './adaptive-limit.js';
import { BulkheadPolicy } from './bulkhead.js';
import { CircuitBreakerPolicy, type CircuitState } from './circuit-breaker.js';
import { FallbackPolicy } from './fallback.js';
import { HedgePolicy } from './hedge.js';
import { LoadShedder } from './load-shedder.js';
import { RateLimitPolicy } from './rate-limit.js';
import { RetryPolicy } from './retry.js';
import { TimeoutPolicy } from './timeout.js';
import { WrappedPolicy } from './wrap.js';

/** The policies whose figures can be exported (a `wrap(...)` adds each policy inside it). */
export type MeteredPolicy = RetryPolicy | CircuitBreakerPolicy | TimeoutPolicy | BulkheadPolicy | HedgePolicy | FallbackPolicy<unknown> | RateLimitPolicy | AdaptiveLimitPolicy | LoadShedder | WrappedPolicy;

type Kind = 'retry' | 'circuitBreaker' | 'timeout' | 'bulkhead' | 'hedge' | 'fallback' | 'rateLimit' | 'adaptiveLimit' | 'loadShedder';

interface MetricDef {
  /** OpenTelemetry name (dots); the Prometheus name is it with `_` for `.`, and `_total` for counters. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  /** Labels besides `policy` and `kind`. */
  extra?: string;
}

/** What every policy reports. Counters are cumulative since the policy was made; gauges are now. */
export const POLICY_METRICS = {
  calls: { name: 'steadfast.policy.calls', help: 'Calls that went through the policy', type: 'counter' },
  successes: { name: 'steadfast.policy.successes', help: 'Calls that succeeded (retry: in the end; breaker: each call)', type: 'counter' },
  failures: { name: 'steadfast.policy.failures', help: 'Calls that failed (retry: after its last attempt)', type: 'counter' },
  rejections: { name: 'steadfast.policy.rejections', help: 'Calls refused without running: an open breaker, a full bulkhead, a rate or concurrency limit, shed load', type: 'counter' },
  retries: { name: 'steadfast.policy.retries', help: 'Attempts made again after a failure', type: 'counter' },
  gaveUp: { name: 'steadfast.policy.gave_up', help: 'Retries that stopped (attempts or Retry-After exhausted)', type: 'counter' },
  hedges: { name: 'steadfast.policy.hedges', help: 'Extra attempts started by a hedge', type: 'counter' },
  hedgeWins: { name: 'steadfast.policy.hedge_wins', help: 'Calls won by a hedged attempt, not the first', type: 'counter' },
  timeouts: { name: 'steadfast.policy.timeouts', help: 'Calls still running when their deadline passed', type: 'counter' },
  fallbacks: { name: 'steadfast.policy.fallbacks', help: 'Failed calls answered by the fallback', type: 'counter' },
  drops: { name: 'steadfast.policy.drops', help: 'Calls the adaptive limit counted as dropped (overload signals)', type: 'counter' },
  breakerState: { name: 'steadfast.policy.breaker_state', help: 'The circuit state: 1 for the current one, 0 for the others', type: 'gauge', extra: 'state' },
  breakerTransitions: { name: 'steadfast.policy.breaker_transitions', help: 'Times the circuit went into each state', type: 'counter', extra: 'state' },
  limit: { name: 'steadfast.policy.limit', help: 'The adaptive concurrency limit now', type: 'gauge' },
  inflight: { name: 'steadfast.policy.inflight', help: 'Calls running now (adaptive limit, bulkhead)', type: 'gauge' },
  queued: { name: 'steadfast.policy.queued', help: 'Calls waiting for a bulkhead slot now', type: 'gauge' },
  tokens: { name: 'steadfast.policy.tokens', help: 'Tokens in the rate limiter bucket now', type: 'gauge' },
  overloaded: { name: 'steadfast.policy.overloaded', help: '1 while the load shedder measures overload', type: 'gauge' },
} as const satisfies Record<string, MetricDef>;

type MetricKey = keyof typeof POLICY_METRICS;
type Sample = { key: MetricKey; labels: Record<string, string>; value: number };

const STATES: readonly CircuitState[] = ['closed', 'open', 'halfOpen', 'isolated'];
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function kindOf(p: unknown): Kind | undefined {
  if (p instanceof RetryPolicy) return 'retry';
  if (p instanceof CircuitBreakerPolicy) return 'circuitBreaker';
  if (p instanceof TimeoutPolicy) return 'timeout';
  if (p instanceof BulkheadPolicy) return 'bulkhead';
  if (p instanceof HedgePolicy) return 'hedge';
  if (p instanceof FallbackPolicy) return 'fallback';
  if (p instanceof RateLimitPolicy) return 'rateLimit';
  if (p instanceof AdaptiveLimitPolicy) return 'adaptiveLimit';
  if (p instanceof LoadShedder) return 'loadShedder';
  return undefined;
}

/** One policy's figures now, read from its `stats` (which it keeps anyway): nothing is added to its call path. */
function read(kind: Kind, p: unknown, base: Record<string, string>): Sample[] {
  const out: Sample[] = [];
  const put = (key: MetricKey, value: number | undefined, extra?: Record<string, string>): void => {
    if (value !== undefined && Number.isFinite(value)) out.push({ key, labels: extra ? { ...base, ...extra } : base, value });
  };
  switch (kind) {
    case 'retry': {
      const s = (p as RetryPolicy).stats;
      put('calls', s.calls), put('successes', s.successes), put('failures', s.failures), put('retries', s.retries), put('gaveUp', s.givenUp);
      break;
    }
    case 'circuitBreaker': {
      const b = p as CircuitBreakerPolicy;
      const s = b.stats;
      put('calls', s.calls), put('successes', s.successes), put('failures', s.failures), put('rejections', s.rejections);
      for (const st of STATES) put('breakerState', b.state === st ? 1 : 0, { state: snake(st) });
      put('breakerTransitions', s.opened, { state: 'open' }), put('breakerTransitions', s.halfOpened, { state: 'half_open' }), put('breakerTransitions', s.closed, { state: 'closed' });
      break;
    }
    case 'timeout': {
      const s = (p as TimeoutPolicy).stats;
      put('calls', s.calls), put('timeouts', s.timeouts);
      break;
    }
    case 'bulkhead': {
      const s = (p as BulkheadPolicy).stats;
      put('calls', s.calls), put('rejections', s.rejections), put('inflight', s.executing), put('queued', s.queued);
      break;
    }
    case 'hedge': {
      const s = (p as HedgePolicy).stats;
      put('calls', s.calls), put('failures', s.failures), put('hedges', s.hedges), put('hedgeWins', s.hedgeWins);
      break;
    }
    case 'fallback': {
      const s = (p as FallbackPolicy<unknown>).stats;
      put('calls', s.calls), put('fallbacks', s.fallbacks);
      break;
    }
    case 'rateLimit': {
      const s = (p as RateLimitPolicy).stats;
      put('calls', s.calls), put('rejections', s.rejections), put('tokens', s.tokens);
      break;
    }
    case 'adaptiveLimit': {
      const s = (p as AdaptiveLimitPolicy).stats;
      put('calls', s.calls), put('rejections', s.rejections), put('drops', s.drops), put('limit', s.limit), put('inflight', s.inflight);
      break;
    }
    case 'loadShedder': {
      const s = (p as LoadShedder).stats;
      put('calls', s.admitted + s.shed), put('rejections', s.shed), put('overloaded', s.overloaded ? 1 : 0);
      break;
    }
  }
  return out;
}

/** An OpenTelemetry instrument, as far as this module uses it. */
export type OtelObservable = object;
/**
 * The part of an OpenTelemetry `Meter` (@opentelemetry/api ≥ 1.4, `metrics.getMeter(name)`) this
 * module calls — declared here so that TypeScript users without the package are not asked for it.
 */
export interface OtelMeter {
  createObservableCounter(name: string, options?: { description?: string }): OtelObservable;
  createObservableGauge(name: string, options?: { description?: string }): OtelObservable;
  addBatchObservableCallback(callback: (result: { observe(observable: OtelObservable, value: number, attributes?: Record<string, string>): void }) => void, observables: OtelObservable[]): void;
}

export interface PolicyMetricsOptions {
  /** Export to this prom-client Registry (`steadfast_policy_calls_total{policy,kind}`, …). */
  registry?: PromRegistry;
  /** Export through this OpenTelemetry Meter (`steadfast.policy.calls` with attributes policy, kind; @opentelemetry/api). */
  meter?: OtelMeter;
}

const NAME_RE = /^[A-Za-z0-9_.:/-]{1,128}$/;

/**
 * Exports what policies did — calls, successes, failures, rejections, retries, hedges, timeouts,
 * fallbacks, the breaker's state and transitions, the adaptive limit, bulkhead and shedder
 * levels — to prom-client and/or OpenTelemetry, labelled with the name you give and the
 * policy's kind. The figures are read from each policy's `stats` when a scrape or a metric
 * reader collects: the call path does no extra work, with an exporter attached or without one.
 *
 * ```ts
 * const metrics = policyMetrics({ registry: promRegister, meter: metrics.getMeter('app') });
 * metrics.add('db', wrap(retry(), circuitBreaker({ … }), timeout(500)));
 * ```
 */
export class PolicyMetrics {
  private readonly policies = new Map<string, { kind: Kind; policy: unknown; labels: Record<string, string> }>();

  constructor(options: PolicyMetricsOptions) {
    const scope = 'policyMetrics';
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`${scope}: options { registry?, meter? } are required`);
    for (const k of Object.keys(options)) if (k !== 'registry' && k !== 'meter') throw new InvalidOptionError(`${scope}: unknown option ${JSON.stringify(k)} (known: registry, meter)`);
    const { registry, meter } = options;
    if (registry === undefined && meter === undefined) throw new InvalidOptionError(`${scope}: give a prom-client registry, an OpenTelemetry meter, or both`);
    if (registry !== undefined && typeof registry.registerMetric !== 'function') throw new InvalidOptionError(`${scope}: registry must be a prom-client Registry`);
    if (meter !== undefined && typeof (meter as OtelMeter).createObservableCounter !== 'function') throw new InvalidOptionError(`${scope}: meter must be an OpenTelemetry Meter (metrics.getMeter(name) from @opentelemetry/api)`);
    if (registry) this.toPrometheus(registry);
    if (meter) this.toOpenTelemetry(meter);
  }

  /** Adds a policy (or every policy in a `wrap(...)`) under `name`; returns this. */
  add(name: string, policy: MeteredPolicy): this {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw new InvalidOptionError(`policyMetrics.add: name must be 1–128 letters, digits or _ . : / -, got ${JSON.stringify(name)}`);
    const list = policy instanceof WrappedPolicy ? policy.policies : [policy];
    const adding: [string, { kind: Kind; policy: unknown; labels: Record<string, string> }][] = [];
    for (const p of list) {
      const kind = kindOf(p);
      if (kind === undefined) {
        if (policy instanceof WrappedPolicy) continue; // a policy of your own inside the wrap: it has no stats we know
        throw new InvalidOptionError(`policyMetrics.add: ${JSON.stringify(name)} is not a steadfast policy (retry(), circuitBreaker(), timeout(), bulkhead(), hedge(), fallback(), rateLimit(), adaptiveLimit(), loadShedder() or wrap(...))`);
      }
      const key = `${name}\u0000${kind}`;
      if (this.policies.has(key) || adding.some(([k]) => k === key)) throw new InvalidOptionError(`policyMetrics.add: ${JSON.stringify(name)} already has a ${kind} policy; give the second one another name`);
      adding.push([key, { kind, policy: p, labels: { policy: name, kind: snake(kind) } }]);
    }
    for (const [k, v] of adding) this.policies.set(k, v);
    return this;
  }

  /** Stops exporting every policy added under `name`. */
  remove(name: string): void {
    for (const k of [...this.policies.keys()]) if (k.startsWith(`${name}\u0000`)) this.policies.delete(k);
  }

  /** Every figure now: `{ metric, labels, value }` (the OpenTelemetry metric names). */
  collect(): { metric: string; labels: Record<string, string>; value: number }[] {
    return this.samples().map((s) => ({ metric: POLICY_METRICS[s.key].name, labels: s.labels, value: s.value }));
  }

  private samples(): Sample[] {
    const out: Sample[] = [];
    for (const { kind, policy, labels } of this.policies.values()) out.push(...read(kind, policy, labels));
    return out;
  }

  private toPrometheus(registry: PromRegistry): void {
    for (const [key, def] of Object.entries(POLICY_METRICS) as [MetricKey, MetricDef][]) {
      registerSampled(registry, {
        name: `${def.name.replace(/\./g, '_')}${def.type === 'counter' ? '_total' : ''}`,
        help: def.help,
        type: def.type,
        labelNames: ['policy', 'kind', ...(def.extra ? [def.extra] : [])],
        read: () => this.samples().filter((s) => s.key === key),
      });
    }
  }

  private toOpenTelemetry(meter: OtelMeter): void {
    const instruments = new Map<MetricKey, OtelObservable>();
    for (const [key, def] of Object.entries(POLICY_METRICS) as [MetricKey, MetricDef][]) {
      instruments.set(key, def.type === 'counter' ? meter.createObservableCounter(def.name, { description: def.help }) : meter.createObservableGauge(def.name, { description: def.help }));
    }
    meter.addBatchObservableCallback(
      (result) => {
        for (const s of this.samples()) result.observe(instruments.get(s.key)!, s.value, s.labels);
      },
      [...instruments.values()],
    );
  }
}

/** A PolicyMetrics exporting to `registry` (prom-client) and/or `meter` (OpenTelemetry). */
export function policyMetrics(options: PolicyMetricsOptions): PolicyMetrics {
  return new PolicyMetrics(options);
}
