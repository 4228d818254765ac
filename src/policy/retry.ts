import { abortReason, sleep } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { isRetryable, InvalidOptionError, retryAfterOf } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkOptions } from '../core/options.js';
import type { Random } from '../core/random.js';
import { exponentialBackoff, type Backoff } from './backoff.js';
import { AttemptContext, rootContext } from './context.js';
import { PASS, single, type Pipeline, type Stage } from './pipeline.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  maxAttempts?: number;
  /** Delay between attempts. Default exponentialBackoff() (100 ms doubling, decorrelated jitter, ≤ 30 s). */
  backoff?: Backoff;
  /** Whether an error is worth another attempt. Default: `isRetryable(err)` (a SteadfastError decides; others yes). */
  retryOn?: (err: unknown) => boolean;
  /** Whether a returned value should be retried (e.g. an HTTP 503). Default: never. */
  retryOnResult?: (value: unknown) => boolean;
  /**
   * Wait at least as long as the refusal asked (a `retryAfterMs` on the error, or a Retry-After
   * header on an HTTP answer or error); when it asks for more than this, give up instead of
   * asking again too early. 0 = ignore Retry-After. Default 30 000.
   */
  maxRetryAfterMs?: number;
  clock?: Clock;
  /** Uniform in [0, 1), for jitter. Default Math.random; pass seededRandom(seed) for repeatable runs. */
  random?: Random;
}

export const RETRY_DEFAULTS = Object.freeze({
  maxAttempts: 3,
  maxRetryAfterMs: 30_000,
});

export interface RetryEvent {
  /** The attempt that failed, 1-based. */
  attempt: number;
  delayMs: number;
  /** What the refusal asked for (Retry-After), when it did. */
  retryAfterMs?: number;
  error?: unknown;
  result?: unknown;
}

export interface GiveUpEvent {
  attempts: number;
  error?: unknown;
  result?: unknown;
}

export interface RetryEvents {
  retry: RetryEvent;
  giveUp: GiveUpEvent;
  success: { attempts: number };
}

export interface RetryStats {
  calls: number;
  successes: number;
  failures: number;
  retries: number;
  givenUp: number;
}

const KNOWN = ['maxAttempts', 'backoff', 'retryOn', 'retryOnResult', 'maxRetryAfterMs', 'clock', 'random'];

export class RetryPolicy implements Policy, Stage<null>, Observable<RetryEvents> {
  /** @internal */
  readonly stage: Stage<null> = this;
  private readonly pipeline: Pipeline = single(this);
  readonly maxAttempts: number;
  readonly maxRetryAfterMs: number;
  private readonly backoff: Backoff;
  private readonly retryOn: (err: unknown) => boolean;
  private readonly retryOnResult: ((value: unknown) => boolean) | undefined;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly events = new Emitter<RetryEvents>();
  private readonly counts: RetryStats = { calls: 0, successes: 0, failures: 0, retries: 0, givenUp: 0 };

  constructor(options?: RetryOptions) {
    const scope = 'retry';
    const o = checkOptions<RetryOptions>(scope, options, KNOWN);
    this.maxAttempts = checkInteger(scope, 'maxAttempts', o.maxAttempts ?? RETRY_DEFAULTS.maxAttempts, { min: 1, max: 1000 });
    this.maxRetryAfterMs = checkInteger(scope, 'maxRetryAfterMs', o.maxRetryAfterMs ?? RETRY_DEFAULTS.maxRetryAfterMs, { min: 0, max: 86_400_000 });
    if (o.backoff !== undefined && (o.backoff === null || typeof o.backoff.delayMs !== 'function')) {
      throw new InvalidOptionError(`${scope}: backoff must be a Backoff (constantBackoff(ms) or exponentialBackoff({...})), got ${typeof o.backoff}`);
    }
    this.backoff = o.backoff ?? exponentialBackoff();
    this.retryOn = o.retryOn === undefined ? isRetryable : checkFunction<(err: unknown) => boolean>(scope, 'retryOn', o.retryOn);
    this.retryOnResult = o.retryOnResult === undefined ? undefined : checkFunction<(value: unknown) => boolean>(scope, 'retryOnResult', o.retryOnResult);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.random = o.random === undefined ? Math.random : checkFunction<Random>(scope, 'random', o.random);
  }

