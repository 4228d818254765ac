import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkOptions } from '../core/options.js';
import type { Checkpoint, CheckpointInfo, CheckpointStore } from './store.js';
import { checkStream } from './store.js';
import { InvalidOptionError, OptionRangeError } from '../core/errors.js';

export interface CheckpointerOptions<S> {
  store: CheckpointStore;
  stream: string;
  /** Returns the state to save (may be async). */
  snapshot: () => S | Promise<S>;
  /** Puts restored state back into the application; used by restore() and restoreFrom(). */
  apply?: (state: S, checkpoint: Checkpoint<S>) => void | Promise<void>;
  /** Periodic checkpoints every this many ms once start() is called; 0 = only on demand. Default 10 000. */
  intervalMs?: number;
  /** Keep the newest `keep` valid checkpoints, pruning after each save; 0 = never prune. Default 3. */
  keep?: number;
  /** First delay before a failed periodic save is tried again; doubles up to intervalMs. Default 100. */
  retryDelayMs?: number;
  /** Extra meta stored with each checkpoint. */
  meta?: () => Record<string, unknown>;
  clock?: Clock;
}

export const CHECKPOINTER_DEFAULTS = Object.freeze({
  intervalMs: 10_000,
  keep: 3,
  retryDelayMs: 100,
});

export interface CheckpointerStats {
  saves: number;
  failures: number;
  /** Failures since the last success (0 when healthy). */
  consecutiveFailures: number;
  lastId: number | undefined;
  lastSize: number | undefined;
  lastDurationMs: number | undefined;
  lastSavedAt: number | undefined;
  lastError: string | undefined;
  restoredId: number | undefined;
}

export interface CheckpointerEvents {
  saved: { info: CheckpointInfo; durationMs: number };
  /** A save (or its pruning) failed; a periodic save is retried after `retryInMs`. */
  failed: { error: unknown; phase: 'snapshot' | 'save' | 'prune'; retryInMs: number | undefined };
  restored: { id: number };
}

/**
 * Periodic and on-demand checkpoints of one stream (the seed's 3.1: snapshots C = {c1..cn},
 * restore from the latest). Never runs two saves of its stream at once: a checkpointNow()
 * that arrives during a save is answered by the next save, which starts as soon as the
 * current one ends (requests that pile up share it). A failed periodic save is retried with
 * backoff on the timer — the application never waits for it.
 */
export class Checkpointer<S = unknown> {
  readonly stream: string;
  readonly intervalMs: number;
  readonly keep: number;
  private readonly store: CheckpointStore;
  private readonly snapshot: () => S | Promise<S>;
  private readonly apply: ((state: S, cp: Checkpoint<S>) => void | Promise<void>) | undefined;
  private readonly meta: (() => Record<string, unknown>) | undefined;
  private readonly retryDelayMs: number;
  private readonly clock: Clock;
  private readonly events = new Emitter<CheckpointerEvents>();
  private timer: TimerHandle | undefined;
  private running = false;
  private current: Promise<CheckpointInfo> | undefined;
  private next: Promise<CheckpointInfo> | undefined;
  private retryDelay = 0;
  private lastFailedPhase: 'snapshot' | 'save' | 'prune' = 'save';
  private readonly figures: CheckpointerStats = {
    saves: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastId: undefined,
    lastSize: undefined,
    lastDurationMs: undefined,
    lastSavedAt: undefined,
    lastError: undefined,
    restoredId: undefined,
  };

