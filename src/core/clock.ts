import { InvalidOptionError, OptionRangeError } from './errors.js';
/**
 * Time as an input. Everything in steadfast that waits or measures takes a `clock`
 * option; production code uses `SystemClock`, tests drive a `ManualClock`.
 *
 * `now()` is milliseconds on the Unix epoch scale, so values survive a restart
 * (a circuit breaker checkpointed as "opened at T" means the same T after restore).
 */
export interface TimerHandle {
  /** Lets the process exit while this timer is pending (no-op on ManualClock). */
  unref?(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch; never goes backwards on SystemClock. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Wall-clock scale, monotonic source: `performance.timeOrigin + performance.now()`
 * does not jump when NTP steps the system clock, unlike `Date.now()`.
 */
export class SystemClock implements Clock {
  private readonly origin = performance.timeOrigin;
  now(): number {
    return this.origin + performance.now();
  }
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return setTimeout(callback, Math.max(0, delayMs));
  }
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

/** The shared default clock. */
export const systemClock: Clock = new SystemClock();

interface ManualTimer extends TimerHandle {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires every timer that falls
 * due within the step, in order of due time (ties in order of scheduling), with
 * `now()` set to each timer's due time while it runs — so a timer scheduled by a
 * callback inside the step also fires if it falls due within it.
 *
 * Promise chains need the microtask queue to drain between timers; use
 * `advanceAsync(ms)` when the code under test awaits between timers.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) {
      throw new InvalidOptionError(`ManualClock: startMs must be a finite number, got ${String(startMs)}`);
    }
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = {
      due: this.current + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.cancelled = true;
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.length;
  }

  /** Due time of the next pending timer, or undefined. */
  nextDue(): number | undefined {
    return this.takeNext(Infinity, false)?.due;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    this.checkStep(ms);
    const target = this.current + ms;
    for (;;) {
      const timer = this.takeNext(target, true);
      if (!timer) break;
      this.current = timer.due;
      timer.callback();
    }
    this.current = target;
  }

  /** Like `advance`, but lets promise callbacks run after each timer and before returning. */
  async advanceAsync(ms: number): Promise<void> {
    this.checkStep(ms);
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      const timer = this.takeNext(target, true);
      if (!timer) break;
      this.current = timer.due;
      timer.callback();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }

  /** Fires timers until none is pending (bounded, so a timer that re-arms forever cannot hang a test). */
  async runAllAsync(maxTimers = 10_000): Promise<void> {
    await flushMicrotasks();
    for (let i = 0; i < maxTimers; i++) {
      const timer = this.takeNext(Infinity, true);
      if (!timer) return;
      this.current = Math.max(this.current, timer.due);
      timer.callback();
      await flushMicrotasks();
    }
    throw new Error(`ManualClock.runAllAsync: more than ${maxTimers} timers fired; a timer re-arms itself forever`);
  }

  private checkStep(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new OptionRangeError(`ManualClock.advance: ms must be a finite number ≥ 0, got ${String(ms)}`);
    }
  }

  private takeNext(limit: number, remove: boolean): ManualTimer | undefined {
    let best = -1;
    for (let i = 0; i < this.timers.length; i++) {
      const t = this.timers[i]!;
      if (t.due > limit) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const b = this.timers[best]!;
      if (t.due < b.due || (t.due === b.due && t.seq < b.seq)) best = i;
    }
    if (best < 0) return undefined;
    const timer = this.timers[best]!;
    if (remove) this.timers.splice(best, 1);
    return timer;
  }
}

/** Resolves after every queued promise callback has run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
