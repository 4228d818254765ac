import { describe, expect, it, vi } from 'vitest';
import { CircuitOpenError, ManualClock, TimeoutError, seededRandom } from '../../src/core/index.js';
import { constantBackoff, exponentialBackoff, retry, type RetryEvent } from '../../src/policy/index.js';

/** A function that fails `failures` times, then returns `value`. */
function flaky<T>(failures: number, value: T, error: () => unknown = () => new Error('transient')) {
  let calls = 0;
  const fn = vi.fn(async () => {
    calls++;
    if (calls <= failures) throw error();
    return value;
  });
  return fn;
}

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const r = retry({ maxAttempts: 3, clock: new ManualClock() });
    await expect(r.execute(async () => 'ok')).resolves.toBe('ok');
    expect(r.stats).toMatchObject({ calls: 1, successes: 1, retries: 0 });
  });

  it('works with a function that returns a plain value or throws synchronously', async () => {
    const r = retry({ maxAttempts: 2, backoff: constantBackoff(0) });
    await expect(r.execute(() => 5)).resolves.toBe(5);
    let n = 0;
    await expect(
      r.execute(() => {
        if (n++ === 0) throw new Error('sync');
        return 6;
      }),
    ).resolves.toBe(6);
  });

  it('retries after the backoff delay and passes the attempt number', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(100), clock });
    const attempts: number[] = [];
    let n = 0;
    const p = r.execute(async ({ attempt }) => {
      attempts.push(attempt);
      if (++n < 3) throw new Error('transient');
      return 'third time';
    });
    await clock.advanceAsync(99);
    expect(attempts).toEqual([1]);
    await clock.advanceAsync(1);
    expect(attempts).toEqual([1, 2]);
    await clock.advanceAsync(100);
    await expect(p).resolves.toBe('third time');
    expect(attempts).toEqual([1, 2, 3]);
    expect(r.stats).toMatchObject({ calls: 1, successes: 1, retries: 2, failures: 0 });
  });

  it('gives up after maxAttempts with the last error and emits giveUp', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(10), clock });
    const giveUps: unknown[] = [];
    r.on('giveUp', (e) => giveUps.push(e));
    let n = 0;
    const p = r.execute(async () => {
      throw new Error(`failure ${++n}`);
    });
    p.catch(() => {});
    await clock.runAllAsync();
    await expect(p).rejects.toThrow('failure 3');
    expect(giveUps).toEqual([{ attempts: 3, error: expect.objectContaining({ message: 'failure 3' }) }]);
    expect(r.stats).toMatchObject({ failures: 1, givenUp: 1, retries: 2 });
  });

  it('emits a retry event per retry with the delay and the error', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 3, backoff: exponentialBackoff({ initialDelayMs: 50, jitter: 'none' }), clock });
    const events: RetryEvent[] = [];
    r.on('retry', (e) => events.push(e));
    const p = r.execute(flaky(2, 'ok'));
    await clock.runAllAsync();
    await expect(p).resolves.toBe('ok');
    expect(events.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 50],
      [2, 100],
    ]);
    expect((events[0]!.error as Error).message).toBe('transient');
  });

  it('does not retry an error that says it is not retryable (an open circuit)', async () => {
    const r = retry({ maxAttempts: 5, backoff: constantBackoff(0) });
    const fn = vi.fn(async () => {
      throw new CircuitOpenError('db', 1000, 'open');
    });
    await expect(r.execute(fn)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('retries only what retryOn accepts', async () => {
    const r = retry({ maxAttempts: 5, backoff: constantBackoff(0), retryOn: (e) => e instanceof TimeoutError });
    const fn = vi.fn(async () => {
      throw new Error('bad request');
    });
    await expect(r.execute(fn)).rejects.toThrow('bad request');
    expect(fn).toHaveBeenCalledTimes(1);
    const fn2 = flaky(2, 'ok', () => new TimeoutError(10));
    await expect(r.execute(fn2)).resolves.toBe('ok');
    expect(fn2).toHaveBeenCalledTimes(3);
  });

  it('retries on a result predicate and returns the last result when attempts run out', async () => {
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(0), retryOnResult: (v) => (v as { status: number }).status >= 500 });
    const statuses = [503, 502, 200];
    let i = 0;
    await expect(r.execute(async () => ({ status: statuses[i++]! }))).resolves.toEqual({ status: 200 });
    const always503 = vi.fn(async () => ({ status: 503 }));
    await expect(r.execute(always503)).resolves.toEqual({ status: 503 });
    expect(always503).toHaveBeenCalledTimes(3);
  });

  it('stops at once when the caller aborts during the backoff', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 10, backoff: constantBackoff(1000), clock });
    const ac = new AbortController();
    const fn = vi.fn(async () => {
      throw new Error('transient');
    });
    const p = r.execute(fn, ac.signal);
    await clock.advanceAsync(10);
    const reason = new Error('caller gave up');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(clock.pending).toBe(0);
  });

  it('does not retry when the attempt failed because the caller aborted', async () => {
    const r = retry({ maxAttempts: 10, backoff: constantBackoff(0) });
    const ac = new AbortController();
    const fn = vi.fn(async ({ signal }: { signal: AbortSignal }) => {
      ac.abort(new Error('stop'));
      throw signal.reason;
    });
    await expect(r.execute(fn, ac.signal)).rejects.toThrow('stop');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects at once when the signal has already aborted', async () => {
    const fn = vi.fn(async () => 1);
    await expect(retry().execute(fn, AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
    expect(fn).not.toHaveBeenCalled();
  });

  it('uses the injected random source for jitter (same seed, same delays)', async () => {
    const delays = async (seed: number): Promise<number[]> => {
      const clock = new ManualClock();
      const r = retry({ maxAttempts: 4, backoff: exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 10_000 }), clock, random: seededRandom(seed) });
      const out: number[] = [];
      r.on('retry', (e) => out.push(e.delayMs));
      const p = r.execute(flaky(3, 1));
      await clock.runAllAsync();
      await p;
      return out;
    };
    expect(await delays(42)).toEqual(await delays(42));
    expect(await delays(42)).not.toEqual(await delays(43));
  });

  it('rejects bad options, naming the option and the range', () => {
    expect(() => retry({ maxAttempts: 0 })).toThrow(new RangeError('retry: maxAttempts must be an integer ≥ 1 and ≤ 1000, got 0'));
    expect(() => retry({ maxAttempts: 2.5 })).toThrow(RangeError);
    expect(() => retry({ retryOn: 'yes' as never })).toThrow('retry: retryOn must be a function, got "yes"');
    expect(() => retry({ backoff: 100 as never })).toThrow(/retry: backoff must be a Backoff/);
    expect(() => retry({ clock: {} as never })).toThrow(/retry: clock must implement now\(\)/);
    expect(() => retry({ maxAttemps: 3 } as never)).toThrow("retry: unknown option 'maxAttemps'");
  });
});
