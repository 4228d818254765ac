import { abortReason, neverAbortedSignal } from '../core/abort.js';
import { BulkheadFullError, InvalidOptionError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export interface BulkheadOptions {
  /** Calls running at once. Required, ≥ 1. */
  maxConcurrent: number;
  /** Calls waiting for a slot; beyond it calls are rejected with BulkheadFullError. Default 0. */
  maxQueue?: number;
}

export const BULKHEAD_DEFAULTS = Object.freeze({ maxQueue: 0 });

export interface BulkheadEvents {
  rejected: { executing: number; queued: number };
}

export interface BulkheadStats {
  calls: number;
  rejections: number;
  executing: number;
  queued: number;
}

interface Waiter {
  start(): void;
  cancel(reason: unknown): void;
}

/**
 * Isolates a dependency by bounding its concurrency: a slow dependency can hold at
 * most `maxConcurrent` calls and `maxQueue` waiters, never the whole process. A queued
 * call whose signal aborts leaves the queue at once and frees its place.
 */
export class BulkheadPolicy implements Policy, Observable<BulkheadEvents> {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private executing = 0;
  private readonly queue: Waiter[] = [];
  private readonly events = new Emitter<BulkheadEvents>();
  private counts = { calls: 0, rejections: 0 };

  constructor(options: BulkheadOptions) {
    const scope = 'bulkhead';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { maxConcurrent } are required`);
    const o = checkOptions<BulkheadOptions>(scope, options, ['maxConcurrent', 'maxQueue']);
    this.maxConcurrent = checkInteger(scope, 'maxConcurrent', o.maxConcurrent, { min: 1 });
    this.maxQueue = checkInteger(scope, 'maxQueue', o.maxQueue ?? BULKHEAD_DEFAULTS.maxQueue, { min: 0 });
  }

  on<K extends keyof BulkheadEvents>(name: K, listener: Listener<BulkheadEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<BulkheadStats> {
    return { ...this.counts, executing: this.executing, queued: this.queue.length };
  }

  /** Slots free right now. */
  get available(): number {
    return this.maxConcurrent - this.executing;
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  async run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    this.counts.calls++;
    if (this.executing >= this.maxConcurrent) {
      if (this.queue.length >= this.maxQueue) {
        this.counts.rejections++;
        this.events.emit('rejected', { executing: this.executing, queued: this.queue.length });
        throw new BulkheadFullError(this.maxConcurrent, this.maxQueue);
      }
      await this.enqueue(context.signal);
    } else {
      this.executing++;
    }
    try {
      return await fn(context);
    } finally {
      this.release();
    }
  }

  private enqueue(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => waiter.cancel(abortReason(signal));
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        cancel: (reason) => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(reason);
        },
      };
      if (signal !== neverAbortedSignal) signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next.start(); // the slot passes straight to the next waiter
    else this.executing--;
  }
}

export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
