import { abortReason } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { RateLimitedError, InvalidOptionError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkNumber, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import { PASS, single, type Pipeline, type Stage } from './pipeline.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export interface RateLimitOptions {
  /** Tokens added per second. Required, > 0. */
  ratePerSec: number;
  /** Bucket size: calls allowed at once after a quiet spell. Default max(1, ceil(ratePerSec)). */
  burst?: number;
  clock?: Clock;
}

export interface RateLimitEvents {
  rejected: { retryAfterMs: number };
}

/**
 * Load shedding with a token bucket — the seed's fault prevention: refuse work early,
 * cheaply and with a `retryAfterMs`, rather than let a flood take the service down.
 * No timer: the bucket refills from the clock on each call.
 */
export class RateLimitPolicy implements Policy, Stage<null>, Observable<RateLimitEvents> {
  /** @internal */
  readonly stage: Stage<null> = this;
  private readonly pipeline: Pipeline = single(this);
  readonly ratePerSec: number;
  readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;
  private readonly events = new Emitter<RateLimitEvents>();
  private counts = { calls: 0, rejections: 0 };

  constructor(options: RateLimitOptions) {
    const scope = 'rateLimit';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { ratePerSec } are required`);
    const o = checkOptions<RateLimitOptions>(scope, options, ['ratePerSec', 'burst', 'clock']);
    this.ratePerSec = checkNumber(scope, 'ratePerSec', o.ratePerSec, { min: 0, minExclusive: true });
    this.burst = checkNumber(scope, 'burst', o.burst ?? Math.max(1, Math.ceil(this.ratePerSec)), { min: 1 });
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.tokens = this.burst;
    this.last = this.clock.now();
  }

  on<K extends keyof RateLimitEvents>(name: K, listener: Listener<RateLimitEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<{ calls: number; rejections: number; tokens: number }> {
    this.refill();
    return { ...this.counts, tokens: this.tokens };
  }

  /** Takes a token if one is there; never waits. */
  tryAcquire(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.pipeline.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.pipeline.run(fn, context);
  }

  /** @internal stage protocol: takes a token or refuses the call. */
  enter(): null {
    this.counts.calls++;
    if (!this.tryAcquire()) {
      this.counts.rejections++;
      const retryAfterMs = ((1 - this.tokens) * 1000) / this.ratePerSec;
      this.events.emit('rejected', { retryAfterMs });
      throw new RateLimitedError(retryAfterMs, this.ratePerSec);
    }
    return null;
  }

  /** @internal */
  inner(_state: null, context: ExecutionContext): ExecutionContext {
    return context;
  }

  /** @internal */
  settle(): typeof PASS {
    return PASS;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
      this.last = now;
    }
  }
}

export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  return new RateLimitPolicy(options);
}
