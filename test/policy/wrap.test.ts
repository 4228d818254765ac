import { describe, expect, it, vi } from 'vitest';
import { CircuitOpenError, ManualClock, TimeoutError } from '../../src/core/index.js';
import { bulkhead, circuitBreaker, constantBackoff, consecutiveBreaker, fallback, retry, timeout, wrap } from '../../src/policy/index.js';
import * as root from '../../src/index.js';

describe('wrap', () => {
  it('runs policies outermost first and passes { signal, attempt } to the function', async () => {
    const clock = new ManualClock();
    const policy = wrap(retry({ maxAttempts: 3, backoff: constantBackoff(0), clock }), timeout(1000, { clock }));
    const seen: number[] = [];
    const result = await policy.execute(async ({ attempt, signal }) => {
      seen.push(attempt);
      expect(signal).toBeInstanceOf(AbortSignal);
      if (attempt < 2) throw new Error('transient');
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toEqual([1, 2]);
  });

  it('gives each retry its own deadline (retry outside timeout)', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { clock });
    const policy = wrap(retry({ maxAttempts: 2, backoff: constantBackoff(0), clock }), t);
    const p = policy.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    p.catch(() => {});
    await clock.advanceAsync(500);
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
    expect(t.stats).toEqual({ calls: 2, timeouts: 2 });
  });

  it('stops retrying once the breaker opens (CircuitOpenError is not retryable)', async () => {
    const clock = new ManualClock();
    const breaker = circuitBreaker({ breaker: consecutiveBreaker(2), clock });
    const policy = wrap(retry({ maxAttempts: 10, backoff: constantBackoff(0), clock }), breaker);
    const fn = vi.fn(async () => {
      throw new Error('down');
    });
    const p = policy.execute(fn);
    p.catch(() => {});
    await clock.runAllAsync();
    await expect(p).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('composes the full stack with a fallback and a bulkhead', async () => {
    const clock = new ManualClock();
    const policy = wrap(
      fallback('stale'),
      bulkhead({ maxConcurrent: 4 }),
      retry({ maxAttempts: 2, backoff: constantBackoff(0), clock }),
      circuitBreaker({ breaker: consecutiveBreaker(5), clock }),
      timeout(50, { clock }),
    );
    await expect(policy.execute(async () => 'fresh')).resolves.toBe('fresh');
    const p = policy.execute(async () => {
      throw new Error('down');
    });
    await clock.runAllAsync();
    await expect(p).resolves.toBe('stale');
  });

  it('with no policy just runs the function', async () => {
    await expect(wrap().execute(() => 3)).resolves.toBe(3);
  });

  it('rejects something that is not a policy, naming its position', () => {
    expect(() => wrap(retry(), {} as never)).toThrow('wrap: argument 2 must be a policy (retry(), timeout(), circuitBreaker(), ...), got object');
  });

  it('re-exports every policy and the core from the package root', () => {
    for (const name of ['retry', 'timeout', 'circuitBreaker', 'bulkhead', 'fallback', 'hedge', 'rateLimit', 'wrap', 'ManualClock', 'SteadfastError', 'consecutiveBreaker', 'samplingBreaker', 'exponentialBackoff', 'constantBackoff']) {
      expect(typeof (root as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
