import { abortReason } from '../core/abort.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkFunction, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export interface FallbackOptions {
  /** Which errors the fallback answers for. Default: all but the caller's own abort. */
  on?: (err: unknown) => boolean;
}

export interface FallbackEvents {
  fallback: { error: unknown };
}

/**
 * Answers a failed call with a value, or with `fn(error)` — cached data, a default,
 * a degraded answer. The caller's own abort is never papered over.
 */
export class FallbackPolicy<F> implements Observable<FallbackEvents> {
  private readonly on_: ((err: unknown) => boolean) | undefined;
  private readonly events = new Emitter<FallbackEvents>();
  private counts = { calls: 0, fallbacks: 0 };

  constructor(
    private readonly valueOrFn: F | ((error: unknown) => F | PromiseLike<F>),
    options?: FallbackOptions,
  ) {
    const o = checkOptions<FallbackOptions>('fallback', options, ['on']);
    this.on_ = o.on === undefined ? undefined : checkFunction<(err: unknown) => boolean>('fallback', 'on', o.on);
  }

  on<K extends keyof FallbackEvents>(name: K, listener: Listener<FallbackEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<{ calls: number; fallbacks: number }> {
    return { ...this.counts };
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T | F> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  async run<T>(fn: Task<T>, context: ExecutionContext): Promise<T | F> {
    this.counts.calls++;
    try {
      return await fn(context);
    } catch (error) {
      if (context.signal.aborted && context.signal.reason === error) throw error;
      if (this.on_ !== undefined && !this.on_(error)) throw error;
      this.counts.fallbacks++;
      this.events.emit('fallback', { error });
      return typeof this.valueOrFn === 'function' ? await (this.valueOrFn as (e: unknown) => F | PromiseLike<F>)(error) : this.valueOrFn;
    }
  }
}

/** `fallback(0)` or `fallback((err) => cached())`. A function value must be wrapped: `fallback(() => fn)`. */
export function fallback<F>(valueOrFn: F | ((error: unknown) => F | PromiseLike<F>), options?: FallbackOptions): FallbackPolicy<F> {
  return new FallbackPolicy(valueOrFn, options);
}
