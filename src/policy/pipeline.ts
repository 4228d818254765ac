import type { ExecutionContext, Task } from './types.js';
import { isThenable } from './context.js';

/** Returned by `Stage.settle` to hand the inner outcome outward unchanged. */
export const PASS: unique symbol = Symbol('steadfast.pass');


/**
 * A policy that can run as a stage of a fused pipeline: synchronous bookkeeping before
 * and after the inner call. `wrap` fuses adjacent stages so that the whole stack waits
 * on the function's promise with one `then` — not one `then` (or one async frame) per
 * policy. This is most of why `wrap(retry, circuitBreaker, timeout)` costs a few bare calls
 * here and a couple of hundred in cockatiel (bench/policy.mjs).
 */
export interface Stage<S = unknown> {
  /** Before the inner call: returns per-call state; throws to refuse the call. */
  enter(context: ExecutionContext): S;
  /** The context the inner call receives. */
  inner(state: S, context: ExecutionContext): ExecutionContext;
  /**
   * The inner call settled with `outcome` (a value when `ok`, else an error). Return PASS
   * to hand it outward, or a promise of a replacement outcome (a retry, a fallback).
   * `pipeline.runFrom(next, fn, ctx)` runs everything inside this stage again.
   */
  settle(state: S, ok: boolean, outcome: unknown, context: ExecutionContext, pipeline: Pipeline, next: number, fn: Task<unknown>): typeof PASS | Promise<unknown>;
}

/** A policy that only knows how to run around a function (bulkhead, hedge, aggressive timeout, yours). */
export interface Runner {
  run<T>(fn: Task<T>, context: ExecutionContext): Promise<unknown>;
}

export type Layer = { stage: Stage<unknown> } | { stage?: undefined; runner: Runner };

/**
 * Runs layers outermost first. A run of adjacent stages shares one `then`; a runner
 * layer ends the run and wraps the rest.
 */
export class Pipeline {
  constructor(private readonly layers: readonly Layer[]) {}

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.runFrom(0, fn, context) as Promise<T>;
  }

  runFrom<T>(from: number, fn: Task<T>, context: ExecutionContext): Promise<unknown> {
    const layers = this.layers;
    let end = from;
    while (end < layers.length && layers[end]!.stage !== undefined) end++;
    // Layers [from, end) are stages; layer `end` (if any) is a runner around the rest.
    const count = end - from;
    if (count === 0) return new Promise((resolve) => resolve(this.innerCall(end, fn, context)));
    if (count === 1) return this.runOne(from, end, fn, context);
    // frame[2j] is stage j's context, frame[2j + 1] its state.
    const frame: unknown[] = new Array(2 * count);
    let ctx = context;
    let entered = 0;
    let value: unknown;
    try {
      for (; entered < count; entered++) {
        const stage = layers[from + entered]!.stage!;
        frame[2 * entered] = ctx;
        const state = stage.enter(ctx);
        frame[2 * entered + 1] = state;
        ctx = stage.inner(state, ctx);
      }
      value = this.innerCall(end, fn, ctx);
    } catch (error) {
      return this.settleNow(from, frame, entered - 1, false, error, fn);
    }
    if (!isThenable(value)) return this.settleNow(from, frame, count - 1, true, value, fn);
    return Promise.resolve(value).then(
      (v) => this.unwind(from, frame, count - 1, true, v, fn),
      (e: unknown) => this.unwind(from, frame, count - 1, false, e, fn),
    );
  }

  /** The common case of one stage (a policy used on its own): no frame array. */
  private runOne<T>(from: number, end: number, fn: Task<T>, context: ExecutionContext): Promise<unknown> {
    const stage = this.layers[from]!.stage!;
    let state: unknown;
    let value: unknown;
    try {
      state = stage.enter(context);
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      value = this.innerCall(end, fn, stage.inner(state, context));
    } catch (error) {
      return this.settleOne(stage, state, false, error, context, from, fn);
    }
    if (!isThenable(value)) return this.settleOne(stage, state, true, value, context, from, fn);
    return Promise.resolve(value).then(
      (v) => {
        const r = stage.settle(state, true, v, context, this, from + 1, fn as Task<unknown>);
        return r === PASS ? v : r;
      },
      (e: unknown) => {
        const r = stage.settle(state, false, e, context, this, from + 1, fn as Task<unknown>);
        if (r === PASS) throw e;
        return r;
      },
    );
  }

  private settleOne<T>(stage: Stage<unknown>, state: unknown, ok: boolean, outcome: unknown, context: ExecutionContext, from: number, fn: Task<T>): Promise<unknown> {
    try {
      const r = stage.settle(state, ok, outcome, context, this, from + 1, fn as Task<unknown>);
      if (r !== PASS) return r;
      return ok ? Promise.resolve(outcome) : Promise.reject(outcome);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private innerCall<T>(end: number, fn: Task<T>, ctx: ExecutionContext): unknown {
    if (end === this.layers.length) return fn(ctx);
    const runner = (this.layers[end] as { runner: Runner }).runner;
    return runner.run((c) => this.runFrom(end + 1, fn, c), ctx);
  }

  private settleNow<T>(from: number, frame: unknown[], top: number, ok: boolean, outcome: unknown, fn: Task<T>): Promise<unknown> {
    try {
      return Promise.resolve(this.unwind(from, frame, top, ok, outcome, fn));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Settles stages top..0 (innermost first); a replacement outcome is awaited before the outer ones see it. */
  private unwind<T>(from: number, frame: unknown[], top: number, ok: boolean, outcome: unknown, fn: Task<T>): unknown {
    for (let j = top; j >= 0; j--) {
      const stage = this.layers[from + j]!.stage!;
      const r = stage.settle(frame[2 * j + 1], ok, outcome, frame[2 * j] as ExecutionContext, this, from + j + 1, fn as Task<unknown>);
      if (r !== PASS) {
        if (j === 0) return r;
        return r.then(
          (v) => this.unwind(from, frame, j - 1, true, v, fn),
          (e: unknown) => this.unwind(from, frame, j - 1, false, e, fn),
        );
      }
    }
    if (ok) return outcome;
    throw outcome;
  }
}

/** A pipeline of one stage: how a stage-capable policy runs on its own. */
export function single(stage: Stage<unknown>): Pipeline {
  return new Pipeline([{ stage }]);
}
