import { abortReason, neverAbortedSignal } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { TimeoutError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkNumber, checkOneOf, checkOptions } from '../core/options.js';
import { ChildContext, isThenable, rootContext } from './context.js';
import { PASS, single, type Pipeline, type Stage } from './pipeline.js';
import { DeadlineWheel, type DeadlineSlot, type WheelMember } from './deadline-wheel.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export type TimeoutStrategy = 'cooperative' | 'aggressive';

export interface TimeoutOptions {
  /**
   * - 'cooperative' (default): the function's `signal` aborts with a TimeoutError at the
   *   deadline; the caller waits for the function to stop (fetch, undici and most Node
   *   APIs stop when their signal aborts).
   * - 'aggressive': the caller is released with a TimeoutError at the deadline whether or
   *   not the function stops; its late outcome is dropped.
   */
  strategy?: TimeoutStrategy;
  clock?: Clock;
}

export const TIMEOUT_DEFAULTS = Object.freeze({ strategy: 'cooperative' as TimeoutStrategy });

export interface TimeoutEvents {
  /** Deadlines passed with `inFlight` calls still running. */
  timeout: { timeoutMs: number; inFlight: number };
}

export interface TimeoutStats {
  calls: number;
  /** Calls still running when their deadline passed (whether or not they read their signal). */
  timeouts: number;
}

class TimeoutContext extends ChildContext implements WheelMember {
  settled = false;
  watchIndex = -1;
  reject: ((err: unknown) => void) | undefined = undefined;

  constructor(
    parent: ExecutionContext,
    readonly slot: DeadlineSlot,
    private readonly timeoutMs: number,
  ) {
    super(parent);
  }

  private shared: AbortSignal | undefined = undefined;

  /**
   * A call under no caller signal (its parent's never aborts) gets its slot's shared signal:
   * every call of the slot has the same deadline window, and the slot aborts the signal when it
   * expires with calls in flight — never before any member's own deadline (a slot expires
   * timeoutMs + one tick after it opened, and it takes members for one tick). A caller's own
   * signal must still abort the call: then the context makes its own controller, linked to it.
   * (A call that already returned may see its signal abort at the deadline too, if others of
   * its slot are still running; nothing aborts it on return — as cockatiel with abortOnReturn: false.)
   */
  protected override sharedSignal(): AbortSignal | undefined {
    if (this.shared !== undefined) return this.shared;
    if (this.parent.signal !== neverAbortedSignal) return undefined;
    const controller = (this.slot.controller ??= new AbortController());
    if (this.slot.expired && !this.settled && !controller.signal.aborted) controller.abort(new TimeoutError(this.timeoutMs));
    this.shared = controller.signal;
    return this.shared;
  }

  /** Cooperative: the deadline needs watching only once the function holds a signal. */
  protected override onMaterialize(): void {
    if (this.settled) return;
    if (this.slot.expired) this.fire();
    else this.slot.watch(this);
  }

  fire(): void {
    if (this.settled) return;
    const error = new TimeoutError(this.timeoutMs);
    this.abort(error);
    if (this.reject !== undefined) {
      // Aggressive: release the caller now; the function's late outcome is dropped.
      this.settled = true;
      this.release();
      this.reject(error);
    }
  }

  /** Marks the call finished; true if it finished before its deadline was counted. */
  finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.slot.leave(this);
    this.release();
  }
}

/**
 * Bounds how long a call may take. Deadlines come from a shared wheel (see
 * deadline-wheel.ts): no AbortController unless the function reads `signal`, no timer
 * or clock read per call, and a deadline fires between `timeoutMs` and
 * `timeoutMs × 1.1` after the call started.
 */
export class TimeoutPolicy implements Policy, Stage<TimeoutContext>, Observable<TimeoutEvents> {
  /** @internal set when cooperative: aggressive timeouts race the call and cannot be fused */
  readonly stage: Stage<TimeoutContext> | undefined;
  private readonly pipeline: Pipeline;
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  private readonly wheel: DeadlineWheel;
  private readonly events = new Emitter<TimeoutEvents>();
  private readonly counts: TimeoutStats = { calls: 0, timeouts: 0 };

  constructor(timeoutMs: number, options?: TimeoutOptions) {
    const scope = 'timeout';
    this.timeoutMs = checkNumber(scope, 'timeoutMs', timeoutMs, { min: 0, minExclusive: true, max: 2 ** 31 - 1 });
    const o = checkOptions<TimeoutOptions>(scope, options, ['strategy', 'clock']);
    this.strategy = checkOneOf(scope, 'strategy', o.strategy ?? TIMEOUT_DEFAULTS.strategy, ['cooperative', 'aggressive']);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.stage = this.strategy === 'cooperative' ? this : undefined;
    this.pipeline = single(this);
    this.wheel = new DeadlineWheel(
      o.clock ?? systemClock,
      this.timeoutMs,
      (inFlight) => {
        this.counts.timeouts += inFlight;
        if (this.events.has('timeout')) this.events.emit('timeout', { timeoutMs: this.timeoutMs, inFlight });
      },
      () => new TimeoutError(this.timeoutMs),
    );
  }

  on<K extends keyof TimeoutEvents>(name: K, listener: Listener<TimeoutEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<TimeoutStats> {
    return { ...this.counts };
  }

  /** Calls in flight under this policy. */
  get inFlight(): number {
    return this.wheel.inFlight;
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    if (this.strategy === 'cooperative') return this.pipeline.run(fn, context);
    this.counts.calls++;
    const ctx = new TimeoutContext(context, this.wheel.join(), this.timeoutMs);
    return this.runAggressive(fn, ctx, context);
  }

  /** @internal stage protocol (cooperative only): the state is the call's context. */
  enter(context: ExecutionContext): TimeoutContext {
    this.counts.calls++;
    return new TimeoutContext(context, this.wheel.join(), this.timeoutMs);
  }

  /** @internal */
  inner(state: TimeoutContext): ExecutionContext {
    return state;
  }

  /** @internal */
  settle(state: TimeoutContext): typeof PASS {
    state.finish();
    return PASS;
  }

  private runAggressive<T>(fn: Task<T>, ctx: TimeoutContext, context: ExecutionContext): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      ctx.reject = reject;
      ctx.slot.watch(ctx);
      if (context.signal !== neverAbortedSignal) {
        // Release the caller as soon as its own signal aborts, too.
        const signal = ctx.signal;
        signal.addEventListener('abort', () => {
          if (ctx.settled) return;
          ctx.finish();
          reject(signal.reason);
        });
      }
      let value: T | PromiseLike<T>;
      try {
        value = fn(ctx);
      } catch (err) {
        ctx.finish();
        reject(err);
        return;
      }
      if (!isThenable(value)) {
        ctx.finish();
        resolve(value);
        return;
      }
      value.then(
        (v) => {
          if (ctx.settled) return;
          ctx.finish();
          resolve(v);
        },
        (err) => {
          if (ctx.settled) return;
          ctx.finish();
          reject(err);
        },
      );
    });
  }
}

/** Bounds how long a call may take. `timeout(1000)` is cooperative; see TimeoutOptions. */
export function timeout(timeoutMs: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(timeoutMs, options);
}
