import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { InvalidOptionError, OptionRangeError } from '../../core/errors.js';
import { checkBoolean, checkClock, checkInteger, checkOneOf, checkOptions, checkString } from '../../core/options.js';
import { jsonCodec, type Codec } from '../codec.js';
import { crc32Range, fsyncDir } from '../internal.js';
import { MAGIC, VERSION, SEGMENT_HEADER, RECORD_HEADER, NAME_RE, segmentName, readU64, encodeRecord, scan, recordProblem, validAfter, segmentHeader, writev, fdatasync, dropBytes, writeFileSynced, truncateSynced } from './segment.js';
import { checkAfter, codecTable, GroupCommit, JournalCorruptError, JournalFailedError, type Journal, type JournalRecord } from '../journal.js';

/**
 * When an append counts as durable. `'always'`: after the fdatasync that covers it (a power cut
 * loses nothing acknowledged). `{ everyMs }`: after the write, with an fdatasync every everyMs (a
 * power cut loses up to everyMs of acknowledged appends; a process crash loses none). `'none'`:
 * after the write, synced when the OS decides (a process crash loses none; a power cut loses
 * whatever the OS had not written back, typically up to 30 s).
 */
export type JournalSync = 'always' | 'none' | { everyMs: number };

export interface FileJournalOptions {
  /** The journal's folder (one journal per folder); created if missing. */
  dir: string;
  /** Default 'always'. */
  sync?: JournalSync;
  /** A new segment file is started once the current one is at least this big. Default 64 MiB. */
  segmentBytes?: number;
  /** Bytes at most in one group-committed write. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Largest encoded record accepted. Default 16 MiB. */
  maxRecordBytes?: number;
  /** On open, verify every checksum and cut the journal at a corruption that is not a torn tail (losing what follows) instead of refusing to open. Default false. */
  repair?: boolean;
  /**
   * What open() verifies: 'tail' — every record of the last segment, the structure (lengths,
   * consecutive seqs) of older ones, whose checksums read() verifies; 'full' — every checksum.
   * Default 'tail'.
   */
  verify?: 'tail' | 'full';
  /** How records become bytes. Default jsonCodec. */
  codec?: Codec;
  /** Extra codecs it can read. */
  codecs?: Codec[];
  /** For the everyMs sync timer. */
  clock?: Clock;
}

export const FILE_JOURNAL_DEFAULTS = Object.freeze({
  sync: 'always' as JournalSync,
  segmentBytes: 64 * 1024 * 1024,
  maxBatchBytes: 1024 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
  repair: false,
  verify: 'tail' as 'tail' | 'full',
});

/** What open() found and did. */
export interface FileJournalOpenReport {
  segments: number;
  records: number;
  lastSeq: number;
  /** A torn or corrupt last record (a crash in the middle of a write) was cut off. */
  truncatedTail: { segment: string; offset: number; bytes: number; reason: string } | undefined;
  /** With repair: a corruption in the middle was cut there; `lostFromSeq` and everything after it is gone. */
  repaired: { segment: string; offset: number; reason: string; lostFromSeq: number; removedSegments: string[] } | undefined;
}

export interface FileJournalStats {
  appends: number;
  /** Group commits: one write (and, with sync 'always', one fdatasync) each. */
  flushes: number;
  syncs: number;
  bytes: number;
  segments: number;
}

/**
 * A journal in segment files, group-committed: appends that arrive while a write + fdatasync is in
 * flight share the next one (bounded by maxBatchBytes), so at high concurrency one sync covers
 * many records. Open it with `await FileJournal.open({ dir })`: the tail is scanned, a torn or
 * corrupt last record (a crash mid-write) is cut off and reported in `opened`, and corruption
 * anywhere else is an error naming the segment and offset (`repair: true` cuts there instead).
 * Nothing is kept in memory once it is written.
 */
export class FileJournal<T = unknown> implements Journal<T> {
  readonly dir: string;
  readonly sync: JournalSync;
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly opened: FileJournalOpenReport;
  private readonly codec: Codec;
  private readonly byId: Map<number, Codec>;
  private readonly clock: Clock;
  private readonly group: GroupCommit<Buffer>;
  /** First seq of each segment, oldest first; the last one is being appended to. */
  private segments: number[];
  private fd: number;
  private size: number;
  /** Bytes of the active segment that read() may return: written, and synced when sync is 'always'. */
  private readable: number;
  private seq: number;
  private failure: JournalFailedError | undefined;
  private closed = false;
  private timer: TimerHandle | undefined;
  private dirty = false;
  private pending: Promise<unknown> = Promise.resolve();
  private readonly counts: FileJournalStats = { appends: 0, flushes: 0, syncs: 0, bytes: 0, segments: 0 };

