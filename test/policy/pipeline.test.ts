import { describe, expect, it } from 'vitest';
import { ManualClock, RateLimitedError } from '../../src/core/index.js';
import {
  bulkhead,
  circuitBreaker,
  constantBackoff,
  consecutiveBreaker,
  fallback,
  rateLimit,
  retry,
  timeout,
  wrap,
  type ExecutionContext,
  type Task,
} from '../../src/policy/index.js';

/** A user-written policy that knows only `run` (cannot be fused). */
class Recorder {
  readonly log: string[] = [];
  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    this.log.push(`enter attempt ${context.attempt}`);
    return Promise.resolve(fn(context)).finally(() => this.log.push('exit'));
  }
}

describe('fused policies (pipeline)', () => {
  it('runs the stages inside a retry again on every attempt', async () => {
    const breaker = circuitBreaker({ breaker: consecutiveBreaker(10), clock: new ManualClock() });
    const t = timeout(1000, { clock: new ManualClock() });
    let n = 0;
    const policy = wrap(retry({ maxAttempts: 4, backoff: constantBackoff(0) }), breaker, t);
    await expect(
      policy.execute(async () => {
        if (++n < 3) throw new Error('transient');
        return n;
      }),
    ).resolves.toBe(3);
    expect(breaker.stats).toMatchObject({ calls: 3, failures: 2, successes: 1 });
    expect(t.stats.calls).toBe(3);
  });

  it('lets an outer breaker see an inner stage refusing the call as a failure', async () => {
    const clock = new ManualClock();
    const breaker = circuitBreaker({ breaker: consecutiveBreaker(2), clock });
    const policy = wrap(breaker, rateLimit({ ratePerSec: 1, burst: 1, clock }));
    await policy.execute(async () => 'first');
    await expect(policy.execute(async () => 'x')).rejects.toBeInstanceOf(RateLimitedError);
    await expect(policy.execute(async () => 'x')).rejects.toBeInstanceOf(RateLimitedError);
    expect(breaker.state).toBe('open');
  });

  it('runs a user policy that only has run() between fused stages, on every attempt', async () => {
    const recorder = new Recorder();
    let n = 0;
    const policy = wrap(retry({ maxAttempts: 3, backoff: constantBackoff(0) }), recorder, timeout(1000, { clock: new ManualClock() }));
    await expect(
      policy.execute(() => {
        if (++n < 2) throw new Error('sync failure');
        return 'plain value';
      }),
    ).resolves.toBe('plain value');
    expect(recorder.log).toEqual(['enter attempt 1', 'exit', 'enter attempt 2', 'exit']);
  });

  it('shows outer stages the fallback answer as a success', async () => {
    const outer = retry({ maxAttempts: 3, backoff: constantBackoff(0) });
    const policy = wrap(outer, fallback('cached'));
    let calls = 0;
    await expect(
      policy.execute(async () => {
        calls++;
        throw new Error('down');
      }),
    ).resolves.toBe('cached');
    expect(calls).toBe(1);
    expect(outer.stats).toMatchObject({ successes: 1, retries: 0 });
  });

  it('keeps the order of nesting: a breaker outside a retry counts one call, inside counts each attempt', async () => {
    const outside = circuitBreaker({ breaker: consecutiveBreaker(100), clock: new ManualClock() });
    const inside = circuitBreaker({ breaker: consecutiveBreaker(100), clock: new ManualClock() });
    const policy = wrap(outside, retry({ maxAttempts: 3, backoff: constantBackoff(0) }), inside);
    await policy
      .execute(async () => {
        throw new Error('always');
      })
      .catch(() => {});
    expect(outside.stats.failures).toBe(1);
    expect(inside.stats.failures).toBe(3);
  });

  it('passes each attempt its own number through a bulkhead (a runner) inside a retry', async () => {
    const seen: number[] = [];
    const policy = wrap(retry({ maxAttempts: 3, backoff: constantBackoff(0) }), bulkhead({ maxConcurrent: 1 }));
    await policy.execute(async ({ attempt }) => {
      seen.push(attempt);
      if (attempt < 3) throw new Error('again');
      return attempt;
    });
    expect(seen).toEqual([1, 2, 3]);
  });
});
