import { abortReason } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { CircuitIsolatedError, CircuitOpenError, InvalidOptionError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkNumber, checkOneOf, checkOptions, checkString } from '../core/options.js';
import { consecutiveBreaker, type Breaker } from './breakers.js';
import { rootContext } from './context.js';
import { PASS, single, type Pipeline, type Stage } from './pipeline.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

export type CircuitState = 'closed' | 'open' | 'halfOpen' | 'isolated';

/** What `toJSON()` returns and `initialState` takes: enough to survive a restart. */
export interface CircuitSnapshot {
  state: CircuitState;
  /** Clock time (epoch ms on SystemClock) the circuit last opened; null when closed. */
  openedAt: number | null;
  breaker: unknown;
}

export interface CircuitBreakerOptions {
  /** When to open. Default consecutiveBreaker(5). */
  breaker?: Breaker;
  /** Time an open circuit waits before letting trial calls through. Default 10 000. */
  halfOpenAfterMs?: number;
  /** Trial calls allowed in flight at once while half-open. Default 1. */
  halfOpenTrials?: number;
  /** Successful trials needed to close; any failed trial reopens. Default 1. */
  closeAfterSuccesses?: number;
  /** Which errors count against the circuit. Default: all but the caller's own abort. */
  isFailure?: (err: unknown) => boolean;
  /** A previous `toJSON()`, e.g. from a checkpoint. */
  initialState?: CircuitSnapshot;
  /** Names the circuit in errors and metrics. Default 'circuit'. */
  name?: string;
  clock?: Clock;
}

export const CIRCUIT_BREAKER_DEFAULTS = Object.freeze({
  halfOpenAfterMs: 10_000,
  halfOpenTrials: 1,
  closeAfterSuccesses: 1,
  name: 'circuit',
  consecutiveFailures: 5,
});

export interface CircuitBreakerEvents {
  stateChange: { from: CircuitState; to: CircuitState };
  success: { durationMs: number };
  failure: { error: unknown; durationMs: number };
  rejected: { state: CircuitState; error: CircuitOpenError | CircuitIsolatedError };
}

export interface CircuitBreakerStats {
  calls: number;
  successes: number;
  failures: number;
  /** Calls refused without running (open, isolated, or half-open with every trial slot taken). */
  rejections: number;
  opened: number;
  halfOpened: number;
  closed: number;
}

const KNOWN = ['breaker', 'halfOpenAfterMs', 'halfOpenTrials', 'closeAfterSuccesses', 'isFailure', 'initialState', 'name', 'clock'];

/**
 * A circuit breaker with no timer of its own: the open → half-open transition happens
 * on the first call (or state read) after `halfOpenAfterMs`. State changes go through
 * one `setState`, which emits `stateChange`.
 */
type CallState = number | { trial: number; start: number };

export class CircuitBreakerPolicy implements Policy, Stage<CallState>, Observable<CircuitBreakerEvents> {
  /** @internal */
  readonly stage: Stage<CallState> = this;
  private readonly pipeline: Pipeline = single(this);
  readonly name: string;
  readonly halfOpenAfterMs: number;
  readonly halfOpenTrials: number;
  readonly closeAfterSuccesses: number;
  readonly breaker: Breaker;
  private readonly isFailure: ((err: unknown) => boolean) | undefined;
  private readonly clock: Clock;
  private readonly events = new Emitter<CircuitBreakerEvents>();
  private readonly counts: CircuitBreakerStats = { calls: 0, successes: 0, failures: 0, rejections: 0, opened: 0, halfOpened: 0, closed: 0 };
  private current: CircuitState = 'closed';
  private openedAt = 0;
  private trialsInFlight = 0;
  private trialSuccesses = 0;
  private isolations = 0;
  /** Bumped on every state change, so a trial from an earlier half-open period is ignored. */
  private generation = 1;