  on<K extends keyof RetryEvents>(name: K, listener: Listener<RetryEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<RetryStats> {
    return { ...this.counts };
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.pipeline.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.pipeline.run(fn, context);
  }

  /** @internal stage protocol (see pipeline.ts) */
  enter(): null {
    this.counts.calls++;
    return null;
  }

  /** @internal */
  inner(_state: null, context: ExecutionContext): ExecutionContext {
    // The first attempt reuses the caller's context when it already says attempt 1: no allocation.
    return context.attempt === 1 ? context : new AttemptContext(context, 1);
  }

  /** @internal The fast path ends here on success; a failure starts the retry loop (slow path). */
  settle(_state: null, ok: boolean, outcome: unknown, context: ExecutionContext, pipeline: Pipeline, next: number, fn: Task<unknown>): typeof PASS | Promise<unknown> {
    if (ok && (this.retryOnResult === undefined || !this.retryOnResult(outcome))) {
      this.counts.successes++;
      if (this.events.has('success')) this.events.emit('success', { attempts: 1 });
      return PASS;
    }
    return this.loop(context, 1, 0, ok ? { result: outcome } : { error: outcome }, pipeline, next, fn);
  }

  /** `attempt` has just failed with `outcome`. */
  private async loop(
    context: ExecutionContext,
    attempt: number,
    previousDelay: number,
    outcome: { error?: unknown; result?: unknown },
    pipeline: Pipeline,
    next: number,
    fn: Task<unknown>,
  ): Promise<unknown> {
    for (;;) {
      const signal = context.signal;
      const failedWithError = 'error' in outcome;
      const exhausted = attempt >= this.maxAttempts;
      const retryAfterMs = this.maxRetryAfterMs > 0 ? retryAfterOf(failedWithError ? outcome.error : outcome.result, this.clock.now()) : undefined;
      // Asked to wait longer than we will: asking again sooner would only add to the overload.
      const tooLong = retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs;
      if (signal.aborted || exhausted || tooLong || (failedWithError && !this.retryOn(outcome.error))) {
        this.counts.failures++;
        if (!signal.aborted && attempt > 1) this.giveUp(attempt, { attempts: attempt, ...outcome });
        if (failedWithError) throw outcome.error;
        return outcome.result;
      }
      previousDelay = await this.pause(attempt, previousDelay, signal, outcome, retryAfterMs);
      attempt++;
      try {
        const value = await pipeline.runFrom(next, fn, new AttemptContext(context, attempt));
        if (this.retryOnResult === undefined || !this.retryOnResult(value)) {
          this.counts.successes++;
          if (this.events.has('success')) this.events.emit('success', { attempts: attempt });
          return value;
        }
        outcome = { result: value };
      } catch (error) {
        outcome = { error };
      }
    }
  }

  private giveUp(attempt: number, event: GiveUpEvent): void {
    this.counts.givenUp++;
    event.attempts = attempt;
    this.events.emit('giveUp', event);
  }

  private async pause(attempt: number, previousDelay: number, signal: AbortSignal, cause: { error?: unknown; result?: unknown }, retryAfterMs: number | undefined): Promise<number> {
    const raw = this.backoff.delayMs(attempt, previousDelay, this.random);
    const delayMs = Math.max(Number.isFinite(raw) && raw > 0 ? raw : 0, retryAfterMs ?? 0);
    this.counts.retries++;
    this.events.emit('retry', { attempt, delayMs, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...cause });
    if (delayMs > 0) await sleep(this.clock, delayMs, signal);
    else if (signal.aborted) throw abortReason(signal);
    return delayMs;
  }
}

/** Retries a failed call with backoff. See RetryOptions for defaults. */
export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}
