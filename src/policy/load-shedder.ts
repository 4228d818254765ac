import { abortReason } from '../core/abort.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { ErrorCode, SteadfastError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkNumber, checkOneOf, checkOptions } from '../core/options.js';
import { rootContext } from './context.js';
import type { ExecutionContext, Observable, Policy, Task } from './types.js';

/** What the shedder measures of its process. */
export interface ProcessPressure {
  /** Mean event-loop delay over the last sample interval (ms). */
  eventLoopDelayMs: number;
  /** V8 heap in use / the heap's limit. */
  heapUsedRatio: number;
}

/**
 * Traffic classes, most important first. `critical` (health checks, registry heartbeats,
 * control traffic) is never shed; `low` is shed first — at half the thresholds.
 */
export type Priority = 'critical' | 'normal' | 'low';
const SHED_AT: Record<Priority, number> = { critical: Infinity, normal: 1, low: 0.5 };

export interface LoadShedderOptions {
  /** Shed when the event loop is this late on average. Default 100 (toobusy-js's default is 70). */
  maxEventLoopDelayMs?: number;
  /** Shed when the heap in use passes this share of its limit. Default 0.9. */
  maxHeapUsedRatio?: number;
  /** How often the process is measured. Default 500. */
  sampleIntervalMs?: number;
  /**
   * How often it is measured while it sheds, so it serves again soon after its loop catches up —
   * after a long GC, a stop (SIGSTOP) or a burst — instead of shedding on a stale measurement for
   * a whole sampleIntervalMs. At least resolutionMs, at most sampleIntervalMs. Default 100: a
   * demo db node resumed after a 1.5 s stop shed for ~400 ms on the one sample covering the stop.
   */
  overloadedSampleIntervalMs?: number;
  /**
   * The period of the timer that samples the event loop's delay between measurements
   * (monitorEventLoopDelay's resolution), at most sampleIntervalMs. Default 50: a process at rest
   * wakes 20 times a second for it. At 10 ms (under-pressure's default) an idle process spent
   * ~3 % of a core here on those wake-ups alone.
   */
  resolutionMs?: number;
  /** The Retry-After a shed call is given. Default 1000. */
  retryAfterMs?: number;
  /** Measures the process (default: perf_hooks.monitorEventLoopDelay and v8 heap statistics); tests pass their own. */
  probe?: () => ProcessPressure;
  clock?: Clock;
}

export const LOAD_SHEDDER_DEFAULTS = Object.freeze({ maxEventLoopDelayMs: 100, maxHeapUsedRatio: 0.9, sampleIntervalMs: 500, overloadedSampleIntervalMs: 100, resolutionMs: 50, retryAfterMs: 1000 });

/** The process is too busy for this call's priority (ERR_OVERLOADED, HTTP 503 with Retry-After). */
export class OverloadedError extends SteadfastError {
  constructor(
    readonly reason: string,
    readonly retryAfterMs: number,
  ) {
    super(ErrorCode.OVERLOADED, `loadShedder: shed (${reason}); retry in ${retryAfterMs} ms`, { retryable: true });
  }
}

export interface LoadShedderEvents {
  /** The measured pressure crossed 1 (overloaded) or fell back below it. */
  state: { overloaded: boolean; pressure: ProcessPressure };
  shed: { priority: Priority; reason: string };
}

/** The default probe: event-loop delay from a perf_hooks histogram (reset every sample), heap from v8. */
function processProbe(resolutionMs: number): { probe: () => ProcessPressure; stop: () => void } {
  const { monitorEventLoopDelay } = process.getBuiltinModule('node:perf_hooks');
  const v8 = process.getBuiltinModule('node:v8');
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  let last = performance.now();
  return {
    probe: () => {
      const now = performance.now();
      // The histogram counts its own resolution as delay: take it off. No tick at all since the
      // last probe means the loop was blocked the whole time: it is at least that late.
      const delay = h.count > 0 ? Math.max(0, h.mean / 1e6 - resolutionMs) : Math.max(0, now - last - resolutionMs);
      last = now;
      h.reset();
      const heap = v8.getHeapStatistics();
      return { eventLoopDelayMs: delay, heapUsedRatio: heap.used_heap_size / heap.heap_size_limit };
    },
    stop: () => h.disable(),
  };
}

/**
 * Load shedding on the process's own health (what @fastify/under-pressure and toobusy-js do):
 * every sampleIntervalMs (every overloadedSampleIntervalMs while shedding) it measures the
 * event-loop delay and the heap; while either is past its
 * threshold, calls are refused at once with OverloadedError and a Retry-After — lower priorities
 * first, `critical` never — so a process that is falling behind answers cheaply instead of
 * taking work it will finish too late.
 */
export class LoadShedder implements Policy, Observable<LoadShedderEvents> {
  readonly maxEventLoopDelayMs: number;
  readonly maxHeapUsedRatio: number;
  readonly sampleIntervalMs: number;
  readonly resolutionMs: number;
  readonly overloadedSampleIntervalMs: number;
  readonly retryAfterMs: number;
  private readonly clock: Clock;
  private readonly customProbe: (() => ProcessPressure) | undefined;
  private monitor: { probe: () => ProcessPressure; stop: () => void } | undefined;
  private timer: TimerHandle | undefined;
  private readonly events = new Emitter<LoadShedderEvents>();
  private last: ProcessPressure = { eventLoopDelayMs: 0, heapUsedRatio: 0 };
  private level = 0;
  private counts = { shed: 0, admitted: 0 };

