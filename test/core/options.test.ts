import { describe, expect, it } from 'vitest';
import { checkInteger, checkNumber, checkOneOf, checkOptions, seededRandom } from '../../src/core/index.js';

describe('option validation', () => {
  it('names the component, the option, the range and the value', () => {
    expect(() => checkInteger('retry', 'maxAttempts', 0, { min: 1 })).toThrow(new RangeError('retry: maxAttempts must be an integer ≥ 1, got 0'));
    expect(() => checkInteger('retry', 'maxAttempts', 1.5, { min: 1 })).toThrow(RangeError);
    expect(() => checkInteger('retry', 'maxAttempts', '3', { min: 1 })).toThrow(new TypeError('retry: maxAttempts must be an integer ≥ 1, got "3"'));
    expect(() => checkNumber('x', 'ratio', 2, { min: 0, minExclusive: true, max: 1 })).toThrow('x: ratio must be a number > 0 and ≤ 1, got 2');
    expect(() => checkNumber('x', 'ms', Infinity, { min: 0 })).toThrow(/must be a finite number ≥ 0, got Infinity/);
    expect(() => checkNumber('x', 'ms', Number.NaN)).toThrow(TypeError);
  });

  it('accepts values in range and returns them', () => {
    expect(checkInteger('s', 'n', 3, { min: 1, max: 3 })).toBe(3);
    expect(checkNumber('s', 'r', 0.5, { min: 0, max: 1 })).toBe(0.5);
    expect(checkOneOf('s', 'mode', 'a', ['a', 'b'])).toBe('a');
  });

  it('lists the accepted values of an enumeration', () => {
    expect(() => checkOneOf('timeout', 'strategy', 'eager', ['cooperative', 'aggressive'])).toThrow(
      "timeout: strategy must be one of 'cooperative', 'aggressive', got \"eager\"",
    );
  });

  it('rejects unknown options (a typo must not pass silently)', () => {
    expect(() => checkOptions('retry', { maxAtempts: 3 }, ['maxAttempts'])).toThrow("retry: unknown option 'maxAtempts' (known: maxAttempts)");
    expect(() => checkOptions('retry', 5, ['maxAttempts'])).toThrow('retry: options must be an object, got 5');
    expect(checkOptions('retry', undefined, ['maxAttempts'])).toEqual({});
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom(8)()).not.toBe(seededRandom(7)());
  });
});
