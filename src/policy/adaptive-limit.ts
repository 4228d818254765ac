import { abortReason } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ErrorCode, InvalidOptionError, SteadfastError, TimeoutError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkNumber, checkOneOf, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

/** What a limit algorithm learns from one finished call. */
export interface LimitSample {
  /** How long the call took. */
  rttMs: number;
  /** Calls in flight when it started (itself included). */
  inflight: number;
  /** It failed in a way that means "too much load": a timeout or an upstream that shed it. */
  dropped: boolean;
}

/** A concurrency limit that moves with what it sees (the algorithms of Netflix's concurrency-limits). */
export interface LimitAlgorithm {
  readonly name: string;
  /** The current limit (a real number; calls are admitted while in flight < its floor). */
  readonly limit: number;
  update(sample: LimitSample): void;
}

interface LimitBounds {
  initialLimit?: number;
  minLimit?: number;
  maxLimit?: number;
}

/** minLimit ≥ 1, maxLimit ≥ minLimit, initialLimit between them (by default the algorithm's, capped at maxLimit). */
function checkBounds(scope: string, o: LimitBounds, d: Required<LimitBounds>): Required<LimitBounds> {
  const minLimit = checkInteger(scope, 'minLimit', o.minLimit ?? d.minLimit, { min: 1 });
  const maxLimit = checkInteger(scope, 'maxLimit', o.maxLimit ?? d.maxLimit, { min: minLimit });
  const initialLimit = checkInteger(scope, 'initialLimit', o.initialLimit ?? Math.min(d.initialLimit, maxLimit), { min: minLimit, max: maxLimit });
  return { minLimit, maxLimit, initialLimit };
}

export interface AimdOptions {
  initialLimit?: number;
  minLimit?: number;
  maxLimit?: number;
  /** The limit is multiplied by this on a drop. Default 0.9. */
  backoffRatio?: number;
  /** A call slower than this counts as a drop. Default 5000. */
  timeoutMs?: number;
}

export const AIMD_DEFAULTS = Object.freeze({ initialLimit: 20, minLimit: 1, maxLimit: 1000, backoffRatio: 0.9, timeoutMs: 5000 });

/**
 * Additive increase, multiplicative decrease (TCP's rule, and concurrency-limits' AIMDLimit): a
 * drop — a timeout, a shed answer, a call slower than timeoutMs — multiplies the limit by
 * backoffRatio; a success while the limit is at least half used adds one.
 */
export class AimdLimit implements LimitAlgorithm {
  readonly name = 'aimd';
  private current: number;
  private readonly o: Required<AimdOptions>;

  constructor(options: AimdOptions = {}) {
    const scope = 'adaptiveLimit (aimd)';
    const o = checkOptions<AimdOptions>(scope, options, ['initialLimit', 'minLimit', 'maxLimit', 'backoffRatio', 'timeoutMs']);
    const d = AIMD_DEFAULTS;
    this.o = {
      ...checkBounds(scope, o, d),
      backoffRatio: checkNumber(scope, 'backoffRatio', o.backoffRatio ?? d.backoffRatio, { min: 0.5, max: 0.99 }),
      timeoutMs: checkNumber(scope, 'timeoutMs', o.timeoutMs ?? d.timeoutMs, { min: 0, minExclusive: true }),
    };
    this.current = this.o.initialLimit;
  }

  get limit(): number {
    return this.current;
  }

  update(s: LimitSample): void {
    if (s.dropped || s.rttMs > this.o.timeoutMs) this.current = Math.max(this.o.minLimit, Math.floor(this.current * this.o.backoffRatio));
    else if (s.inflight * 2 >= this.current) this.current = Math.min(this.o.maxLimit, this.current + 1);
  }
}

export interface Gradient2Options {
  initialLimit?: number;
  minLimit?: number;
  maxLimit?: number;
  /** Weight of each new estimate in the limit when it grows (a lower estimate applies at once). Default 0.2. */
  smoothing?: number;
  /** Latency may grow to this multiple of the long-term latency before the limit shrinks. Default 1.5. */
  rttTolerance?: number;
  /** Samples (windows, in adaptiveLimit) the long-term latency averages over. Default 30000 (10 min of 20 ms windows). */
  longWindow?: number;
  /**
   * Extra calls allowed on top of what the gradient gives (room to probe): a number, or 'log10'
   * (the default) for max(1, log10(limit)) — 1 up to a limit of 10, 2 at 100, 3 at 1000.
   */
  queueSize?: number | 'log10';
}

