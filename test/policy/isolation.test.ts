import { describe, expect, it, vi } from 'vitest';
import { AbortedError, BulkheadFullError, HedgeFailedError, ManualClock, RateLimitedError } from '../../src/core/index.js';
import { bulkhead, fallback, hedge, rateLimit } from '../../src/policy/index.js';

function gate<T = void>() {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

describe('bulkhead', () => {
  it('runs at most maxConcurrent at once, queues up to maxQueue and rejects the rest', async () => {
    const b = bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const g = gate();
    let running = 0;
    let peak = 0;
    const work = async (): Promise<void> => {
      running++;
      peak = Math.max(peak, running);
      await g.promise;
      running--;
    };
    const calls = [b.execute(work), b.execute(work), b.execute(work)];
    await expect(b.execute(work)).rejects.toBeInstanceOf(BulkheadFullError);
    expect(b.stats).toMatchObject({ executing: 2, queued: 1, rejections: 1 });
    g.open();
    await Promise.all(calls);
    expect(peak).toBe(2);
    expect(b.stats).toMatchObject({ executing: 0, queued: 0 });
  });

  it('frees a queue place when a queued call is aborted', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(() => g.promise);
    const ac = new AbortController();
    const queued = b.execute(async () => 'never', ac.signal);
    ac.abort(new Error('gave up waiting'));
    await expect(queued).rejects.toThrow('gave up waiting');
    expect(b.stats.queued).toBe(0);
    const next = b.execute(async () => 'next');
    g.open();
    await running;
    await expect(next).resolves.toBe('next');
  });

  it('releases the slot when the function throws', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(b.execute(async () => 1)).resolves.toBe(1);
    expect(b.available).toBe(1);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => bulkhead({ maxConcurrent: 0 })).toThrow('bulkhead: maxConcurrent must be an integer ≥ 1, got 0');
    expect(() => bulkhead({ maxConcurrent: 1, maxQueue: -1 })).toThrow(/maxQueue must be an integer ≥ 0/);
    expect(() => bulkhead(undefined as never)).toThrow(/maxConcurrent/);
  });
});

describe('fallback', () => {
  it('answers a failure with a value or a function of the error', async () => {
    await expect(fallback('cached').execute(() => Promise.reject(new Error('down')))).resolves.toBe('cached');
    await expect(fallback((e) => `degraded: ${(e as Error).message}`).execute(() => Promise.reject(new Error('down')))).resolves.toBe('degraded: down');
  });

  it('passes successes through and leaves other errors alone when `on` says so', async () => {
    const f = fallback(0, { on: (e) => (e as Error).message === 'down' });
    await expect(f.execute(async () => 5)).resolves.toBe(5);
    await expect(f.execute(() => Promise.reject(new Error('bug')))).rejects.toThrow('bug');
    expect(f.stats).toEqual({ calls: 2, fallbacks: 0 });
  });

  it('never papers over the caller own abort', async () => {
    const ac = new AbortController();
    const p = fallback('x').execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(p).rejects.toThrow('cancelled');
  });
});

describe('hedge', () => {
  it('starts a second attempt after delayMs and takes the first answer; the loser is aborted', async () => {
    const clock = new ManualClock();
    const h = hedge({ delayMs: 50, clock });
    const signals: AbortSignal[] = [];
    const first = gate<string>();
    const p = h.execute(({ signal, attempt }) => {
      signals.push(signal);
      return attempt === 1 ? first.promise : Promise.resolve('hedged');
    });
    await clock.advanceAsync(49);
    expect(signals).toHaveLength(1);
    await clock.advanceAsync(1);
    await expect(p).resolves.toBe('hedged');
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(AbortedError);
    expect(signals[1]!.aborted).toBe(false);
    expect(h.stats).toMatchObject({ hedges: 1, hedgeWins: 1 });
  });

  it('makes no extra attempt when the first answers in time', async () => {
    const clock = new ManualClock();
    const h = hedge({ delayMs: 50, clock });
    const fn = vi.fn(async () => 'fast');
    await expect(h.execute(fn)).resolves.toBe('fast');
    await clock.advanceAsync(100);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(clock.pending).toBe(0);
  });

  it('starts the next attempt at once when one fails, up to maxHedged', async () => {
    const clock = new ManualClock();
    const h = hedge({ delayMs: 1000, maxHedged: 2, clock });
    const attempts: number[] = [];
    const p = h.execute(async ({ attempt }) => {
      attempts.push(attempt);
      throw new Error(`attempt ${attempt}`);
    });
    const err = await p.catch((e: unknown) => e);
    expect(attempts).toEqual([1, 2, 3]);
    expect(err).toBeInstanceOf(HedgeFailedError);
    expect((err as HedgeFailedError).errors.map((e) => (e as Error).message)).toEqual(['attempt 1', 'attempt 2', 'attempt 3']);
  });

  it('aborts every attempt when the caller aborts', async () => {
    const clock = new ManualClock();
    const h = hedge({ delayMs: 10, clock });
    const signals: AbortSignal[] = [];
    const ac = new AbortController();
    const p = h.execute(({ signal }) => {
      signals.push(signal);
      return new Promise(() => {});
    }, ac.signal);
    await clock.advanceAsync(10);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
  });

  it('with real timers cuts the tail of a slow first attempt (integration)', async () => {
    const h = hedge({ delayMs: 10 });
    let firstAborted = false;
    const value = await h.execute(({ attempt, signal }) =>
      attempt === 1
        ? new Promise<string>((resolve, reject) => {
            const t = setTimeout(() => resolve('slow'), 2000);
            signal.addEventListener('abort', () => {
              firstAborted = true;
              clearTimeout(t);
              reject(signal.reason);
            });
          })
        : new Promise<string>((resolve) => setTimeout(() => resolve('hedge'), 5)),
    );
    // The hedge answered and the slow first attempt was cut off (not waited for).
    expect(value).toBe('hedge');
    expect(firstAborted).toBe(true);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => hedge({ delayMs: -5 })).toThrow('hedge: delayMs must be a number ≥ 0, got -5');
    expect(() => hedge({ delayMs: 5, maxHedged: 0 })).toThrow(/maxHedged must be an integer ≥ 1/);
  });
});

describe('rateLimit', () => {
  it('allows a burst, then one call per 1/ratePerSec, and says when to come back', async () => {
    const clock = new ManualClock();
    const r = rateLimit({ ratePerSec: 10, burst: 3, clock });
    for (let i = 0; i < 3; i++) await r.execute(async () => i);
    const err = await r.execute(async () => 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBeCloseTo(100);
    clock.advance(100);
    await expect(r.execute(async () => 'ok')).resolves.toBe('ok');
    await expect(r.execute(async () => 'no')).rejects.toBeInstanceOf(RateLimitedError);
    expect(r.stats).toMatchObject({ calls: 6, rejections: 2 });
  });

  it('never holds more than burst tokens after a long quiet spell', () => {
    const clock = new ManualClock();
    const r = rateLimit({ ratePerSec: 100, burst: 5, clock });
    clock.advance(60_000);
    let allowed = 0;
    while (r.tryAcquire()) allowed++;
    expect(allowed).toBe(5);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => rateLimit({ ratePerSec: 0 })).toThrow('rateLimit: ratePerSec must be a number > 0, got 0');
    expect(() => rateLimit({ ratePerSec: 5, burst: 0.5 })).toThrow(/burst must be a number ≥ 1/);
  });
});