  private constructor(o: { dir: string; sync: JournalSync; segmentBytes: number; maxBatchBytes: number; maxRecordBytes: number; codec: Codec; byId: Map<number, Codec>; clock: Clock; segments: number[]; fd: number; size: number; lastSeq: number; opened: FileJournalOpenReport }) {
    this.dir = o.dir;
    this.sync = o.sync;
    this.segmentBytes = o.segmentBytes;
    this.maxRecordBytes = o.maxRecordBytes;
    this.codec = o.codec;
    this.byId = o.byId;
    this.clock = o.clock;
    this.segments = o.segments;
    this.fd = o.fd;
    this.size = o.size;
    this.readable = o.size;
    this.seq = o.lastSeq;
    this.opened = o.opened;
    this.counts.segments = o.segments.length;
    this.group = new GroupCommit((frames) => this.flush(frames), o.maxBatchBytes);
    if (typeof this.sync === 'object') this.scheduleSync(this.sync.everyMs);
  }

  /** Opens (or creates) the journal in `dir`, scanning and verifying every segment. */
  static async open<T = unknown>(options: FileJournalOptions): Promise<FileJournal<T>> {
    const scope = 'FileJournal';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { dir } are required`);
    const o = checkOptions<FileJournalOptions>(scope, options, ['dir', 'sync', 'segmentBytes', 'maxBatchBytes', 'maxRecordBytes', 'repair', 'verify', 'codec', 'codecs', 'clock']);
    const d = FILE_JOURNAL_DEFAULTS;
    const dir = path.resolve(checkString(scope, 'dir', o.dir));
    const sync = o.sync ?? d.sync;
    if (sync !== 'always' && sync !== 'none' && !(typeof sync === 'object' && sync !== null && Number.isInteger(sync.everyMs) && sync.everyMs >= 1 && sync.everyMs <= 60_000)) {
      throw new OptionRangeError(`${scope}: sync must be 'always', 'none' or { everyMs } with everyMs an integer from 1 to 60000, got ${JSON.stringify(sync)}`);
    }
    const segmentBytes = checkInteger(scope, 'segmentBytes', o.segmentBytes ?? d.segmentBytes, { min: 4096, max: 2 ** 31 - 1 });
    const maxBatchBytes = checkInteger(scope, 'maxBatchBytes', o.maxBatchBytes ?? d.maxBatchBytes, { min: 1, max: 2 ** 30 });
    const maxRecordBytes = checkInteger(scope, 'maxRecordBytes', o.maxRecordBytes ?? d.maxRecordBytes, { min: 1, max: 2 ** 30 });
    const repair = checkBoolean(scope, 'repair', o.repair ?? d.repair);
    const verify = checkOneOf(scope, 'verify', o.verify ?? d.verify, ['tail', 'full'] as const);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    const { codec, byId } = codecTable(scope, o.codec, o.codecs);

    const created = await fsp.mkdir(dir, { recursive: true });
    if (created !== undefined) await fsyncDir(path.dirname(dir));
    const names = (await fsp.readdir(dir)).filter((n) => NAME_RE.test(n)).sort();
    const opened: FileJournalOpenReport = { segments: 0, records: 0, lastSeq: 0, truncatedTail: undefined, repaired: undefined };
    const segments: number[] = [];
    let expected = 1; // the seq the next record must have
    let size = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const first = Number(NAME_RE.exec(name)![1]);
      const file = path.join(dir, name);
      const last = i === names.length - 1;
      /** A corruption that is not a torn tail: refuse to open, or (repair) cut here — this segment from `offset` (0: all of it) and every later one. */
      const cut = async (offset: number, reason: string): Promise<void> => {
        if (!repair) throw new JournalCorruptError(`FileJournal: ${file} is corrupt at offset ${offset}: ${reason}; the records from seq ${expected} on cannot be trusted — open with repair: true to cut the journal there (losing them)`, `${file}@${offset}`);
        const removed = offset === 0 ? names.slice(i) : names.slice(i + 1);
        for (const r of removed) await fsp.unlink(path.join(dir, r));
        if (offset > 0) await truncateSynced(file, offset);
        opened.repaired = { segment: name, offset, reason, lostFromSeq: expected, removedSegments: removed };
      };
      if (segments.length > 0 && first !== expected) {
        await cut(0, first > expected ? `records ${expected}–${first - 1} are missing: no segment holds them (was a segment removed?)` : `it starts at seq ${first}, but the segment before it ends at ${expected - 1}`);
        break;
      }
      expected = first;
      const buf = await fsp.readFile(file);
      if (buf.length >= SEGMENT_HEADER && buf.subarray(0, 4).equals(MAGIC) && buf[4]! > VERSION) {
        throw new JournalCorruptError(`FileJournal: ${file} has format version ${buf[4]}, newer than this steadfast reads (${VERSION}): upgrade steadfast to read it`, file);
      }
      const headerProblem =
        buf.length < SEGMENT_HEADER ? `a segment header cut short (${buf.length} of ${SEGMENT_HEADER} bytes)` : !buf.subarray(0, 4).equals(MAGIC) ? 'not a journal segment (bad magic)' : buf[4] !== VERSION ? `unknown format version ${buf[4]}` : readU64(buf, 8) !== first ? `its header says first seq ${readU64(buf, 8)}, its name ${first}` : undefined;
      if (headerProblem !== undefined) {
        if (last && buf.length < SEGMENT_HEADER) {
          // Created, then the crash came before its header was durable: start it again.
          await writeFileSynced(file, segmentHeader(first));
          opened.truncatedTail = { segment: name, offset: 0, bytes: buf.length, reason: headerProblem };
          segments.push(first);
          size = SEGMENT_HEADER;
          continue;
        }
        await cut(0, headerProblem);
        break;
      }
      // The last segment is verified record by record (a crash tears only its tail); older ones,
      // sealed and synced when the next began, by structure unless verify is 'full' — their
      // checksums are verified whenever they are read. A repair verifies everything: it must not keep a bad record.
      const r = scan(buf, first, maxRecordBytes, last || verify === 'full' || repair);
      opened.records += r.count;
      expected = first + r.count;
      segments.push(first);
      size = r.end;
      if (r.problem !== undefined) {
        if (last && !validAfter(buf, r.end, expected, maxRecordBytes)) {
          await truncateSynced(file, r.end);
          opened.truncatedTail = { segment: name, offset: r.end, bytes: buf.length - r.end, reason: r.problem };
        } else {
          await cut(r.end, r.problem);
          break;
        }
      }
    }
    if (segments.length === 0) {
      await writeFileSynced(path.join(dir, segmentName(expected)), segmentHeader(expected));
      await fsyncDir(dir);
      segments.push(expected);
      size = SEGMENT_HEADER;
    }
    if (opened.repaired) await fsyncDir(dir);
    opened.segments = segments.length;
    opened.lastSeq = expected - 1;
    const fd = fs.openSync(path.join(dir, segmentName(segments.at(-1)!)), 'r+');
    return new FileJournal<T>({ dir, sync, segmentBytes, maxBatchBytes, maxRecordBytes, codec, byId, clock: o.clock ?? systemClock, segments, fd, size, lastSeq: expected - 1, opened });
  }

  get lastSeq(): number {
    return this.seq;
  }

  get stats(): Readonly<FileJournalStats> {
    return { ...this.counts };
  }

  append(value: T): Promise<{ seq: number }> {
    if (this.closed) return Promise.reject(new JournalFailedError(`FileJournal ${this.dir} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    let payload: Uint8Array;
    try {
      payload = this.codec.encode(value);
    } catch (err) {
      return Promise.reject(err);
    }
    if (payload.length > this.maxRecordBytes) return Promise.reject(new OptionRangeError(`FileJournal.append: the record encodes to ${payload.length} bytes, over maxRecordBytes (${this.maxRecordBytes})`));
    const seq = ++this.seq;
    this.counts.appends++;
    const frame = encodeRecord(seq, this.codec.id, payload);
    const done = this.group.add(frame, frame.length);
    this.pending = done.catch(() => {});
    return done.then(() => ({ seq }));
  }

