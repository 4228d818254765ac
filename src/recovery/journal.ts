import { ErrorCode, InvalidOptionError, SteadfastError } from '../core/errors.js';
import { BUILTIN_CODECS, jsonCodec, type Codec } from './codec.js';

/** One record of a journal: its sequence number and its value. */
export interface JournalRecord<T = unknown> {
  seq: number;
  value: T;
}

/**
 * An append-only log of records with monotonic sequence numbers (1, 2, 3, …; a failed append may
 * leave a gap). One writer per journal. `append()` takes its sequence number at once — so state
 * applied before the call is covered by `lastSeq` — and resolves only when the record is durable
 * under the journal's sync setting; a rejected append was not acknowledged (it may still be read
 * back: its outcome is unknown, never reported as success).
 */
export interface Journal<T = unknown> {
  /** The sequence number the latest append took (0 when none ever did). */
  readonly lastSeq: number;
  append(value: T): Promise<{ seq: number }>;
  /** Records with seq > `after` (default 0), in order; what was durable when the call started. */
  read(options?: { after?: number }): AsyncIterable<JournalRecord<T>>;
  /** Drops records before `seq` (whole segments: some older records may stay readable). */
  truncateBefore(seq: number): Promise<void>;
  close(): Promise<void>;
}

/** A journal record or segment failed verification where it cannot be a torn tail. */
export class JournalCorruptError extends SteadfastError {
  constructor(
    message: string,
    readonly where: string,
  ) {
    super(ErrorCode.JOURNAL_CORRUPT, message, { retryable: false });
  }
}

/** A write or sync failed; the journal takes no more appends (reopen it: the tail scan says what survived). */
export class JournalFailedError extends SteadfastError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.JOURNAL_FAILED, message, { retryable: false, cause });
  }
}

/** The append may or may not be durable; treat it as not acknowledged. */
export class JournalOutcomeUnknownError extends SteadfastError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.JOURNAL_OUTCOME_UNKNOWN, message, { retryable: true, cause });
  }
}

/** The codec set of a journal: the one it writes with, and every one it can read. */
export function codecTable(scope: string, codec: Codec | undefined, extra: readonly Codec[] | undefined): { codec: Codec; byId: Map<number, Codec> } {
  const chosen = codec ?? jsonCodec;
  const byId = new Map<number, Codec>();
  for (const c of [...BUILTIN_CODECS, ...(extra ?? []), chosen]) {
    if (!c || typeof c.encode !== 'function' || typeof c.decode !== 'function' || !Number.isInteger(c.id) || c.id < 1 || c.id > 255) {
      throw new InvalidOptionError(`${scope}: codec must have encode(), decode() and an integer id from 1 to 255`);
    }
    byId.set(c.id, c);
  }
  return { codec: chosen, byId };
}

/**
 * Group commit: items that arrive while a flush is in flight wait for the next one, which takes
 * everything queued (up to `maxBatch` of weight) — one write and one sync for all of them, no
 * timer per item. A flush that throws rejects every item of its batch.
 */
export class GroupCommit<I> {
  private queue: { item: I; weight: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<void>,
    private readonly maxBatch: number,
  ) {}

  get idle(): boolean {
    return !this.flushing && this.queue.length === 0;
  }

  add(item: I, weight: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, weight, resolve, reject });
      if (!this.flushing) this.run();
    });
  }

  private run(): void {
    this.flushing = true;
    let weight = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || weight + this.queue[n]!.weight <= this.maxBatch)) weight += this.queue[n++]!.weight;
    const batch = this.queue.splice(0, n);
    this.flush(batch.map((b) => b.item)).then(
      () => {
        for (const b of batch) b.resolve();
        this.next();
      },
      (error: unknown) => {
        for (const b of batch) b.reject(error);
        this.next();
      },
    );
  }

  private next(): void {
    this.flushing = false;
    if (this.queue.length > 0) this.run();
  }
}

/** Where a MemoryJournal keeps its records; hand the same one to a new MemoryJournal to "reopen" it. */
export interface MemoryJournalBacking {
  records: { seq: number; bytes: Uint8Array; codec: number }[];
  lastSeq: number;
}

/** A journal in this process's memory (tests, and state that need not outlive the process). */
export class MemoryJournal<T = unknown> implements Journal<T> {
  readonly backing: MemoryJournalBacking;
  private readonly codec: Codec;
  private readonly byId: Map<number, Codec>;
  private closed = false;

  constructor(options: { backing?: MemoryJournalBacking; codec?: Codec; codecs?: Codec[] } = {}) {
    this.backing = options.backing ?? { records: [], lastSeq: 0 };
    ({ codec: this.codec, byId: this.byId } = codecTable('MemoryJournal', options.codec, options.codecs));
  }

  get lastSeq(): number {
    return this.backing.lastSeq;
  }

  append(value: T): Promise<{ seq: number }> {
    if (this.closed) return Promise.reject(new JournalFailedError('MemoryJournal is closed'));
    let bytes: Uint8Array;
    try {
      bytes = this.codec.encode(value);
    } catch (err) {
      return Promise.reject(err);
    }
    const seq = ++this.backing.lastSeq;
    this.backing.records.push({ seq, bytes, codec: this.codec.id });
    return Promise.resolve({ seq });
  }

  async *read(options: { after?: number } = {}): AsyncIterable<JournalRecord<T>> {
    const after = checkAfter('MemoryJournal.read', options.after);
    const records = this.backing.records.slice();
    for (const r of records) if (r.seq > after) yield { seq: r.seq, value: this.byId.get(r.codec)!.decode(r.bytes) as T };
  }

  async truncateBefore(seq: number): Promise<void> {
    checkAfter('MemoryJournal.truncateBefore', seq);
    this.backing.records = this.backing.records.filter((r) => r.seq >= seq);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function checkAfter(scope: string, after: unknown): number {
  if (after === undefined) return 0;
  if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) throw new InvalidOptionError(`${scope}: seq must be an integer ≥ 0, got ${String(after)}`);
  return after;
}
