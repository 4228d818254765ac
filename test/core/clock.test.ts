import { describe, expect, it } from 'vitest';
import { ManualClock, SystemClock, sleep } from '../../src/core/index.js';

describe('ManualClock', () => {
  it('starts at the given time and moves only when advanced', () => {
    const clock = new ManualClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250);
    expect(clock.now()).toBe(1250);
  });

  it('fires due timers in order of due time, ties in scheduling order', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@20'), 20);
    clock.setTimeout(() => fired.push('d@30'), 30);
    clock.advance(20);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.pending).toBe(1);
  });

  it('sets now() to each timer due time while it runs', () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 5);
    clock.setTimeout(() => seen.push(clock.now()), 15);
    clock.advance(100);
    expect(seen).toEqual([5, 15]);
    expect(clock.now()).toBe(100);
  });

  it('fires a timer scheduled by a callback when it falls due within the same step', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 10);
    }, 10);
    clock.advance(25);
    expect(fired).toEqual([10, 20]);
  });

  it('does not fire cleared timers', () => {
    const clock = new ManualClock();
    let fired = false;
    const t = clock.setTimeout(() => (fired = true), 10);
    clock.clearTimeout(t);
    clock.advance(50);
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('rejects a negative or non-finite step', () => {
    const clock = new ManualClock();
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(/ms must be a finite number ≥ 0/);
  });

  it('advanceAsync lets awaited code between timers run', async () => {
    const clock = new ManualClock();
    const log: number[] = [];
    const task = (async () => {
      await sleep(clock, 10);
      log.push(clock.now());
      await sleep(clock, 10);
      log.push(clock.now());
    })();
    await clock.advanceAsync(20);
    await task;
    expect(log).toEqual([10, 20]);
  });

  it('runAllAsync refuses to spin forever on a timer that re-arms itself', async () => {
    const clock = new ManualClock();
    const rearm = (): void => void clock.setTimeout(rearm, 1);
    rearm();
    await expect(clock.runAllAsync(50)).rejects.toThrow(/re-arms itself forever/);
  });
});

describe('SystemClock', () => {
  it('reads epoch milliseconds and never goes backwards', () => {
    const clock = new SystemClock();
    const a = clock.now();
    const b = clock.now();
    expect(Math.abs(a - Date.now())).toBeLessThan(1000);
    expect(b).toBeGreaterThanOrEqual(a);
  });

  it('runs real timers', async () => {
    const clock = new SystemClock();
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 1));
  });
});

describe('sleep', () => {
  it('rejects at once with the abort reason and clears its timer', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const p = sleep(clock, 1000, ac.signal);
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(clock.pending).toBe(0);
  });

  it('rejects when the signal has already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(new ManualClock(), 5, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});
