import { abortReason } from '../core/abort.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkFunction, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import { PASS, single, type Pipeline, type Stage } from './pipeline.js';
import type { ExecutionContext, Observable, Task } from './types.js';

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
export class FallbackPolicy<F> implements Stage<null>, Observable<FallbackEvents> {
  /** @internal */
  readonly stage: Stage<null> = this;
  private readonly pipeline: Pipeline = single(this);
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
    return this.pipeline.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T | F> {
    return this.pipeline.run(fn, context);
  }

  /** @internal stage protocol */
  enter(): null {
    this.counts.calls++;
    return null;
  }

  /** @internal */
  inner(_state: null, context: ExecutionContext): ExecutionContext {
    return context;
  }

  /** @internal */
  settle(_state: null, ok: boolean, error: unknown, context: ExecutionContext): typeof PASS | Promise<unknown> {
    if (ok) return PASS;
    if (context.signal.aborted && context.signal.reason === error) return PASS;
    if (this.on_ !== undefined && !this.on_(error)) return PASS;
    this.counts.fallbacks++;
    this.events.emit('fallback', { error });
    if (typeof this.valueOrFn !== 'function') return Promise.resolve(this.valueOrFn);
    const fn = this.valueOrFn as (e: unknown) => F | PromiseLike<F>;
    return new Promise<F>((resolve) => resolve(fn(error)));
  }
}

/** `fallback(0)` or `fallback((err) => cached())`. A function value must be wrapped: `fallback(() => fn)`. */
export function fallback<F>(valueOrFn: F | ((error: unknown) => F | PromiseLike<F>), options?: FallbackOptions): FallbackPolicy<F> {
  return new FallbackPolicy(valueOrFn, options);
}