  /** One group commit: roll the segment if it is full, write every frame, fdatasync (sync 'always'). */
  private async flush(frames: Buffer[]): Promise<void> {
    if (this.failure) throw this.failure;
    try {
      if (this.size >= this.segmentBytes) await this.roll(readU64(frames[0]!, 8));
      let position = this.size;
      let bytes = 0;
      for (const f of frames) bytes += f.length;
      // A file write may be partial; write what is left until every byte is out.
      let left = frames;
      for (let written = 0; written < bytes; ) {
        const n = await writev(this.fd, left, position);
        written += n;
        position += n;
        left = dropBytes(left, n);
      }
      this.size += bytes;
      this.counts.bytes += bytes;
      this.counts.flushes++;
      if (this.sync === 'always') {
        await fdatasync(this.fd);
        this.counts.syncs++;
      } else this.dirty = true;
      this.readable = this.size;
    } catch (err) {
      // After a failed write or fsync the page cache cannot be trusted (fsyncgate): no more appends.
      this.failure ??= new JournalFailedError(`FileJournal ${this.dir}: ${(err as Error).message}; it takes no more appends — reopen it (the tail scan keeps what is intact)`, err);
      throw this.failure;
    }
  }

  /** Seals the current segment (synced whatever the sync setting) and starts the next at `first`. */
  private async roll(first: number): Promise<void> {
    await fdatasync(this.fd);
    fs.closeSync(this.fd);
    const file = path.join(this.dir, segmentName(first));
    await writeFileSynced(file, segmentHeader(first));
    await fsyncDir(this.dir);
    this.fd = fs.openSync(file, 'r+');
    this.size = SEGMENT_HEADER;
    this.readable = SEGMENT_HEADER;
    this.segments.push(first);
    this.counts.segments = this.segments.length;
  }

