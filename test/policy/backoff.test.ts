import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constantBackoff, exponentialBackoff, type Jitter } from '../../src/policy/index.js';

const randomFrom = (xs: number[]): (() => number) => {
  let i = 0;
  return () => xs[i++ % xs.length]!;
};

describe('constantBackoff', () => {
  it('waits the same time before every retry', () => {
    const b = constantBackoff(250);
    expect([1, 2, 9].map((a) => b.delayMs(a, 0, Math.random))).toEqual([250, 250, 250]);
  });
  it('rejects a negative delay', () => {
    expect(() => constantBackoff(-1)).toThrow('constantBackoff: ms must be a number ≥ 0, got -1');
  });
});

describe('exponentialBackoff', () => {
  it('without jitter doubles from initialDelayMs up to maxDelayMs', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' });
    expect([1, 2, 3, 4, 5, 6].map((a) => b.delayMs(a, 0, Math.random))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('with full jitter draws from [0, exponential delay)', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'full' });
    expect(b.delayMs(3, 0, () => 0.5)).toBe(200);
    expect(b.delayMs(3, 0, () => 0)).toBe(0);
  });

  it('with decorrelated jitter draws from [initial, 3 × previous], capped', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'decorrelated' });
    expect(b.delayMs(1, 0, () => 0)).toBe(100);
    expect(b.delayMs(2, 200, () => 0.5)).toBe(100 + 0.5 * (600 - 100));
    expect(b.delayMs(9, 900, () => 0.99)).toBe(1000);
  });

  const arbOptions = fc.record({
    initialDelayMs: fc.integer({ min: 0, max: 5_000 }),
    extra: fc.integer({ min: 0, max: 60_000 }),
    multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.constantFrom<Jitter>('decorrelated', 'full', 'none'),
  });

  it('never returns a delay outside [0, maxDelayMs] over any sequence of attempts (property)', () => {
    fc.assert(
      fc.property(arbOptions, fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 1, maxLength: 40 }), (o, draws) => {
        const maxDelayMs = o.initialDelayMs + o.extra;
        const b = exponentialBackoff({ initialDelayMs: o.initialDelayMs, maxDelayMs, multiplier: o.multiplier, jitter: o.jitter });
        const random = randomFrom(draws);
        let prev = 0;
        for (let attempt = 1; attempt <= draws.length; attempt++) {
          const d = b.delayMs(attempt, prev, random);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(maxDelayMs);
          if (o.jitter === 'decorrelated') expect(d).toBeGreaterThanOrEqual(Math.min(o.initialDelayMs, maxDelayMs));
          prev = d;
        }
      }),
    );
  });

  it('without jitter never shrinks from one attempt to the next (property)', () => {
    fc.assert(
      fc.property(arbOptions, (o) => {
        const b = exponentialBackoff({ initialDelayMs: o.initialDelayMs, maxDelayMs: o.initialDelayMs + o.extra, multiplier: o.multiplier, jitter: 'none' });
        let prev = -1;
        for (let a = 1; a < 30; a++) {
          const d = b.delayMs(a, 0, Math.random);
          expect(d).toBeGreaterThanOrEqual(prev);
          prev = d;
        }
      }),
    );
  });

  it('rejects bad options, naming the option', () => {
    expect(() => exponentialBackoff({ initialDelayMs: 500, maxDelayMs: 100 })).toThrow('exponentialBackoff: maxDelayMs must be a number ≥ 500, got 100');
    expect(() => exponentialBackoff({ multiplier: 0.5 })).toThrow(/multiplier must be a number ≥ 1/);
    expect(() => exponentialBackoff({ jitter: 'equal' as Jitter })).toThrow(/jitter must be one of 'decorrelated', 'full', 'none'/);
  });
});
