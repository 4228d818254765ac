import type { Random } from '../core/random.js';
import { InvalidOptionError } from '../core/errors.js';

export type Schedule = { kind: 'fixed'; intervalMs: number } | { kind: 'poisson'; mtbfMs: number };

/**
 * Delay before the next fault: fixed, or exponentially distributed with mean `mtbfMs` (faults
 * as a Poisson process, the model behind MTBF). Seeded randomness makes a run repeatable.
 */
export function nextFaultDelayMs(schedule: Schedule, random: Random): number {
  if (schedule.kind === 'fixed') return schedule.intervalMs;
  // Inverse transform sampling: −mean · ln(1 − u).
  return -schedule.mtbfMs * Math.log(1 - random());
}

export function checkSchedule(scope: string, s: unknown): Schedule {
  const x = s as Partial<Schedule> | null;
  if (x && x.kind === 'fixed' && typeof x.intervalMs === 'number' && x.intervalMs > 0) return { kind: 'fixed', intervalMs: x.intervalMs };
  if (x && x.kind === 'poisson' && typeof (x as { mtbfMs?: number }).mtbfMs === 'number' && (x as { mtbfMs: number }).mtbfMs > 0) return { kind: 'poisson', mtbfMs: (x as { mtbfMs: number }).mtbfMs };
  throw new InvalidOptionError(`${scope}: schedule must be { kind: 'fixed', intervalMs > 0 } or { kind: 'poisson', mtbfMs > 0 }, got ${JSON.stringify(s)}`);
}
