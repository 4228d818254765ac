import { abortReason } from '../core/abort.js';
import { rootContext } from './context.js';
import { Pipeline, type Layer, type Stage } from './pipeline.js';
import type { ExecutionContext, Policy, Task } from './types.js';
import { InvalidOptionError } from '../core/errors.js';

/** Anything `wrap` can compose: every steadfast policy, and your own with a `run`. */
export interface Composable {
  run<T>(fn: Task<T>, context: ExecutionContext): Promise<unknown>;
  /** @internal set by policies that can be fused into one `then` (see pipeline.ts) */
  readonly stage?: Stage<any> | undefined;
}

/**
 * Composes policies, outermost first: `wrap(retry(), circuitBreaker(), timeout(1000))`
 * retries around a breaker around a timeout, so each attempt gets its own deadline
 * and a breaker that opens stops the retries (CircuitOpenError is not retryable).
 * Adjacent stage-capable policies (retry, circuitBreaker, cooperative timeout, fallback,
 * rateLimit) run fused, waiting on the function with a single `then`.
 */
export class WrappedPolicy implements Policy {
  readonly policies: readonly Composable[];
  private readonly pipeline: Pipeline;

  constructor(policies: readonly Composable[]) {
    policies.forEach((p, i) => {
      if (p === null || typeof p !== 'object' || typeof (p as Composable).run !== 'function') {
        throw new InvalidOptionError(`wrap: argument ${i + 1} must be a policy (retry(), timeout(), circuitBreaker(), ...), got ${p === null ? 'null' : typeof p}`);
      }
    });
    this.policies = [...policies];
    this.pipeline = new Pipeline(
      this.policies.map((p): Layer => (p.stage !== undefined ? { stage: p.stage as Stage<unknown> } : { runner: p })),
    );
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.pipeline.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.pipeline.run(fn, context);
  }
}

export function wrap(...policies: Composable[]): WrappedPolicy {
  return new WrappedPolicy(policies);
}
