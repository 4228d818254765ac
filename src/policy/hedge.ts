import { abortReason, neverAbortedSignal } from '../core/abort.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { AbortedError, HedgeFailedError, InvalidOptionError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { ChildContext, rootContext } from './context.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export interface HedgeOptions {
  /** Start another attempt when none has answered after this long. Required. */
  delayMs: number;
  /** Extra attempts at most (the first not counted). Default 1. */
  maxHedged?: number;
  clock?: Clock;
}

export const HEDGE_DEFAULTS = Object.freeze({ maxHedged: 1 });

export interface HedgeEvents {
  /** An extra attempt started; `attempt` is 2 for the first hedge. */
  hedge: { attempt: number; afterFailure: boolean };
}

export interface HedgeStats {
  calls: number;
  hedges: number;
  /** Calls won by an extra attempt, not the first. */
  hedgeWins: number;
  failures: number;
}

/**
 * Tail-latency insurance (Dean & Barroso, "The Tail at Scale", 2013): when the first
 * attempt has not answered after `delayMs`, start another; the first success wins and
 * the others' signals abort. An attempt that fails starts the next one at once.
 * Only for idempotent work.
 */
export class HedgePolicy implements Policy, Observable<HedgeEvents> {
  readonly delayMs: number;
  readonly maxHedged: number;
  private readonly clock: Clock;
  private readonly events = new Emitter<HedgeEvents>();
  private counts: HedgeStats = { calls: 0, hedges: 0, hedgeWins: 0, failures: 0 };

  constructor(options: HedgeOptions) {
    const scope = 'hedge';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { delayMs } are required`);
    const o = checkOptions<HedgeOptions>(scope, options, ['delayMs', 'maxHedged', 'clock']);
    this.delayMs = checkNumber(scope, 'delayMs', o.delayMs, { min: 0 });
    this.maxHedged = checkInteger(scope, 'maxHedged', o.maxHedged ?? HEDGE_DEFAULTS.maxHedged, { min: 1, max: 100 });
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
  }

  on<K extends keyof HedgeEvents>(name: K, listener: Listener<HedgeEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<HedgeStats> {
    return { ...this.counts };
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    this.counts.calls++;
    return new Promise<T>((resolve, reject) => {
      const attempts: ChildContext[] = [];
      const errors: unknown[] = [];
      let pending = 0;
      let done = false;
      let timer: TimerHandle | undefined;
      const parentSignal = context.signal;

      const finish = (): void => {
        done = true;
        if (timer !== undefined) this.clock.clearTimeout(timer);
        timer = undefined;
        if (parentSignal !== neverAbortedSignal) parentSignal.removeEventListener('abort', onParentAbort);
      };
      const abortOthers = (winner: ChildContext | undefined): void => {
        for (const a of attempts) {
          if (a !== winner) a.abort(new AbortedError('hedge: another attempt answered first'));
          a.release();
        }
      };
      const onParentAbort = (): void => {
        if (done) return;
        finish();
        abortOthers(undefined);
        reject(abortReason(parentSignal));
      };

      const launch = (afterFailure: boolean): void => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        timer = undefined;
        const index = attempts.length;
        const ctx = new ChildContext(context, context.attempt + index);
        attempts.push(ctx);
        pending++;
        if (index > 0) {
          this.counts.hedges++;
          this.events.emit('hedge', { attempt: ctx.attempt, afterFailure });
        }
        if (attempts.length <= this.maxHedged) {
          timer = this.clock.setTimeout(() => {
            timer = undefined;
            if (!done) launch(false);
          }, this.delayMs);
        }
        new Promise<T>((r) => r(fn(ctx))).then(
          (value) => {
            pending--;
            if (done) return;
            finish();
            if (index > 0) this.counts.hedgeWins++;
            abortOthers(ctx);
            resolve(value);
          },
          (error) => {
            pending--;
            errors[index] = error;
            if (done) return;
            if (parentSignal.aborted) return onParentAbort();
            if (attempts.length <= this.maxHedged) return launch(true);
            if (pending === 0) {
              finish();
              abortOthers(undefined);
              this.counts.failures++;
              reject(attempts.length === 1 ? error : new HedgeFailedError(errors));
            }
          },
        );
      };

      if (parentSignal !== neverAbortedSignal) parentSignal.addEventListener('abort', onParentAbort, { once: true });
      launch(false);
    });
  }
}

export function hedge(options: HedgeOptions): HedgePolicy {
  return new HedgePolicy(options);
}
