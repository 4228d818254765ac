import { InvalidOptionError } from './errors.js';
/**
 * Randomness as an input: components take `random: () => number` (uniform in [0, 1)),
 * default `Math.random`; tests and chaos schedules pass `seededRandom(seed)`.
 */
export type Random = () => number;

/**
 * Mulberry32: a 32-bit seeded generator, fast and good enough for jitter and fault
 * schedules (not for cryptography). The same seed gives the same sequence everywhere.
 */
export function seededRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new InvalidOptionError(`seededRandom: seed must be a finite number, got ${String(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
