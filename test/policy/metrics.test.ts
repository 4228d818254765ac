import { spawnSync } from 'node:child_process';
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { bulkhead, circuitBreaker, consecutiveBreaker, constantBackoff, fallback, policyMetrics, retry, timeout, wrap } from '../../src/policy/index.js';
import { findServer, PROMTOOL } from '../support/servers.js';

/** A policy stack that has done something of each kind: retries, a breaker that opened, a fallback. */
async function exercised() {
  const clock = new ManualClock();
  const breaker = circuitBreaker({ breaker: consecutiveBreaker(2), halfOpenAfterMs: 1000, clock });
  const policy = wrap(fallback('cached'), retry({ maxAttempts: 2, backoff: constantBackoff(0) }), breaker, timeout(1000));
  const fails = async (): Promise<string> => {
    throw new Error('db down');
  };
  expect(await policy.execute(async () => 'fresh')).toBe('fresh');
  // Two attempts fail: the breaker opens; the fallback answers.
  expect(await policy.execute(fails)).toBe('cached');
  // Open: refused without running (not retried: an open circuit is not retryable).
  expect(await policy.execute(async () => 'never')).toBe('cached');
  return { clock, breaker, policy };
}

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe('policyMetrics', () => {
  it('exports calls, failures, retries, rejections, fallbacks and the breaker state to prom-client, read when scraped', async () => {
    const { clock, policy } = await exercised();
    const registry = new Registry();
    policyMetrics({ registry }).add('db', policy);
    let text = await registry.metrics();
    const line = (re: RegExp) => expect(text).toMatch(re);
    line(/^steadfast_policy_calls_total\{policy="db",kind="retry"\} 3$/m);
    line(/^steadfast_policy_retries_total\{policy="db",kind="retry"\} 1$/m);
    line(/^steadfast_policy_failures_total\{policy="db",kind="retry"\} 2$/m);
    line(/^steadfast_policy_calls_total\{policy="db",kind="circuit_breaker"\} 4$/m);
    line(/^steadfast_policy_failures_total\{policy="db",kind="circuit_breaker"\} 2$/m);
    line(/^steadfast_policy_rejections_total\{policy="db",kind="circuit_breaker"\} 1$/m);
    line(/^steadfast_policy_breaker_state\{policy="db",kind="circuit_breaker",state="open"\} 1$/m);
    line(/^steadfast_policy_breaker_state\{policy="db",kind="circuit_breaker",state="closed"\} 0$/m);
    line(/^steadfast_policy_breaker_transitions_total\{policy="db",kind="circuit_breaker",state="open"\} 1$/m);
    line(/^steadfast_policy_fallbacks_total\{policy="db",kind="fallback"\} 2$/m);
    line(/^steadfast_policy_calls_total\{policy="db",kind="timeout"\} 3$/m);
    // Half-open after 1 s, and a success closes it: the next scrape shows it.
    clock.advance(1000);
    expect(await policy.execute(async () => 'fresh again')).toBe('fresh again');
    text = await registry.metrics();
    line(/^steadfast_policy_breaker_state\{policy="db",kind="circuit_breaker",state="closed"\} 1$/m);
    line(/^steadfast_policy_breaker_transitions_total\{policy="db",kind="circuit_breaker",state="half_open"\} 1$/m);
    line(/^steadfast_policy_breaker_transitions_total\{policy="db",kind="circuit_breaker",state="closed"\} 1$/m);
    const promtool = findServer(PROMTOOL);
    if (promtool || process.env.CI) {
      const check = spawnSync(promtool ?? 'promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    }
  });

  it('exports the same figures through an OpenTelemetry meter (the SDK\'s own reader collects them)', async () => {
    const { policy } = await exercised();
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const gate = bulkhead({ maxConcurrent: 1, maxQueue: 0 });
    let release!: () => void;
    const busy = gate.execute(() => new Promise<void>((r) => (release = r)));
    await expect(gate.execute(async () => undefined)).rejects.toThrow();
    policyMetrics({ meter: provider.getMeter('test') }).add('db', policy).add('uploads', gate);
    const { resourceMetrics } = await reader.collect();
    const points = new Map<string, number>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const m of scope.metrics) {
        for (const p of m.dataPoints as DataPoint<number>[]) points.set(`${m.descriptor.name} ${Object.values(p.attributes).join(' ')}`, p.value);
      }
    }
    expect(points.get('steadfast.policy.retries db retry')).toBe(1);
    expect(points.get('steadfast.policy.rejections db circuit_breaker')).toBe(1);
    expect(points.get('steadfast.policy.breaker_state db circuit_breaker open')).toBe(1);
    expect(points.get('steadfast.policy.fallbacks db fallback')).toBe(2);
    expect(points.get('steadfast.policy.inflight uploads bulkhead')).toBe(1);
    expect(points.get('steadfast.policy.rejections uploads bulkhead')).toBe(1);
    release();
    await busy;
    await provider.shutdown();
  });

  it('refuses what it cannot export, naming it', () => {
    const registry = new Registry();
    expect(() => policyMetrics({} as never)).toThrow(/give a prom-client registry, an OpenTelemetry meter, or both/);
    expect(() => policyMetrics({ registry, prefix: 'x' } as never)).toThrow(/unknown option "prefix"/);
    expect(() => policyMetrics({ registry: {} as never })).toThrow(/registry must be a prom-client Registry/);
    const m = policyMetrics({ registry });
    expect(() => m.add('bad name!', retry())).toThrow(/name must be 1–128 letters/);
    expect(() => m.add('x', {} as never)).toThrow(/is not a steadfast policy/);
    m.add('db', retry());
    expect(() => m.add('db', retry())).toThrow(/"db" already has a retry policy/);
    m.remove('db');
    m.add('db', retry());
  });

  it('costs nothing until collected: the figures are the policies\' own stats', async () => {
    const { policy, breaker } = await exercised();
    const m = policyMetrics({ registry: new Registry() }).add('db', policy);
    const calls = m.collect().find((s) => s.metric === 'steadfast.policy.calls' && s.labels.kind === 'circuit_breaker')!;
    expect(calls.value).toBe(breaker.stats.calls);
  });
});
