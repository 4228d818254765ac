import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkOptions } from '../core/options.js';
import type { Journal } from './journal.js';
import type { Checkpoint, CheckpointInfo, CheckpointStore } from './store.js';
import { checkStream } from './store.js';
import { InvalidOptionError, OptionRangeError } from '../core/errors.js';

export interface CheckpointerOptions<S, E = unknown> {
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
  /**
   * A write-ahead journal under the checkpoints: `record(entry)` applies an entry through
   * `replay` and appends it; each checkpoint stores the journal position it covers
   * (meta.journalSeq); `restore()` loads the newest checkpoint and replays the entries after its
   * position; after a checkpoint the journal is truncated behind the oldest checkpoint kept.
   */
  journal?: Journal<E>;
  /**
   * Applies one entry to the application's state: for record() and for restore()'s replay.
   * Required with `journal`. Make it synchronous (entries then apply in journal order), and
   * idempotent when `snapshot` is asynchronous (a checkpoint may then already hold an entry
   * past its position).
   */
  replay?: (entry: E) => void | Promise<void>;
  /** With a journal: also checkpoint after this many records; 0 = only on the timer. Default 0. */
  everyRecords?: number;
  clock?: Clock;
}

export const CHECKPOINTER_DEFAULTS = Object.freeze({
  intervalMs: 10_000,
  keep: 3,
  retryDelayMs: 100,
  everyRecords: 0,
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
  /** Journal entries replayed by the last restore(). */
  replayed: number;
  /** Entries recorded (journal) since the newest checkpoint began. */
  sinceCheckpoint: number;
}

export interface CheckpointerEvents {
  saved: { info: CheckpointInfo; durationMs: number };
  /** A save (or its pruning) failed; a periodic save is retried after `retryInMs`. */
  failed: { error: unknown; phase: 'snapshot' | 'save' | 'prune' | 'truncate'; retryInMs: number | undefined };
  /** `id` is undefined when there was no checkpoint (the journal alone was replayed). */
  restored: { id: number | undefined; replayed: number; journalSeq: number | undefined };
}

/**
 * Periodic and on-demand checkpoints of one stream (the seed's 3.1: snapshots C = {c1..cn},
 * restore from the latest). Never runs two saves of its stream at once: a checkpointNow()
 * that arrives during a save is answered by the next save, which starts as soon as the
 * current one ends (requests that pile up share it). A failed periodic save is retried with
 * backoff on the timer — the application never waits for it.
 */
export class Checkpointer<S = unknown, E = unknown> {
  readonly stream: string;
  readonly intervalMs: number;
  readonly keep: number;
  private readonly store: CheckpointStore;
  private readonly snapshot: () => S | Promise<S>;
  private readonly apply: ((state: S, cp: Checkpoint<S>) => void | Promise<void>) | undefined;
  private readonly meta: (() => Record<string, unknown>) | undefined;
  private readonly retryDelayMs: number;
  private readonly journal: Journal<E> | undefined;
  private readonly replayEntry: ((entry: E) => void | Promise<void>) | undefined;
  private readonly everyRecords: number;
  /** Journal positions of the newest checkpoints (at most `keep`), oldest first: what truncation must keep. */
  private positions: number[] = [];
  private readonly clock: Clock;
  private readonly events = new Emitter<CheckpointerEvents>();
  private timer: TimerHandle | undefined;
  private running = false;
  private current: Promise<CheckpointInfo> | undefined;
  private next: Promise<CheckpointInfo> | undefined;
  private retryDelay = 0;
  private lastFailedPhase: 'snapshot' | 'save' | 'prune' | 'truncate' = 'save';
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
    replayed: 0,
    sinceCheckpoint: 0,
  };

  constructor(options: CheckpointerOptions<S, E>) {
    const scope = 'Checkpointer';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { store, stream, snapshot } are required`);
    const o = checkOptions<CheckpointerOptions<S, E>>(scope, options, ['store', 'stream', 'snapshot', 'apply', 'intervalMs', 'keep', 'retryDelayMs', 'meta', 'journal', 'replay', 'everyRecords', 'clock']);
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
    if (o.journal !== undefined) {
      const j = o.journal as Journal<E>;
      if (!j || typeof j.append !== 'function' || typeof j.read !== 'function' || typeof j.truncateBefore !== 'function') throw new InvalidOptionError(`${scope}: journal must be a Journal (FileJournal, RedisJournal, MemoryJournal)`);
      if (o.replay === undefined) throw new InvalidOptionError(`${scope}: a journal needs replay(entry), which applies one entry to the state`);
      this.journal = j;
    }
    this.replayEntry = o.replay === undefined ? undefined : checkFunction(scope, 'replay', o.replay);
    this.everyRecords = checkInteger(scope, 'everyRecords', o.everyRecords ?? d.everyRecords, { min: 0, max: 2 ** 31 - 1 });
    if (this.everyRecords > 0 && this.journal === undefined) throw new InvalidOptionError(`${scope}: everyRecords counts journal records: give a journal too`);
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

  /**
   * Applies `entry` to the state (through `replay`) and appends it to the journal; resolves with
   * its seq once the entry is durable under the journal's sync setting. With `everyRecords`, every
   * that many records start a checkpoint (in the background).
   */
  async record(entry: E): Promise<{ seq: number }> {
    if (this.journal === undefined) throw new InvalidOptionError('Checkpointer.record: needs the journal option (and replay)');
    const applied = this.replayEntry!(entry);
    if (applied !== undefined) await applied;
    const result = this.journal.append(entry);
    if (this.everyRecords > 0 && ++this.figures.sinceCheckpoint >= this.everyRecords && this.current === undefined) {
      this.checkpointNow().catch((error: unknown) => this.events.emit('failed', { error, phase: this.lastFailedPhase, retryInMs: undefined }));
    }
    return result;
  }

  /**
   * Restores the newest valid checkpoint (through `apply`), then — with a journal — replays every
   * entry after the position it covers. Returns the checkpoint, or undefined when there is none.
   */
  async restore(): Promise<Checkpoint<S> | undefined> {
    const cp = await this.store.latest<S>(this.stream);
    if (cp !== undefined && this.apply) await this.apply(cp.data, cp);
    let replayed = 0;
    let journalSeq: number | undefined;
    if (this.journal !== undefined) {
      journalSeq = cp === undefined ? 0 : Number(cp.meta?.journalSeq ?? 0);
      for await (const r of this.journal.read({ after: journalSeq })) {
        if (replayed === 0 && r.seq !== journalSeq + 1) {
          throw new OptionRangeError(
            `Checkpointer: ${cp === undefined ? 'there is no checkpoint' : `checkpoint ${this.stream}#${cp.id} covers the journal up to seq ${journalSeq}`}, but the journal's next record is ${r.seq}: records ${journalSeq + 1}–${r.seq - 1} are gone (truncated past a checkpoint that was lost?) — restoring would silently drop them`,
          );
        }
        const applied = this.replayEntry!(r.value);
        if (applied !== undefined) await applied;
        replayed++;
      }
      this.positions = cp === undefined ? [] : [journalSeq];
    }
    this.figures.replayed = replayed;
    if (cp !== undefined) this.figures.restoredId = cp.id;
    if (cp !== undefined || replayed > 0) this.events.emit('restored', { id: cp?.id, replayed, journalSeq });
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
    this.events.emit('restored', { id: cp.id, replayed: 0, journalSeq: undefined });
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
    let phase: 'snapshot' | 'save' | 'prune' | 'truncate' = 'snapshot';
    try {
      // Everything applied so far has a seq ≤ this (record() applies before it appends).
      const position = this.journal?.lastSeq;
      const recorded = this.figures.sinceCheckpoint;
      const state = await this.snapshot();
      phase = 'save';
      const meta = position === undefined ? this.meta?.() : { ...this.meta?.(), journalSeq: position };
      const info = await this.store.save(this.stream, state, meta);
      this.figures.sinceCheckpoint = Math.max(0, this.figures.sinceCheckpoint - recorded);
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
      if (position !== undefined && this.keep > 0) {
        // Keep what every kept checkpoint needs: records after the oldest one's position.
        this.positions.push(position);
        if (this.positions.length > this.keep) this.positions.shift();
        if (this.positions.length === this.keep) {
          phase = 'truncate';
          await this.journal!.truncateBefore(this.positions[0]! + 1).catch((error: unknown) => {
            this.figures.lastError = String((error as Error)?.message ?? error);
            this.events.emit('failed', { error, phase: 'truncate', retryInMs: undefined });
          });
        }
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
