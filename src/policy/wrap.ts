import { abortReason } from '../core/abort.js';
import { rootContext } from './context.js';
import type { ExecutionContext, Policy, Task } from './types.js';

/** Anything `wrap` can compose: every steadfast policy, and your own with a `run`. */
export interface Composable {
  run<T>(fn: Task<T>, context: ExecutionContext): Promise<unknown>;
}

/**
 * Composes policies, outermost first: `wrap(retry(), circuitBreaker(), timeout(1000))`
 * retries around a breaker around a timeout, so each attempt gets its own deadline
 * and a breaker that opens stops the retries (CircuitOpenError is not retryable).
 */
export class WrappedPolicy implements Policy {
  readonly policies: readonly Composable[];

  constructor(policies: readonly Composable[]) {
    policies.forEach((p, i) => {
      if (p === null || typeof p !== 'object' || typeof (p as Composable).run !== 'function') {
        throw new TypeError(`wrap: argument ${i + 1} must be a policy (retry(), timeout(), circuitBreaker(), ...), got ${p === null ? 'null' : typeof p}`);
      }
    });
    this.policies = [...policies];
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.step(0, fn, context);
  }

  private step<T>(i: number, fn: Task<T>, context: ExecutionContext): Promise<T> {
    const n = this.policies.length;
    if (n === 0) return new Promise<T>((resolve) => resolve(fn(context)));
    if (i === n - 1) return this.policies[i]!.run(fn, context) as Promise<T>;
    return this.policies[i]!.run((c) => this.step(i + 1, fn, c), context) as Promise<T>;
  }
}

export function wrap(...policies: Composable[]): WrappedPolicy {
  return new WrappedPolicy(policies);
}
