import type { Random } from '../core/random.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';

export type Schedule =
  | { kind: 'fixed'; intervalMs: number }
  /** intervalMs × (1 ± jitter), uniformly: regular, but never in lockstep with anything else. */
  | { kind: 'jittered'; intervalMs: number; jitter: number }
  | { kind: 'poisson'; mtbfMs: number };

/**
 * Delay before the next fault: fixed, or exponentially distributed with mean `mtbfMs` (faults
 * as a Poisson process, the model behind MTBF). Seeded randomness makes a run repeatable.
 */
export function nextFaultDelayMs(schedule: Schedule, random: Random): number {
  if (schedule.kind === 'fixed') return schedule.intervalMs;
  if (schedule.kind === 'jittered') return schedule.intervalMs * (1 - schedule.jitter + 2 * schedule.jitter * random());
  // Inverse transform sampling: −mean · ln(1 − u).
  return -schedule.mtbfMs * Math.log(1 - random());
}

export function checkSchedule(scope: string, s: unknown): Schedule {
  const x = s as Partial<Schedule> | null;
  if (x && x.kind === 'fixed' && typeof x.intervalMs === 'number' && x.intervalMs > 0) return { kind: 'fixed', intervalMs: x.intervalMs };
  if (x && x.kind === 'jittered') {
    const j = x as { intervalMs?: unknown; jitter?: unknown };
    if (typeof j.intervalMs === 'number' && j.intervalMs > 0 && typeof j.jitter === 'number' && j.jitter >= 0 && j.jitter < 1) return { kind: 'jittered', intervalMs: j.intervalMs, jitter: j.jitter };
  }
  if (x && x.kind === 'poisson' && typeof (x as { mtbfMs?: number }).mtbfMs === 'number' && (x as { mtbfMs: number }).mtbfMs > 0) return { kind: 'poisson', mtbfMs: (x as { mtbfMs: number }).mtbfMs };
  throw new InvalidOptionError(`${scope}: schedule must be { kind: 'fixed', intervalMs > 0 }, { kind: 'jittered', intervalMs > 0, jitter from 0 to < 1 } or { kind: 'poisson', mtbfMs > 0 }, got ${JSON.stringify(s)}`);
}

/**
 * When the next fault is due, on a seeded schedule and a clock, with a gate: a due fault waits
 * (asking again every `pollMs`, at most `maxWaitMs`) while `blocked()` says so, then `fire()`
 * runs — once the wait is over, blocked or not — and the next delay is drawn. Nothing fires after
 * clock time `until`, nor while `active()` is false. ProcessChaos and NetworkChaos both run on one.
 */
export class FaultTimer {
  private timer: TimerHandle | undefined;
  private on = false;
  private until = Infinity;

  constructor(private readonly o: { schedule: Schedule; random: Random; clock: Clock; maxWaitMs: number; pollMs: number; blocked: () => boolean; fire: () => void; active?: () => boolean }) {}

  /** Starts the schedule (if it is not on), firing nothing after clock time `until`. */
  start(until = Infinity): void {
    this.until = until;
    if (!this.on) {
      this.on = true;
      this.arm();
    }
  }

  stop(): void {
    this.on = false;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private live(): boolean {
    return this.on && (this.o.active?.() ?? true);
  }

  private arm(): void {
    if (!this.live()) return;
    this.timer = this.o.clock.setTimeout(() => this.due(this.o.clock.now() + this.o.maxWaitMs), nextFaultDelayMs(this.o.schedule, this.o.random));
  }

  private due(waitUntil: number): void {
    this.timer = undefined;
    const clock = this.o.clock;
    if (!this.live() || clock.now() > this.until) return;
    if (this.o.blocked() && clock.now() < waitUntil) {
      this.timer = clock.setTimeout(() => this.due(waitUntil), this.o.pollMs);
      return;
    }
    this.o.fire();
    this.arm();
  }
}