export const GRADIENT2_DEFAULTS = Object.freeze({ initialLimit: 20, minLimit: 1, maxLimit: 1000, smoothing: 0.2, rttTolerance: 1.5, longWindow: 30000, queueSize: 'log10' as const });

/** A fixed queueSize: a whole number of calls. */
function checkQueueSize(scope: string, v: unknown): number {
  if (typeof v !== 'number') throw new InvalidOptionError(`${scope}: queueSize must be a number of calls (0 to 10000) or 'log10', got ${JSON.stringify(v)}`);
  return checkInteger(scope, 'queueSize', v, { min: 0, max: 10_000 });
}

/**
 * concurrency-limits' Gradient2Limit: the limit follows the ratio of the long-term latency (the
 * mean of the first 10 samples, then an exponential average over longWindow samples) to the
 * latest one. While latency stays within rttTolerance of the long-term figure the limit grows by
 * queueSize × smoothing per update; when it rises (a queue is forming) the limit shrinks by that
 * ratio, at most by half. A drop counts as the long-term latency doubled. Updates while less than
 * half the limit is in use change nothing (the caller, not the server, is the bottleneck).
 *
 * Two departures from concurrency-limits, both measured in bench:overload (docs/benchmarks.md):
 * a lower estimate applies at once instead of smoothed (each update spent above the right limit
 * is a queue that every admitted call waits in; growing slowly is safe, shrinking slowly is not),
 * and the queue allowance grows with the limit (log10) instead of a fixed 4, which at a limit of 8
 * holds latency at three times the baseline (L = L·g + 4 settles at g = 1 − 4/L).
 */
export class Gradient2Limit implements LimitAlgorithm {
  readonly name = 'gradient2';
  private current: number;
  private longRtt = 0;
  private samples = 0;
  private readonly o: Required<Gradient2Options>;

  constructor(options: Gradient2Options = {}) {
    const scope = 'adaptiveLimit (gradient2)';
    const o = checkOptions<Gradient2Options>(scope, options, ['initialLimit', 'minLimit', 'maxLimit', 'smoothing', 'rttTolerance', 'longWindow', 'queueSize']);
    const d = GRADIENT2_DEFAULTS;
    this.o = {
      ...checkBounds(scope, o, d),
      smoothing: checkNumber(scope, 'smoothing', o.smoothing ?? d.smoothing, { min: 0, minExclusive: true, max: 1 }),
      rttTolerance: checkNumber(scope, 'rttTolerance', o.rttTolerance ?? d.rttTolerance, { min: 1 }),
      longWindow: checkInteger(scope, 'longWindow', o.longWindow ?? d.longWindow, { min: 1, max: 1_000_000 }),
      queueSize: o.queueSize === undefined || o.queueSize === 'log10' ? 'log10' : checkQueueSize(scope, o.queueSize),
    };
    this.current = this.o.initialLimit;
  }

  get limit(): number {
    return this.current;
  }

  /** The long-term latency (ms) the limit compares against; 0 before the first sample. */
  get baselineRttMs(): number {
    return this.longRtt;
  }

  update(s: LimitSample): void {
    const rtt = Math.max(s.rttMs, 1e-3);
    // The long-term latency: a plain mean over the first 10 samples (or longWindow, if fewer), then
    // an exponential average with factor 2 / (longWindow + 1) — concurrency-limits' ExpAvgMeasurement.
    this.samples++;
    const warmup = Math.min(10, this.o.longWindow);
    const factor = this.samples <= warmup ? 1 / this.samples : 2 / (this.o.longWindow + 1);
    this.longRtt = this.samples === 1 ? rtt : this.longRtt + (rtt - this.longRtt) * factor;
    // After a long stretch of high latency the baseline drifts down, so a new normal is learnt.
    if (this.longRtt / rtt > 2) this.longRtt *= 0.95;
    if (s.inflight * 2 < this.current && !s.dropped) return;
    const ratio = s.dropped ? 0.5 : (this.o.rttTolerance * this.longRtt) / rtt;
    const gradient = Math.max(0.5, Math.min(1, ratio));
    const queue = this.o.queueSize === 'log10' ? Math.max(1, Math.log10(this.current)) : this.o.queueSize;
    const estimate = this.current * gradient + queue;
    // Shrink at once, grow smoothed.
    const next = estimate < this.current ? estimate : this.current * (1 - this.o.smoothing) + estimate * this.o.smoothing;
    this.current = Math.max(this.o.minLimit, Math.min(this.o.maxLimit, next));
  }
}