  constructor(options: LoadShedderOptions = {}) {
    const scope = 'loadShedder';
    const o = checkOptions<LoadShedderOptions>(scope, options, ['maxEventLoopDelayMs', 'maxHeapUsedRatio', 'sampleIntervalMs', 'overloadedSampleIntervalMs', 'resolutionMs', 'retryAfterMs', 'probe', 'clock']);
    const d = LOAD_SHEDDER_DEFAULTS;
    this.maxEventLoopDelayMs = checkNumber(scope, 'maxEventLoopDelayMs', o.maxEventLoopDelayMs ?? d.maxEventLoopDelayMs, { min: 1 });
    this.maxHeapUsedRatio = checkNumber(scope, 'maxHeapUsedRatio', o.maxHeapUsedRatio ?? d.maxHeapUsedRatio, { min: 0.1, max: 1 });
    this.sampleIntervalMs = checkInteger(scope, 'sampleIntervalMs', o.sampleIntervalMs ?? d.sampleIntervalMs, { min: 10, max: 60_000 });
    this.resolutionMs = checkInteger(scope, 'resolutionMs', o.resolutionMs ?? Math.min(d.resolutionMs, this.sampleIntervalMs), { min: 1, max: this.sampleIntervalMs });
    const fast = o.overloadedSampleIntervalMs ?? Math.min(Math.max(d.overloadedSampleIntervalMs, this.resolutionMs), this.sampleIntervalMs);
    this.overloadedSampleIntervalMs = checkInteger(scope, 'overloadedSampleIntervalMs', fast, { min: this.resolutionMs, max: this.sampleIntervalMs });
    this.retryAfterMs = checkInteger(scope, 'retryAfterMs', o.retryAfterMs ?? d.retryAfterMs, { min: 0, max: 3_600_000 });
    this.customProbe = o.probe === undefined ? undefined : checkFunction(scope, 'probe', o.probe);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
  }

  on<K extends keyof LoadShedderEvents>(name: K, listener: Listener<LoadShedderEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Starts measuring (the timer is unref'd: it never keeps the process alive). */
  start(): this {
    if (this.timer !== undefined) return this;
    if (this.customProbe === undefined) this.monitor ??= processProbe(this.resolutionMs);
    this.schedule();
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.monitor?.stop();
    this.monitor = undefined;
  }

  /** The last measurement, how far it is past the thresholds (≥ 1: overloaded), and the counts. */
  get stats(): Readonly<ProcessPressure & { pressure: number; overloaded: boolean; shed: number; admitted: number }> {
    return { ...this.last, pressure: this.level, overloaded: this.level >= 1, ...this.counts };
  }

  /** Measures now (what the timer does every sampleIntervalMs). */
  sample(): ProcessPressure {
    const p = (this.customProbe ?? this.monitor?.probe ?? (() => this.last))();
    const before = this.level >= 1;
    this.last = p;
    this.level = Math.max(p.eventLoopDelayMs / this.maxEventLoopDelayMs, p.heapUsedRatio / this.maxHeapUsedRatio);
    if (before !== this.level >= 1) this.events.emit('state', { overloaded: this.level >= 1, pressure: p });
    return p;
  }

  /** Throws OverloadedError when a call of `priority` must be shed now; otherwise returns. */
  check(priority: Priority = 'normal'): void {
    checkOneOf('loadShedder.check', 'priority', priority, ['critical', 'normal', 'low'] as const);
    if (this.level < SHED_AT[priority]) {
      this.counts.admitted++;
      return;
    }
    const reason =
      this.last.eventLoopDelayMs / this.maxEventLoopDelayMs >= this.last.heapUsedRatio / this.maxHeapUsedRatio
        ? `event loop ${this.last.eventLoopDelayMs.toFixed(0)} ms late, limit ${this.maxEventLoopDelayMs} ms (maxEventLoopDelayMs)${priority === 'low' ? ' — low priority sheds at half' : ''}`
        : `heap ${(this.last.heapUsedRatio * 100).toFixed(0)} % used, limit ${(this.maxHeapUsedRatio * 100).toFixed(0)} % (maxHeapUsedRatio)${priority === 'low' ? ' — low priority sheds at half' : ''}`;
    this.counts.shed++;
    this.events.emit('shed', { priority, reason });
    throw new OverloadedError(reason, this.retryAfterMs);
  }

  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.run(fn, rootContext(signal));
  }

  run<T>(fn: Task<T>, context: ExecutionContext): Promise<T> {
    try {
      this.check();
      return Promise.resolve(fn(context));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private schedule(): void {
    const t = this.clock.setTimeout(() => {
      this.sample();
      this.schedule();
    }, this.level >= 1 ? this.overloadedSampleIntervalMs : this.sampleIntervalMs);
    t.unref?.();
    this.timer = t;
  }
}

export function loadShedder(options?: LoadShedderOptions): LoadShedder {
  return new LoadShedder(options);
}
