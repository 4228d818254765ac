import { abortReason, neverAbortedSignal } from '../core/abort.js';
import type { ExecutionContext } from './types.js';

/** The context of a call made without a signal: shared, allocation-free. */
export const ROOT_CONTEXT: ExecutionContext = Object.freeze({ signal: neverAbortedSignal, attempt: 1 });

export function rootContext(signal: AbortSignal | undefined): ExecutionContext {
  if (signal === undefined || signal === neverAbortedSignal) return ROOT_CONTEXT;
  return { signal, attempt: 1 };
}

/** Same signal as the parent, another attempt number (the signal is read lazily). */
export class AttemptContext implements ExecutionContext {
  constructor(
    private readonly parent: ExecutionContext,
    readonly attempt: number,
  ) {}
  get signal(): AbortSignal {
    return this.parent.signal;
  }
}

/**
 * A child context whose signal aborts with the parent's or by `abort(reason)`;
 * the AbortController and the link to the parent exist only once someone reads
 * `signal` or calls `abort`.
 */
export class ChildContext implements ExecutionContext {
  private controller: AbortController | undefined;
  private parentSignal: AbortSignal | undefined;
  private pendingReason: unknown = undefined;
  private aborted = false;
  private onParentAbort: (() => void) | undefined;

  constructor(
    protected readonly parent: ExecutionContext,
    readonly attempt: number = parent.attempt,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const shared = this.aborted ? undefined : this.sharedSignal();
      if (shared !== undefined) return shared;
      this.materialize();
    }
    return this.controller!.signal;
  }

  /**
   * Hook for subclasses: a signal shared with other calls that abort together, to hand out
   * instead of creating this context's own controller (undefined: create it).
   */
  protected sharedSignal(): AbortSignal | undefined {
    return undefined;
  }

  /** Whether the signal has been created (someone can observe an abort). */
  get observed(): boolean {
    return this.controller !== undefined;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.pendingReason = reason;
    if (this.controller !== undefined) {
      this.unlink();
      this.controller.abort(reason);
    }
  }

  /** Drops the link to the parent signal (call when the execution has settled). */
  release(): void {
    this.unlink();
  }

  /** Hook for subclasses: called once, when the signal is first created. */
  protected onMaterialize(): void {}

  private materialize(): void {
    const controller = new AbortController();
    this.controller = controller;
    if (this.aborted) {
      controller.abort(this.pendingReason);
      return;
    }
    const parentSignal = this.parent.signal;
    if (parentSignal.aborted) {
      this.aborted = true;
      controller.abort(abortReason(parentSignal));
      return;
    }
    if (parentSignal !== neverAbortedSignal) {
      this.parentSignal = parentSignal;
      this.onParentAbort = () => this.abort(abortReason(parentSignal));
      parentSignal.addEventListener('abort', this.onParentAbort);
    }
    this.onMaterialize();
  }

  private unlink(): void {
    if (this.parentSignal !== undefined) {
      this.parentSignal.removeEventListener('abort', this.onParentAbort!);
      this.parentSignal = undefined;
    }
  }
}

/** True for anything with a `then` method. */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<T>).then === 'function';
}