  constructor(options?: CircuitBreakerOptions) {
    const scope = 'circuitBreaker';
    const o = checkOptions<CircuitBreakerOptions>(scope, options, KNOWN);
    const d = CIRCUIT_BREAKER_DEFAULTS;
    if (o.breaker !== undefined && (o.breaker === null || typeof o.breaker.failure !== 'function' || typeof o.breaker.success !== 'function')) {
      throw new InvalidOptionError(`${scope}: breaker must be a Breaker (consecutiveBreaker(n) or samplingBreaker({...})), got ${typeof o.breaker}`);
    }
    this.breaker = o.breaker ?? consecutiveBreaker(d.consecutiveFailures);
    this.halfOpenAfterMs = checkNumber(scope, 'halfOpenAfterMs', o.halfOpenAfterMs ?? d.halfOpenAfterMs, { min: 0 });
    this.halfOpenTrials = checkInteger(scope, 'halfOpenTrials', o.halfOpenTrials ?? d.halfOpenTrials, { min: 1, max: 10_000 });
    this.closeAfterSuccesses = checkInteger(scope, 'closeAfterSuccesses', o.closeAfterSuccesses ?? d.closeAfterSuccesses, { min: 1, max: 10_000 });
    this.isFailure = o.isFailure === undefined ? undefined : checkFunction<(err: unknown) => boolean>(scope, 'isFailure', o.isFailure);
    this.name = checkString(scope, 'name', o.name ?? d.name);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    if (o.initialState !== undefined) this.restore(o.initialState);
  }

