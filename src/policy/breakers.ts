import { checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { InvalidOptionError } from '../core/errors.js';

/**
 * Decides when a closed circuit opens. The circuit breaker reports each call that
 * ran while closed; a breaker returns true when the circuit should open.
 */
export interface Breaker {
  /** True when `success`/`failure` need the current time (`now`); otherwise they get 0. */
  readonly needsTime: boolean;
  /** True when they need the call's duration (the circuit times calls only then). */
  readonly needsDuration: boolean;
  success(durationMs: number, now: number): boolean;
  failure(durationMs: number, now: number): boolean;
  /** Forget the history: called when the circuit closes. */
  reset(): void;
  /** Serializable state, for checkpoints. */
  toJSON(): unknown;
  /** Restores what toJSON() produced; throws TypeError on a malformed value. */
  restore(state: unknown): void;
}

/** Opens after `threshold` failures in a row; any success resets the count. */
export class ConsecutiveBreaker implements Breaker {
  readonly needsTime = false;
  readonly needsDuration = false;
  private failures = 0;

  constructor(readonly threshold: number) {
    checkInteger('consecutiveBreaker', 'threshold', threshold, { min: 1 });
  }
  success(): boolean {
    this.failures = 0;
    return false;
  }
  failure(): boolean {
    return ++this.failures >= this.threshold;
  }
  reset(): void {
    this.failures = 0;
  }
  toJSON(): { kind: 'consecutive'; failures: number } {
    return { kind: 'consecutive', failures: this.failures };
  }
  restore(state: unknown): void {
    const s = state as { kind?: unknown; failures?: unknown } | null;
    if (s === null || typeof s !== 'object' || s.kind !== 'consecutive') {
      throw new InvalidOptionError(`consecutiveBreaker: initialState.breaker must come from a consecutive breaker's toJSON()`);
    }
    this.failures = checkInteger('consecutiveBreaker', 'initialState.breaker.failures', s.failures, { min: 0 });
  }
}

export function consecutiveBreaker(threshold: number): ConsecutiveBreaker {
  return new ConsecutiveBreaker(threshold);
}

export interface SamplingBreakerOptions {
  /** Open when failures / calls in the window reach this share, in (0, 1]. Default 0.5. */
  failureRatio?: number;
  /** No decision on fewer calls than this in the window. Default 10. */
  minThroughput?: number;
  /** The sliding window. Default 10 000. */
  windowMs?: number;
  /** A call that takes at least this long counts as slow (successes included). Default: off. */
  slowCallMs?: number;
  /** Open when slow calls / calls in the window reach this share. Default 1 (only when slowCallMs is set). */
  slowCallRatio?: number;
  /** The window is kept as this many buckets (memory is fixed). Default 10. */
  buckets?: number;
}

export const SAMPLING_BREAKER_DEFAULTS = Object.freeze({
  failureRatio: 0.5,
  minThroughput: 10,
  windowMs: 10_000,
  slowCallRatio: 1,
  buckets: 10,
});

/**
 * Opens when the failure ratio (or the slow-call ratio) over a sliding window passes a
 * threshold, once the window holds at least `minThroughput` calls. The window is a
 * fixed ring of buckets rotated on each call — no timer.
 */
export class SamplingBreaker implements Breaker {
  readonly needsTime = true;
  readonly needsDuration: boolean;
  readonly failureRatio: number;
  readonly minThroughput: number;
  readonly windowMs: number;
  readonly slowCallMs: number;
  readonly slowCallRatio: number;
  private readonly bucketMs: number;
  /** One array for the three rings (calls, failures, slow), to keep a breaker small. */
  private readonly counts: Float64Array;
  private readonly n: number;
  /** Index (time / bucketMs) of the newest bucket. */
  private newest = -Infinity;
  private totalCalls = 0;
  private totalFailures = 0;
  private totalSlow = 0;

  constructor(options?: SamplingBreakerOptions) {
    const scope = 'samplingBreaker';
    const o = { ...SAMPLING_BREAKER_DEFAULTS, ...checkOptions<SamplingBreakerOptions>(scope, options, [...Object.keys(SAMPLING_BREAKER_DEFAULTS), 'slowCallMs']) };
    this.failureRatio = checkNumber(scope, 'failureRatio', o.failureRatio, { min: 0, minExclusive: true, max: 1 });
    this.minThroughput = checkInteger(scope, 'minThroughput', o.minThroughput, { min: 1 });
    this.windowMs = checkNumber(scope, 'windowMs', o.windowMs, { min: 0, minExclusive: true });
    this.slowCallRatio = checkNumber(scope, 'slowCallRatio', o.slowCallRatio, { min: 0, minExclusive: true, max: 1 });
    const buckets = checkInteger(scope, 'buckets', o.buckets, { min: 1, max: 1000 });
    this.slowCallMs = o.slowCallMs === undefined ? Infinity : checkNumber(scope, 'slowCallMs', o.slowCallMs, { min: 0, minExclusive: true });
    this.needsDuration = Number.isFinite(this.slowCallMs);
    this.bucketMs = this.windowMs / buckets;
    this.n = buckets;
    this.counts = new Float64Array(buckets * 3);
  }

  success(durationMs: number, now: number): boolean {
    return this.record(false, durationMs, now);
  }
  failure(durationMs: number, now: number): boolean {
    return this.record(true, durationMs, now);
  }

  reset(): void {
    this.counts.fill(0);
    this.totalCalls = this.totalFailures = this.totalSlow = 0;
    this.newest = -Infinity;
  }

  /** Calls, failures and slow calls in the current window. */
  window(now: number): { calls: number; failures: number; slow: number } {
    this.rotate(now);
    return { calls: this.totalCalls, failures: this.totalFailures, slow: this.totalSlow };
  }

  private record(failed: boolean, durationMs: number, now: number): boolean {
    this.rotate(now);
    const i = this.slot(this.newest);
    const n = this.n;
    this.counts[i]!++;
    this.totalCalls++;
    if (failed) {
      this.counts[n + i]!++;
      this.totalFailures++;
    }
    if (durationMs >= this.slowCallMs) {
      this.counts[2 * n + i]!++;
      this.totalSlow++;
    }
    if (this.totalCalls < this.minThroughput) return false;
    return this.totalFailures / this.totalCalls >= this.failureRatio || this.totalSlow / this.totalCalls >= this.slowCallRatio;
  }

  private slot(index: number): number {
    const n = this.n;
    return ((index % n) + n) % n;
  }

  private rotate(now: number): void {
    const index = Math.floor(now / this.bucketMs);
    if (index <= this.newest) return;
    const n = this.n;
    const c = this.counts;
    if (index - this.newest >= n) {
      this.reset();
    } else {
      for (let b = this.newest + 1; b <= index; b++) {
        const i = this.slot(b);
        this.totalCalls -= c[i]!;
        this.totalFailures -= c[n + i]!;
        this.totalSlow -= c[2 * n + i]!;
        c[i] = c[n + i] = c[2 * n + i] = 0;
      }
    }
    this.newest = index;
  }

  toJSON(): { kind: 'sampling'; newest: number | null; calls: number[]; failures: number[]; slow: number[] } {
    return {
      kind: 'sampling',
      newest: Number.isFinite(this.newest) ? this.newest : null,
      calls: [...this.counts.subarray(0, this.n)],
      failures: [...this.counts.subarray(this.n, 2 * this.n)],
      slow: [...this.counts.subarray(2 * this.n)],
    };
  }

  restore(state: unknown): void {
    const s = state as { kind?: unknown; newest?: unknown; calls?: unknown; failures?: unknown; slow?: unknown } | null;
    const n = this.n;
    const okArray = (a: unknown): a is number[] => Array.isArray(a) && a.length === n && a.every((x) => Number.isInteger(x) && x >= 0);
    if (s === null || typeof s !== 'object' || s.kind !== 'sampling' || !okArray(s.calls) || !okArray(s.failures) || !okArray(s.slow)) {
      throw new InvalidOptionError(`samplingBreaker: initialState.breaker must come from toJSON() of a sampling breaker with ${n} buckets`);
    }
    this.reset();
    if (s.newest === null) return;
    this.newest = checkInteger('samplingBreaker', 'initialState.breaker.newest', s.newest);
    this.counts.set(s.calls, 0);
    this.counts.set(s.failures, n);
    this.counts.set(s.slow, 2 * n);
    for (let i = 0; i < n; i++) {
      this.totalCalls += s.calls[i]!;
      this.totalFailures += s.failures[i]!;
      this.totalSlow += s.slow[i]!;
    }
  }
}

export function samplingBreaker(options?: SamplingBreakerOptions): SamplingBreaker {
  return new SamplingBreaker(options);
}