  constructor(options: CheckpointerOptions<S>) {
    const scope = 'Checkpointer';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { store, stream, snapshot } are required`);
    const o = checkOptions<CheckpointerOptions<S>>(scope, options, ['store', 'stream', 'snapshot', 'apply', 'intervalMs', 'keep', 'retryDelayMs', 'meta', 'clock']);
    const store = o.store as CheckpointStore | undefined;
    if (!store || typeof store.save !== 'function' || typeof store.latest !== 'function') {
      throw new InvalidOptionError(`${scope}: store must be a CheckpointStore (FileCheckpointStore, RedisCheckpointStore, MemoryCheckpointStore)`);
    }
    this.store = store;
    this.stream = checkStream(scope, o.stream);
    this.snapshot = checkFunction<() => S | Promise<S>>(scope, 'snapshot', o.snapshot);
    this.apply = o.apply === undefined ? undefined : checkFunction(scope, 'apply', o.apply);
    this.meta = o.meta === undefined ? undefined : checkFunction(scope, 'meta', o.meta);
    const d = CHECKPOINTER_DEFAULTS;
    this.intervalMs = checkInteger(scope, 'intervalMs', o.intervalMs ?? d.intervalMs, { min: 0, max: 2 ** 31 - 1 });
    this.keep = checkInteger(scope, 'keep', o.keep ?? d.keep, { min: 0 });
    this.retryDelayMs = checkInteger(scope, 'retryDelayMs', o.retryDelayMs ?? d.retryDelayMs, { min: 1, max: 2 ** 31 - 1 });
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
  }

  on<K extends keyof CheckpointerEvents>(name: K, listener: Listener<CheckpointerEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<CheckpointerStats> {
    return { ...this.figures };
  }

  /** Starts periodic checkpoints (no-op when intervalMs is 0 or already started). */
  start(): this {
    if (this.running || this.intervalMs === 0) return this;
    this.running = true;
    this.schedule(this.intervalMs);
    return this;
  }

  /** Stops periodic checkpoints and waits for a save in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([this.current, this.next]);
  }

  /** Saves a checkpoint now (or right after the one in flight) and resolves with it. */
  checkpointNow(): Promise<CheckpointInfo> {
    if (this.current === undefined) return this.begin();
    if (this.next === undefined) {
      const after = this.current.then(
        () => undefined,
        () => undefined,
      );
      this.next = after.then(() => {
        this.next = undefined;
        return this.begin();
      });
    }
    return this.next;
  }

  /** Restores the newest valid checkpoint (through `apply`), or returns undefined when there is none. */
  async restore(): Promise<Checkpoint<S> | undefined> {
    const cp = await this.store.latest<S>(this.stream);
    if (cp === undefined) return undefined;
    await this.applyCheckpoint(cp);
    return cp;
  }

  /** Restores one checkpoint by id (a recovery point). */
  async restoreFrom(id: number): Promise<Checkpoint<S>> {
    const cp = await this.store.get<S>(this.stream, id);
    if (cp === undefined) throw new OptionRangeError(`Checkpointer: checkpoint ${this.stream}#${id} does not exist (pruned? raise keep)`);
    await this.applyCheckpoint(cp);
    return cp;
  }

  private async applyCheckpoint(cp: Checkpoint<S>): Promise<void> {
    if (this.apply) await this.apply(cp.data, cp);
    this.figures.restoredId = cp.id;
    this.events.emit('restored', { id: cp.id });
  }

  private begin(): Promise<CheckpointInfo> {
    const p = this.saveOnce();
    this.current = p;
    const clear = (): void => {
      if (this.current === p) this.current = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  private async saveOnce(): Promise<CheckpointInfo> {
    const started = this.clock.now();
    let phase: 'snapshot' | 'save' | 'prune' = 'snapshot';
    try {
      const state = await this.snapshot();
      phase = 'save';
      const info = await this.store.save(this.stream, state, this.meta?.());
      const durationMs = this.clock.now() - started;
      Object.assign(this.figures, {
        saves: this.figures.saves + 1,
        consecutiveFailures: 0,
        lastId: info.id,
        lastSize: info.size,
        lastDurationMs: durationMs,
        lastSavedAt: info.createdAt,
      });
      this.events.emit('saved', { info, durationMs });
      if (this.keep > 0) {
        phase = 'prune';
        await this.store.prune(this.stream, { keep: this.keep }).catch((error: unknown) => {
          this.figures.lastError = String((error as Error)?.message ?? error);
          this.events.emit('failed', { error, phase: 'prune', retryInMs: undefined });
        });
      }
      return info;
    } catch (error) {
      this.figures.failures++;
      this.figures.consecutiveFailures++;
      this.figures.lastError = String((error as Error)?.message ?? error);
      this.lastFailedPhase = phase;
      throw error;
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    const t = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.checkpointNow().then(
        () => {
          this.retryDelay = 0;
          this.schedule(this.intervalMs);
        },
        (error: unknown) => {
          this.retryDelay = this.retryDelay === 0 ? this.retryDelayMs : Math.min(this.retryDelay * 2, this.intervalMs);
          this.events.emit('failed', { error, phase: this.lastFailedPhase, retryInMs: this.retryDelay });
          this.schedule(this.retryDelay);
        },
      );
    }, delayMs);
    t.unref?.(); // periodic checkpoints never keep the process alive on their own
    this.timer = t;
  }
}