  on<K extends keyof CircuitBreakerEvents>(name: K, listener: Listener<CircuitBreakerEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<CircuitBreakerStats> {
    return { ...this.counts };
  }

  /** The current state; an open circuit whose wait is over reads (and becomes) half-open. */
  get state(): CircuitState {
    if (this.current === 'open' && this.clock.now() - this.openedAt >= this.halfOpenAfterMs) this.setState('halfOpen');
    return this.current;
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.pipeline.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    return this.pipeline.run(fn, context);
  }

  /**
   * @internal stage protocol. The state is the trial generation (0 for an ordinary
   * call), or `{ trial, start }` when the breaker needs call durations.
   */
  enter(): CallState {
    this.counts.calls++;
    const trial = this.current === 'closed' ? 0 : this.admit();
    return this.breaker.needsDuration ? { trial, start: this.clock.now() } : trial;
  }

  /** @internal */
  inner(_state: CallState, context: ExecutionContext): ExecutionContext {
    return context;
  }

  /** @internal */
  settle(state: CallState, ok: boolean, outcome: unknown, context: ExecutionContext): typeof PASS {
    const trial = typeof state === 'number' ? state : state.trial;
    const start = typeof state === 'number' ? 0 : state.start;
    if (ok) this.onSuccess(trial, start);
    else this.onFailure(trial, start, outcome, context);
    return PASS;
  }

  /**
   * Opens the circuit by hand and keeps it open until every handle is disposed
   * (then it closes). Use it to drain a dependency you are about to take down.
   */
  isolate(): Disposable {
    this.isolations++;
    this.setState('isolated');
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--this.isolations === 0 && this.current === 'isolated') this.close();
      },
    };
  }

  /** Closes the circuit now and forgets the failure history (also ends any isolation). */
  reset(): void {
    this.isolations = 0;
    this.close();
  }

  toJSON(): CircuitSnapshot {
    const state = this.current === 'halfOpen' ? 'open' : this.current; // trials in flight do not survive a restart
    return { state, openedAt: state === 'closed' ? null : this.openedAt, breaker: this.breaker.toJSON() };
  }

  private restore(snapshot: CircuitSnapshot): void {
    const scope = 'circuitBreaker';
    if (snapshot === null || typeof snapshot !== 'object') {
      throw new InvalidOptionError(`${scope}: initialState must be a value from toJSON(), got ${snapshot === null ? 'null' : typeof snapshot}`);
    }
    const state = checkOneOf(scope, 'initialState.state', snapshot.state, ['closed', 'open', 'halfOpen', 'isolated']);
    if (state !== 'closed') this.openedAt = checkNumber(scope, 'initialState.openedAt', snapshot.openedAt);
    this.breaker.restore(snapshot.breaker);
    this.current = state === 'halfOpen' ? 'open' : state;
    if (state === 'isolated') this.isolations = 1; // released by reset(): the handle did not survive
  }

  private admit(): number {
    let state = this.current;
    if (state === 'open') {
      const waited = this.clock.now() - this.openedAt;
      if (waited >= this.halfOpenAfterMs) {
        this.setState('halfOpen');
        state = 'halfOpen';
      } else {
        const left = this.halfOpenAfterMs - waited;
        this.reject(
          new CircuitOpenError(this.name, left, `circuit '${this.name}' is open for ${(left / 1000).toFixed(1)} s more (halfOpenAfterMs=${this.halfOpenAfterMs})`),
        );
      }
    }
    if (state === 'halfOpen') {
      if (this.trialsInFlight < this.halfOpenTrials) {
        this.trialsInFlight++;
        return this.generation;
      }
      this.reject(
        new CircuitOpenError(this.name, 0, `circuit '${this.name}' is half-open with ${this.trialsInFlight} trial call(s) in flight (halfOpenTrials=${this.halfOpenTrials})`),
      );
    }
    this.reject(new CircuitIsolatedError(this.name));
  }

  private reject(error: CircuitOpenError | CircuitIsolatedError): never {
    this.counts.rejections++;
    if (this.events.has('rejected')) this.events.emit('rejected', { state: this.current, error });
    throw error;
  }

  private onSuccess(trial: number, start: number): void {
    this.counts.successes++;
    const now = this.breaker.needsTime || this.breaker.needsDuration ? this.clock.now() : 0;
    const durationMs = this.breaker.needsDuration ? now - start : 0;
    if (this.events.has('success')) this.events.emit('success', { durationMs });
    if (trial !== 0) {
      if (trial !== this.generation) return; // the circuit moved on while this trial ran
      this.trialsInFlight--;
      if (++this.trialSuccesses >= this.closeAfterSuccesses) this.close();
    } else if (this.current === 'closed' && this.breaker.success(durationMs, now)) {
      this.open();
    }
  }

  private onFailure(trial: number, start: number, error: unknown, context: ExecutionContext): void {
    const callerAborted = context.signal.aborted && context.signal.reason === error;
    if (callerAborted || (this.isFailure !== undefined && !this.isFailure(error))) {
      if (trial !== 0 && trial === this.generation) this.trialsInFlight--; // neither success nor failure: free the slot
      return;
    }
    this.counts.failures++;
    const now = this.breaker.needsTime || this.breaker.needsDuration ? this.clock.now() : 0;
    const durationMs = this.breaker.needsDuration ? now - start : 0;
    if (this.events.has('failure')) this.events.emit('failure', { error, durationMs });
    if (trial !== 0) {
      if (trial === this.generation) this.open();
    } else if (this.current === 'closed' && this.breaker.failure(durationMs, now)) {
      this.open();
    }
  }

  private open(): void {
    this.openedAt = this.clock.now();
    this.setState('open');
  }

  private close(): void {
    this.breaker.reset();
    this.setState('closed');
  }

  private setState(next: CircuitState): void {
    const from = this.current;
    if (next === 'halfOpen' || next === 'closed' || next === 'open') {
      this.trialsInFlight = 0;
      this.trialSuccesses = 0;
    }
    if (from === next) return;
    this.generation++;
    this.current = next;
    if (next === 'open') this.counts.opened++;
    else if (next === 'halfOpen') this.counts.halfOpened++;
    else if (next === 'closed') this.counts.closed++;
    this.events.emit('stateChange', { from, to: next });
  }
}

/** A circuit breaker. See CircuitBreakerOptions for defaults. */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
