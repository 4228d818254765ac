import { checkNumber, checkOneOf, checkOptions } from '../core/options.js';
import type { Random } from '../core/random.js';

/**
 * How long to wait before the next attempt. Pure: the same inputs give the same delay,
 * so bounds are tested as properties (test/policy/backoff.test.ts).
 */
export interface Backoff {
  /**
   * @param attempt the attempt that just failed, 1-based
   * @param previousDelayMs the delay before that attempt (0 before the first retry)
   * @param random uniform in [0, 1)
   */
  delayMs(attempt: number, previousDelayMs: number, random: Random): number;
}

/** The same delay before every retry. */
export function constantBackoff(ms: number): Backoff {
  checkNumber('constantBackoff', 'ms', ms, { min: 0 });
  return { delayMs: () => ms };
}

export type Jitter = 'decorrelated' | 'full' | 'none';

export interface ExponentialBackoffOptions {
  /** Delay before the first retry (and the floor of decorrelated jitter). Default 100. */
  initialDelayMs?: number;
  /** No delay exceeds this. Default 30 000. */
  maxDelayMs?: number;
  /** Growth per attempt for 'none' and 'full': delay = initialDelayMs × multiplier^(attempt−1). Default 2. */
  multiplier?: number;
  /**
   * Spreads retries of many clients apart (AWS Architecture Blog, "Exponential Backoff
   * and Jitter", 2015):
   * - 'decorrelated' (default): min(maxDelayMs, uniform(initialDelayMs, previous × 3))
   * - 'full': uniform(0, min(maxDelayMs, initialDelayMs × multiplier^(attempt−1)))
   * - 'none': min(maxDelayMs, initialDelayMs × multiplier^(attempt−1))
   */
  jitter?: Jitter;
}

export const EXPONENTIAL_BACKOFF_DEFAULTS = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 'decorrelated' as Jitter,
});

export function exponentialBackoff(options?: ExponentialBackoffOptions): Backoff {
  const scope = 'exponentialBackoff';
  const o = { ...EXPONENTIAL_BACKOFF_DEFAULTS, ...checkOptions<ExponentialBackoffOptions>(scope, options, Object.keys(EXPONENTIAL_BACKOFF_DEFAULTS)) };
  checkNumber(scope, 'initialDelayMs', o.initialDelayMs, { min: 0 });
  checkNumber(scope, 'maxDelayMs', o.maxDelayMs, { min: o.initialDelayMs });
  checkNumber(scope, 'multiplier', o.multiplier, { min: 1 });
  checkOneOf(scope, 'jitter', o.jitter, ['decorrelated', 'full', 'none']);
  const { initialDelayMs: base, maxDelayMs: cap, multiplier, jitter } = o;
  const exp = (attempt: number): number => Math.min(cap, base * Math.pow(multiplier, Math.max(0, attempt - 1)));
  switch (jitter) {
    case 'none':
      return { delayMs: (attempt) => exp(attempt) };
    case 'full':
      return { delayMs: (attempt, _prev, random) => random() * exp(attempt) };
    case 'decorrelated':
      return {
        delayMs: (_attempt, prev, random) => {
          const upper = Math.max(base, prev * 3);
          return Math.min(cap, base + random() * (upper - base));
        },
      };
  }
}
