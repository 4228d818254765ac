import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { checkNumber, checkOptions } from './options.js';

export interface ClockSkew {
  /** How far ahead of the base clock (ms; negative: behind), from the moment it is set. Default 0. */
  offsetMs?: number;
  /** How many ms it gains on the base clock per second (negative: loses), from then on; within ±500. Default 0. */
  driftPerSec?: number;
}

/**
 * A clock that disagrees with its base: offset by `offsetMs` and running `driftPerSec` ms a
 * second fast (or slow), changeable at run time with `set()` — the clock-skew fault, for code
 * whose leases, TTLs and timeouts must survive a node whose clock is not its peers'. Every
 * steadfast component takes a `clock`: give it one of these.
 *
 * `now()` jumps when the offset is set (as a wall clock stepped by NTP does); timers measure
 * durations at the clock's rate — a 1000 ms timeout on a clock running 100 ms/s fast fires after
 * 909 ms of the base clock — and keep the rate they were set with.
 */
export class SkewedClock implements Clock {
  private anchorBase = 0;
  private anchorSelf = 0;
  private rate = 1;
  private skew: Required<ClockSkew> = { offsetMs: 0, driftPerSec: 0 };

  constructor(
    private readonly base: Clock = systemClock,
    skew?: ClockSkew,
  ) {
    this.set(skew ?? {});
  }

  /** Sets the offset (from now) and the drift; what was not given is kept. */
  set(skew: ClockSkew): void {
    const scope = 'SkewedClock.set';
    const o = checkOptions<ClockSkew>(scope, skew, ['offsetMs', 'driftPerSec']);
    const offsetMs = checkNumber(scope, 'offsetMs', o.offsetMs ?? this.skew.offsetMs, { min: -1e12, max: 1e12 });
    const driftPerSec = checkNumber(scope, 'driftPerSec', o.driftPerSec ?? this.skew.driftPerSec, { min: -500, max: 500 });
    this.anchorBase = this.base.now();
    this.anchorSelf = this.anchorBase + offsetMs;
    this.rate = 1 + driftPerSec / 1000;
    this.skew = { offsetMs, driftPerSec };
  }

  /** What it was last set to. */
  get current(): Required<ClockSkew> {
    return { ...this.skew };
  }

  /** How far ahead of the base clock it is now (ms). */
  aheadMs(): number {
    return this.now() - this.base.now();
  }

  now(): number {
    return this.anchorSelf + (this.base.now() - this.anchorBase) * this.rate;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.base.setTimeout(callback, Math.max(0, delayMs) / this.rate);
  }

  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }
}
