import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { SkewedClock } from '../../src/core/skewed-clock.js';
import { InvalidOptionError, OptionRangeError } from '../../src/core/errors.js';

describe('SkewedClock', () => {
  it('reads ahead or behind its base by the offset, and drifts at the rate it is given', () => {
    const base = new ManualClock(1_000_000);
    const c = new SkewedClock(base, { offsetMs: 5000 });
    expect(c.now()).toBe(1_005_000);
    base.advance(1000);
    expect(c.now()).toBe(1_006_000);
    c.set({ offsetMs: -5000, driftPerSec: 100 });
    expect(c.aheadMs()).toBe(-5000);
    base.advance(10_000); // 10 s at +100 ms/s: 1 s gained
    expect(c.aheadMs()).toBeCloseTo(-4000, 6);
    expect(c.current).toEqual({ offsetMs: -5000, driftPerSec: 100 });
    c.set({ driftPerSec: 0 }); // the offset is kept as it was set, from now
    expect(c.aheadMs()).toBe(-5000);
  });

  it('measures timeouts at its own rate: a fast clock fires early by the base clock', () => {
    const base = new ManualClock();
    const fast = new SkewedClock(base, { driftPerSec: 250 });
    const slow = new SkewedClock(base, { offsetMs: 1e6, driftPerSec: -200 });
    const fired: string[] = [];
    fast.setTimeout(() => fired.push('fast'), 1000);
    slow.setTimeout(() => fired.push('slow'), 1000);
    const cancelled = fast.setTimeout(() => fired.push('cancelled'), 10);
    fast.clearTimeout(cancelled);
    base.advance(799);
    expect(fired).toEqual([]);
    base.advance(1); // 1000 / 1.25
    expect(fired).toEqual(['fast']);
    base.advance(449);
    expect(fired).toEqual(['fast']);
    base.advance(1); // 1000 / 0.8
    expect(fired).toEqual(['fast', 'slow']);
  });

  it('refuses a drift outside ±500 ms/s and unknown fields, naming them', () => {
    expect(() => new SkewedClock(new ManualClock(), { driftPerSec: 1000 })).toThrow(OptionRangeError);
    expect(() => new SkewedClock(new ManualClock(), { offsetMs: 'soon' as never })).toThrow(/offsetMs must be a number/);
    expect(() => new SkewedClock(new ManualClock(), { skewMs: 1 } as never)).toThrow(InvalidOptionError);
  });
});
