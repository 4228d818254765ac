import type { Disposable, Listener } from '../core/events.js';

/** What a policy passes to the function it runs. */
export interface ExecutionContext {
  /**
   * Aborts when the caller's signal aborts or a deadline (timeout, hedge loser) passes.
   * Created on first access: a function that never reads it costs no AbortController.
   */
  readonly signal: AbortSignal;
  /** 1 for the first attempt; retry and hedge count up from there. */
  readonly attempt: number;
}

export type Task<T> = (context: ExecutionContext) => T | PromiseLike<T>;

/** A resilience policy: runs a function under its rule. */
export interface Policy {
  /** Runs `fn` under this policy. `signal` lets the caller cancel the whole execution. */
  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Runs `fn` inside an existing execution (used by `wrap`); not for direct use.
   * @internal
   */
  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T>;
}

/** A policy that emits typed events. */
export interface Observable<Events> {
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): Disposable;
}