  private scheduleSync(everyMs: number): void {
    const t = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      void this.syncNow().finally(() => this.scheduleSync(everyMs));
    }, everyMs);
    t.unref?.();
    this.timer = t;
  }

  private async syncNow(): Promise<void> {
    if (!this.dirty || this.failure) return;
    this.dirty = false;
    try {
      await fdatasync(this.fd);
      this.counts.syncs++;
    } catch (err) {
      this.failure ??= new JournalFailedError(`FileJournal ${this.dir}: fdatasync failed: ${(err as Error).message}; it takes no more appends — reopen it`, err);
    }
  }

  /**
   * Records with seq > after, in order: segment files are read back one at a time, each record's
   * checksum verified as it is reached. A hand-written iterator, not an async generator: a replay
   * of a million records pays one promise per record, not a generator suspension as well.
   */
  read(options: { after?: number } = {}): AsyncIterable<JournalRecord<T>> {
    const after = checkAfter('FileJournal.read', options.after);
    const segments = this.segments.slice();
    const activeSize = this.readable;
    let i = -1;
    let buf: Buffer | undefined;
    let at = 0;
    let seq = 0;
    let file = '';
    /** The next record of the segment in hand, or undefined when it is used up. */
    const step = (): IteratorResult<JournalRecord<T>> | undefined => {
      while (buf !== undefined && at < buf.length) {
        const start = at + RECORD_HEADER;
        const end = start + (buf.length - at >= RECORD_HEADER ? buf.readUInt32LE(at + 4) : 0);
        // The usual case checked inline; anything odd goes to recordProblem for its reason.
        const intact = end <= buf.length && end - start <= this.maxRecordBytes && buf.readUInt32LE(at + 8) === seq % 2 ** 32 && crc32Range(buf, at + 4, end) === buf.readUInt32LE(at) && readU64(buf, at + 8) === seq;
        if (!intact) {
          const problem = recordProblem(buf, at, seq, this.maxRecordBytes) ?? 'a record that fails verification';
          throw new JournalCorruptError(`FileJournal: ${file} is corrupt at offset ${at}: ${problem}; records from seq ${seq} on cannot be read — reopen with repair: true to cut the journal there (losing them)`, `${file}@${at}`);
        }
        const id = buf[at + 16]!;
        const s = seq;
        at = end;
        seq++;
        if (s <= after) continue;
        const codec = this.byId.get(id);
        if (codec === undefined) throw new JournalCorruptError(`FileJournal: record ${s} in ${file} uses codec ${id}, which this journal was not given (codecs option)`, file);
        // JSON, the default, is parsed straight from the segment's bytes (no view per record).
        const value = (codec === jsonCodec ? JSON.parse(buf.toString('utf8', start, end)) : codec.decode(buf.subarray(start, end))) as T;
        return { done: false, value: { seq: s, value } };
      }
      return undefined;
    };
    /** Reads the next segment that may hold records past `after`; false when there is none. */
    const load = async (): Promise<boolean> => {
      buf = undefined;
      while (++i < segments.length) {
        const first = segments[i]!;
        const next = segments[i + 1];
        if (next !== undefined && next <= after + 1) continue; // every record of it is ≤ after
        file = path.join(this.dir, segmentName(first));
        const whole = await fsp.readFile(file);
        buf = next === undefined ? whole.subarray(0, activeSize) : whole;
        at = SEGMENT_HEADER;
        seq = first;
        return true;
      }
      return false;
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<JournalRecord<T>>> => {
          for (;;) {
            const r = step();
            if (r !== undefined) return r;
            if (!(await load())) return { done: true, value: undefined };
          }
        },
      }),
    };
  }

  async truncateBefore(seq: number): Promise<void> {
    checkAfter('FileJournal.truncateBefore', seq);
    // Whole segments only, and never the one being appended to: its name keeps the seq going.
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1]! <= seq) {
      const first = this.segments.shift()!;
      await fsp.unlink(path.join(this.dir, segmentName(first)));
      removed++;
    }
    this.counts.segments = this.segments.length;
    if (removed > 0) await fsyncDir(this.dir);
  }

  /** Waits for appends in flight, syncs (unless sync is 'none') and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    while (!this.group.idle) await this.pending;
    if (this.sync !== 'none' && this.dirty && !this.failure) await fdatasync(this.fd).catch(() => {});
    fs.closeSync(this.fd);
  }
}