export interface WindowOptions {
  /** A window lasts at least this long (ms). Default 100. */
  windowMs?: number;
  /** …and holds at least this many calls. Default 10. */
  windowSize?: number;
  clock?: Clock;
}

export const WINDOW_DEFAULTS = Object.freeze({ windowMs: 20, windowSize: 10 });

/**
 * concurrency-limits' WindowedLimit: feeds the algorithm one sample per window (the mean latency,
 * the most calls in flight, whether any call dropped) instead of one per call. A latency-based
 * algorithm needs it: per call, its long-term baseline spans seconds and drifts up with the very
 * queue it should detect. concurrency-limits uses windows of 1 s and a 600-window baseline; the
 * defaults here are windows of 20 ms (and 10 calls) and a 30000-window baseline — the same ten
 * minutes of memory at full rate, and a limit that reacts to a spike within tens of milliseconds
 * instead of seconds (measured in docs/benchmarks.md, bench:overload).
 */
export class WindowedLimit implements LimitAlgorithm {
  readonly name: string;
  private readonly o: { windowMs: number; windowSize: number };
  private readonly clock: Clock;
  private startedAt = Number.NaN;
  private count = 0;
  private sumRtt = 0;
  private maxInflight = 0;
  private dropped = false;

  constructor(
    readonly inner: LimitAlgorithm,
    options: WindowOptions = {},
  ) {
    const scope = 'adaptiveLimit (window)';
    const o = checkOptions<WindowOptions>(scope, options, ['windowMs', 'windowSize', 'clock']);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.o = {
      windowMs: checkNumber(scope, 'windowMs', o.windowMs ?? WINDOW_DEFAULTS.windowMs, { min: 0, max: 3_600_000 }),
      windowSize: checkInteger(scope, 'windowSize', o.windowSize ?? WINDOW_DEFAULTS.windowSize, { min: 1, max: 1_000_000 }),
    };
    this.name = inner.name;
  }

  get limit(): number {
    return this.inner.limit;
  }

  update(s: LimitSample): void {
    const now = this.clock.now();
    if (this.count === 0) this.startedAt = now;
    this.count++;
    this.sumRtt += s.rttMs;
    if (s.inflight > this.maxInflight) this.maxInflight = s.inflight;
    if (s.dropped) this.dropped = true;
    if (this.count < this.o.windowSize || now - this.startedAt < this.o.windowMs) return;
    const sample = { rttMs: this.sumRtt / this.count, inflight: this.maxInflight, dropped: this.dropped };
    this.count = 0;
    this.sumRtt = 0;
    this.maxInflight = 0;
    this.dropped = false;
    this.inner.update(sample);
  }
}

/** Refused at once: the adaptive limit is reached (ERR_LIMIT_EXCEEDED, HTTP 503 with Retry-After). */
export class LimitExceededError extends SteadfastError {
  constructor(
    readonly limit: number,
    readonly inflight: number,
    /** When a retry has a fair chance: about one call's latency. */
    readonly retryAfterMs: number,
  ) {
    super(ErrorCode.LIMIT_EXCEEDED, `adaptiveLimit: ${inflight} calls in flight, at the limit of ${Math.floor(limit)}; retry in ${Math.ceil(retryAfterMs)} ms`, { retryable: true });
  }
}

export type AdaptiveLimitOptions = ({ algorithm?: 'gradient2' } & Gradient2Options & Omit<WindowOptions, 'clock'>) | ({ algorithm: 'aimd' } & AimdOptions) | { algorithm: LimitAlgorithm };

export interface AdaptiveLimitEvents {
  rejected: { limit: number; inflight: number };
  /** The limit moved by at least one. */
  limit: { limit: number; previous: number };
}

export interface AdaptiveLimitStats {
  limit: number;
  inflight: number;
  calls: number;
  rejections: number;
  drops: number;
}

export interface AdaptiveLimitPolicyOptions {
  /** Which failures count as drops (overload signals). Default: timeouts, and errors whose HTTP status is 429 or 503. */
  isDrop?: (error: unknown) => boolean;
  clock?: Clock;
}

