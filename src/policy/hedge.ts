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
    const parentSignal = context.signal;
    const contexts: ChildContext[] = [];
    const tries = Array.from({ length: this.maxHedged + 1 }, (_, i) => i);
    return hedgeRace<number, T>({
      candidates: tries,
      delayMs: this.delayMs,
      clock: this.clock,
      signal: parentSignal === neverAbortedSignal ? undefined : parentSignal,
      mayStart: (index, cause) => {
        this.counts.hedges++;
        this.events.emit('hedge', { attempt: context.attempt + index, afterFailure: cause !== undefined });
        return true;
      },
      start: (index) => {
        const ctx = new ChildContext(context, context.attempt + index);
        contexts.push(ctx);
        return { result: new Promise<T>((r) => r(fn(ctx))), cancel: () => ctx.abort(new AbortedError('hedge: another attempt answered first')) };
      },
    }).then((outcome) => {
      for (const c of contexts) c.release();
      if (outcome.aborted) throw abortReason(parentSignal);
      const winner = outcome.won[0];
      if (winner !== undefined) {
        if (winner.index > 0) this.counts.hedgeWins++;
        return winner.value as T;
      }
      this.counts.failures++;
      const errors: unknown[] = [];
      for (const l of outcome.lost) errors[l.index] = l.error;
      throw outcome.started === 1 ? errors[0] : new HedgeFailedError(errors);
    });
  }
}

/** One try of a {@link hedgeRace}: its result, and how to stop it when the race is over. */
export interface RaceStart<T> {
  result: Promise<T>;
  cancel: () => void;
}

/** How one try of a race ended. `value` is set when it resolved (also when `accept` refused it), `error` when it rejected. */
export interface RaceEntry<C, T> {
  candidate: C;
  index: number;
  value?: T;
  error?: unknown;
}

export interface RaceOptions<C, T> {
  /** Tried in this order; the first `want` start at once. */
  candidates: readonly C[];
  /** Successes to wait for. Default 1. */
  want?: number;
  /** When no try has ended for this long since the last one started, the next candidate starts as well. */
  delayMs: number;
  clock: Clock;
  /** Aborting ends the race at once: running tries are cancelled, the outcome says `aborted`. */
  signal?: AbortSignal | undefined;
  /**
   * Asked before every start beyond the first `want`, with the try whose failure prompted it
   * (undefined: `delayMs` passed). false holds the start back; the next failure or delay asks again.
   */
  mayStart?: (index: number, cause: RaceEntry<C, T> | undefined) => boolean;
  start: (candidate: C, index: number) => RaceStart<T>;
  /** Whether a resolved value counts as a success (default: every one). One that does not is a failure: the next candidate starts. */
  accept?: (value: T) => boolean;
}

export interface RaceOutcome<C, T> {
  /** Successes, in the order they ended. */
  won: RaceEntry<C, T>[];
  /** Failures that ended before the race did, in the order they ended. */
  lost: RaceEntry<C, T>[];
  /** Tries started. */
  started: number;
  aborted: boolean;
}

/**
 * The one hedging engine of the project (HedgePolicy, the failover client's hedged requests, the
 * demo's quorum reads and writes): start `want` tries; a failure starts the next candidate at
 * once; no answer for `delayMs` starts the next one as well; done when `want` succeeded, when
 * nothing is running and nothing more may start, or when the signal aborts. Tries still running
 * then are cancelled. Never rejects: the caller turns the outcome into its own answer or error.
 */
export function hedgeRace<C, T>(o: RaceOptions<C, T>): Promise<RaceOutcome<C, T>> {
  const want = o.want ?? 1;
  const won: RaceEntry<C, T>[] = [];
  const lost: RaceEntry<C, T>[] = [];
  const running = new Map<number, () => void>();
  let next = 0;
  let done = false;
  let timer: TimerHandle | undefined;
  return new Promise((resolve) => {
    const finish = (aborted: boolean): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) o.clock.clearTimeout(timer);
      for (const cancel of running.values()) cancel();
      running.clear();
      o.signal?.removeEventListener('abort', onAbort);
      resolve({ won, lost, started: next, aborted });
    };
    const onAbort = (): void => finish(true);
    const startNext = (cause: RaceEntry<C, T> | undefined): void => {
      if (done || next >= o.candidates.length) return;
      const index = next;
      if (index >= want && o.mayStart !== undefined && !o.mayStart(index, cause)) return;
      next++;
      const candidate = o.candidates[index] as C;
      let started: RaceStart<T>;
      try {
        started = o.start(candidate, index);
      } catch (error) {
        started = { result: Promise.reject(error), cancel: () => {} };
      }
      running.set(index, started.cancel);
      if (timer !== undefined) o.clock.clearTimeout(timer);
      timer = undefined;
      if (next < o.candidates.length) {
        timer = o.clock.setTimeout(() => {
          timer = undefined;
          startNext(undefined);
        }, o.delayMs);
      }
      started.result.then(
        (value) => settle({ candidate, index, value }, o.accept === undefined || o.accept(value)),
        (error: unknown) => settle({ candidate, index, error }, false),
      );
    };
    const settle = (entry: RaceEntry<C, T>, ok: boolean): void => {
      if (done) return;
      running.delete(entry.index);
      if (ok) won.push(entry);
      else {
        lost.push(entry);
        startNext(entry);
      }
      if (won.length >= want || running.size === 0) finish(false);
    };
    if (o.signal?.aborted) return finish(true);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    for (let i = 0; i < want; i++) startNext(undefined);
    if (running.size === 0) finish(false);
  });
}

export function hedge(options: HedgeOptions): HedgePolicy {
  return new HedgePolicy(options);
}
