import { describe, expect, it } from 'vitest';
import { ManualClock, TimeoutError } from '../../src/core/index.js';
import { timeout } from '../../src/policy/index.js';

/** Resolves when the signal aborts, with its reason. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

describe('timeout (cooperative)', () => {
  it('aborts the function signal with a TimeoutError between timeoutMs and timeoutMs × 1.1', async () => {
    const clock = new ManualClock();
    const t = timeout(1000, { clock });
    let signal: AbortSignal | undefined;
    const p = t.execute(({ signal: s }) => {
      signal = s;
      return untilAborted(s);
    });
    p.catch(() => {});
    await clock.advanceAsync(999);
    expect(signal!.aborted).toBe(false);
    await clock.advanceAsync(101);
    expect(signal!.aborted).toBe(true);
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
    await expect(p).rejects.toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 1000 });
    expect(t.stats).toEqual({ calls: 1, timeouts: 1 });
  });

  it('gives calls of one deadline slot one shared signal, aborted at their deadline; a later slot keeps its own', async () => {
    const clock = new ManualClock();
    const t = timeout(1000, { clock }); // slots of 50 ms
    const signals: AbortSignal[] = [];
    const start = (): Promise<unknown> =>
      t.execute(({ signal }) => {
        signals.push(signal);
        return untilAborted(signal);
      }).catch((e: unknown) => e);
    const a = start();
    const b = start();
    await clock.advanceAsync(200);
    const c = start();
    expect(signals[0]).toBe(signals[1]); // one AbortController for the slot, not one per call
    expect(signals[2]).not.toBe(signals[0]);
    await clock.advanceAsync(899); // 1099 ms: before the first slot's deadline window closes
    await clock.advanceAsync(2); // past it
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[2]!.aborted).toBe(false); // started 200 ms later: its deadline is later
    expect(await a).toBeInstanceOf(TimeoutError);
    expect(await b).toBeInstanceOf(TimeoutError);
    await clock.advanceAsync(200);
    expect(signals[2]!.aborted).toBe(true);
    expect(await c).toBeInstanceOf(TimeoutError);
    expect(t.stats).toEqual({ calls: 3, timeouts: 3 });
  });

  it("aborts the function's signal when the caller's own signal aborts, and only that call", async () => {
    const clock = new ManualClock();
    const t = timeout(1000, { clock });
    const caller = new AbortController();
    let mine: AbortSignal | undefined;
    let other: AbortSignal | undefined;
    const p = t.execute(({ signal }) => ((mine = signal), untilAborted(signal)), caller.signal).catch((e: unknown) => e);
    const q = t.execute(({ signal }) => ((other = signal), untilAborted(signal))).catch((e: unknown) => e);
    expect(mine).not.toBe(other);
    caller.abort(new Error('the client left'));
    expect(mine!.aborted).toBe(true);
    expect(mine!.reason).toMatchObject({ message: 'the client left' });
    expect(await p).toMatchObject({ message: 'the client left' });
    expect(other!.aborted).toBe(false);
    await clock.advanceAsync(1100);
    expect(await q).toBeInstanceOf(TimeoutError);
  });

  it('returns the result of a function that finishes in time and never aborts its signal', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { clock });
    let signal: AbortSignal | undefined;
    await expect(
      t.execute(async ({ signal: s }) => {
        signal = s;
        return 'fast';
      }),
    ).resolves.toBe('fast');
    await clock.advanceAsync(1000);
    expect(signal!.aborted).toBe(false);
    expect(t.stats.timeouts).toBe(0);
  });

  it('waits for a function that ignores its signal, and still counts the timeout', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { clock });
    let finish!: (v: string) => void;
    const p = t.execute(() => new Promise<string>((r) => (finish = r)));
    const events: unknown[] = [];
    t.on('timeout', (e) => events.push(e));
    await clock.advanceAsync(200);
    finish('late');
    await expect(p).resolves.toBe('late');
    expect(t.stats.timeouts).toBe(1);
    expect(events).toEqual([{ timeoutMs: 100, inFlight: 1 }]);
  });

  it('aborts at once when the signal is first read after the deadline', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { clock });
    let ctxRef: { signal: AbortSignal } | undefined;
    let release!: () => void;
    const p = t.execute(async (ctx) => {
      ctxRef = ctx;
      await new Promise<void>((r) => (release = r));
      return ctx.signal.aborted;
    });
    await clock.advanceAsync(500);
    release();
    await expect(p).resolves.toBe(true);
    expect(ctxRef!.signal.reason).toBeInstanceOf(TimeoutError);
  });

  it('passes the caller abort through to the function signal', async () => {
    const t = timeout(10_000, { clock: new ManualClock() });
    const ac = new AbortController();
    const p = t.execute(({ signal }) => untilAborted(signal), ac.signal);
    const reason = new Error('caller');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('keeps one timer for many calls in flight, and none once they are done', async () => {
    const clock = new ManualClock();
    const t = timeout(1000, { clock });
    const releases: (() => void)[] = [];
    const calls = Array.from({ length: 500 }, () => t.execute(() => new Promise<void>((r) => releases.push(r))));
    expect(clock.pending).toBe(1);
    expect(t.inFlight).toBe(500);
    releases.forEach((r) => r());
    await Promise.all(calls);
    expect(t.inFlight).toBe(0);
    await clock.advanceAsync(t.timeoutMs); // the timer notices the idle wheel and stops
    expect(clock.pending).toBe(0);
    expect(t.stats.timeouts).toBe(0);
  });

  it('times out each call on its own deadline when calls start at different times', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { clock });
    const aborted: number[] = [];
    const start = (): Promise<unknown> =>
      t.execute(({ signal }) => {
        const began = clock.now();
        signal.addEventListener('abort', () => aborted.push(clock.now() - began));
        return untilAborted(signal);
      }).catch(() => {});
    const a = start();
    await clock.advanceAsync(60);
    const b = start();
    await clock.advanceAsync(300);
    await Promise.all([a, b]);
    expect(aborted).toHaveLength(2);
    for (const waited of aborted) {
      expect(waited).toBeGreaterThanOrEqual(100);
      expect(waited).toBeLessThanOrEqual(110);
    }
  });

  it('with real timers aborts a real wait (integration)', async () => {
    const t = timeout(30);
    const started = performance.now();
    await expect(
      t.execute(({ signal }) => new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 5_000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      })),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
  });
});

describe('timeout (aggressive)', () => {
  it('releases the caller at the deadline even if the function never stops', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { strategy: 'aggressive', clock });
    let signal: AbortSignal | undefined;
    const p = t.execute(({ signal: s }) => {
      signal = s;
      return new Promise(() => {});
    });
    p.catch(() => {});
    await clock.advanceAsync(110);
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
    expect(signal!.aborted).toBe(true);
  });

  it('drops a late failure without an unhandled rejection', async () => {
    const clock = new ManualClock();
    const t = timeout(100, { strategy: 'aggressive', clock });
    let fail!: (e: Error) => void;
    const p = t.execute(() => new Promise((_, reject) => (fail = reject)));
    p.catch(() => {});
    await clock.advanceAsync(110);
    fail(new Error('late'));
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
  });

  it('returns a result that arrives in time', async () => {
    const t = timeout(1000, { strategy: 'aggressive', clock: new ManualClock() });
    await expect(t.execute(async () => 7)).resolves.toBe(7);
    await expect(t.execute(() => 8)).resolves.toBe(8);
  });

  it('releases the caller when the caller aborts', async () => {
    const t = timeout(10_000, { strategy: 'aggressive', clock: new ManualClock() });
    const ac = new AbortController();
    const p = t.execute(() => new Promise(() => {}), ac.signal);
    ac.abort(new Error('bye'));
    await expect(p).rejects.toThrow('bye');
  });

  it('with real timers releases the caller of a function that hangs (integration)', async () => {
    const t = timeout(20, { strategy: 'aggressive' });
    await expect(t.execute(() => new Promise(() => {}))).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('timeout options', () => {
  it('rejects bad options, naming the option', () => {
    expect(() => timeout(0)).toThrow('timeout: timeoutMs must be a number > 0 and ≤ 2147483647, got 0');
    expect(() => timeout(Number.NaN)).toThrow(TypeError);
    expect(() => timeout(10, { strategy: 'eager' as never })).toThrow("timeout: strategy must be one of 'cooperative', 'aggressive', got \"eager\"");
  });
});