const defaultIsDrop = (error: unknown): boolean => {
  if (error instanceof TimeoutError) return true;
  const status = (error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode;
  return status === 429 || status === 503;
};

/**
 * Fault prevention under overload: admits calls while fewer than the limit are in flight and
 * refuses the rest at once with LimitExceededError (so a caller can shed with 503 + Retry-After in
 * microseconds instead of queueing until everything times out). The limit moves with the latency
 * and drops each call shows (Gradient2 by default, or AIMD), on the given clock.
 */
export class AdaptiveLimitPolicy implements Policy, Observable<AdaptiveLimitEvents> {
  readonly algorithm: LimitAlgorithm;
  private readonly clock: Clock;
  private readonly isDrop: (error: unknown) => boolean;
  private readonly events = new Emitter<AdaptiveLimitEvents>();
  private inflight = 0;
  private counts = { calls: 0, rejections: 0, drops: 0 };
  /** A smoothed call latency, for retryAfterMs. */
  private typicalMs = 0;

  constructor(options: AdaptiveLimitOptions & AdaptiveLimitPolicyOptions = {}) {
    const scope = 'adaptiveLimit';
    const { isDrop, clock, algorithm, ...rest } = options as AdaptiveLimitOptions & AdaptiveLimitPolicyOptions & Record<string, unknown>;
    if (clock !== undefined) checkClock(scope, clock);
    this.clock = clock ?? systemClock;
    this.isDrop = isDrop === undefined ? defaultIsDrop : checkFunction(scope, 'isDrop', isDrop);
    if (algorithm !== undefined && typeof algorithm === 'object') {
      if (typeof (algorithm as LimitAlgorithm).update !== 'function') throw new InvalidOptionError(`${scope}: algorithm must be 'gradient2', 'aimd' or an object with limit and update(sample)`);
      this.algorithm = algorithm as LimitAlgorithm;
    } else {
      const name = checkOneOf(scope, 'algorithm', algorithm ?? 'gradient2', ['gradient2', 'aimd'] as const);
      if (name === 'aimd') this.algorithm = new AimdLimit(rest as AimdOptions);
      else {
        // Gradient2 learns from windows of calls, as in concurrency-limits.
        const { windowMs, windowSize, ...g } = rest as Gradient2Options & WindowOptions;
        this.algorithm = new WindowedLimit(new Gradient2Limit(g), { windowMs, windowSize, clock: this.clock });
      }
    }
  }

  on<K extends keyof AdaptiveLimitEvents>(name: K, listener: Listener<AdaptiveLimitEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<AdaptiveLimitStats> {
    return { limit: this.algorithm.limit, inflight: this.inflight, ...this.counts };
  }

  /**
   * Takes a place, or throws LimitExceededError. For callers that are not a promise (a proxy, a
   * server): call the returned `done(outcome)` exactly once when the work ends.
   */
  acquire(): (outcome?: { dropped?: boolean; error?: unknown }) => void {
    const limit = this.algorithm.limit;
    if (this.inflight >= Math.max(1, Math.floor(limit))) {
      this.counts.rejections++;
      this.events.emit('rejected', { limit, inflight: this.inflight });
      throw new LimitExceededError(limit, this.inflight, Math.max(1, this.typicalMs));
    }
    this.counts.calls++;
    const inflight = ++this.inflight;
    const started = this.clock.now();
    let done = false;
    return (outcome = {}) => {
      if (done) return;
      done = true;
      this.inflight--;
      const rttMs = this.clock.now() - started;
      const dropped = outcome.dropped ?? (outcome.error !== undefined && this.isDrop(outcome.error));
      if (dropped) this.counts.drops++;
      this.typicalMs = this.typicalMs === 0 ? rttMs : this.typicalMs * 0.9 + rttMs * 0.1;
      const previous = this.algorithm.limit;
      this.algorithm.update({ rttMs, inflight, dropped });
      if (Math.abs(this.algorithm.limit - previous) >= 1 || Math.floor(this.algorithm.limit) !== Math.floor(previous)) this.events.emit('limit', { limit: this.algorithm.limit, previous });
    };
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    let release: ReturnType<AdaptiveLimitPolicy['acquire']>;
    try {
      release = this.acquire();
    } catch (err) {
      return Promise.reject(err);
    }
    let p: Promise<T>;
    try {
      p = Promise.resolve(fn(context));
    } catch (error) {
      release({ error });
      return Promise.reject(error);
    }
    return p.then(
      (v) => {
        release();
        return v;
      },
      (error: unknown) => {
        release({ error });
        throw error;
      },
    );
  }
}

export function adaptiveLimit(options?: AdaptiveLimitOptions & AdaptiveLimitPolicyOptions): AdaptiveLimitPolicy {
  return new AdaptiveLimitPolicy(options);
}
