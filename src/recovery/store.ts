import { systemClock, type Clock } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger } from '../core/options.js';
import { BUILTIN_CODECS, decodeFrame, encodeFrame, jsonCodec, type Codec } from './codec.js';
import { CheckpointCorruptError, CheckpointStoreClosedError, CheckpointTooLargeError } from './errors.js';
import { InvalidOptionError } from '../core/errors.js';

/** What `save` returns and `list` describes. */
export interface CheckpointInfo {
  /** Monotonic per stream: a later save always gets a larger id. */
  id: number;
  stream: string;
  /** Clock time of the save, epoch ms. */
  createdAt: number;
  /** Bytes of the stored frame (header, meta and encoded data). */
  size: number;
  /** Of the whole frame; verified on every read. */
  checksum: string;
  meta?: Record<string, unknown>;
}

export interface Checkpoint<T = unknown> extends CheckpointInfo {
  data: T;
}

/** One entry of `list()`: valid, or marked with why it cannot be trusted. */
export type ListedCheckpoint = (CheckpointInfo & { valid: true }) | { id: number; stream: string; size: number; valid: false; corrupt: string };

export interface CheckpointStoreEvents {
  /** A stored checkpoint failed verification and was skipped. */
  corrupt: { stream: string; id: number; reason: string };
  /** Something in the store that is not one of its checkpoints (a stray file) was ignored. */
  ignored: { stream: string; name: string; reason: string };
}

/**
 * Where checkpoints live. Backends: `MemoryCheckpointStore` (tests), `FileCheckpointStore`
 * (one machine, the default), `RedisCheckpointStore` (many machines). All of them pass the
 * same conformance suite (test/recovery/store-conformance.ts).
 */
export interface CheckpointStore {
  /** Stores `data`; resolves once the checkpoint is durable as the backend defines it. */
  save(stream: string, data: unknown, meta?: Record<string, unknown>): Promise<CheckpointInfo>;
  /** The newest checkpoint that passes verification; corrupt newer ones are skipped and reported. */
  latest<T = unknown>(stream: string): Promise<Checkpoint<T> | undefined>;
  /** One checkpoint; undefined when absent; throws CheckpointCorruptError when it fails verification. */
  get<T = unknown>(stream: string, id: number): Promise<Checkpoint<T> | undefined>;
  /** Every stored checkpoint of the stream, oldest first, each marked valid or corrupt. */
  list(stream: string): Promise<ListedCheckpoint[]>;
  /**
   * Keeps the newest `keep` valid checkpoints and removes older valid ones; returns how many it
   * removed. Corrupt checkpoints are never removed: they are evidence for whoever investigates.
   */
  prune(stream: string, options: { keep: number }): Promise<number>;
  close(): Promise<void>;
  /** Where one checkpoint lives, for messages an operator acts on (a file path, a Redis key). */
  where?(stream: string, id: number): string;
  on<K extends keyof CheckpointStoreEvents>(name: K, listener: Listener<CheckpointStoreEvents[K]>): Disposable;
}

export interface BaseStoreOptions {
  /** Encodes data. Default jsonCodec. */
  codec?: Codec;
  /** Extra codecs this store can read (the built-in ones are always known). */
  codecs?: Codec[];
  /** Largest frame accepted by save. Default 64 MiB. */
  maxBytes?: number;
  clock?: Clock;
}

export const CHECKPOINT_STORE_DEFAULTS = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
});

const STREAM_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function checkStream(scope: string, stream: unknown): string {
  if (typeof stream !== 'string' || !STREAM_RE.test(stream)) {
    throw new InvalidOptionError(
      `${scope}: stream must be 1–200 characters of letters, digits, '.', '_' or '-', starting with a letter or digit, got ${typeof stream === 'string' ? JSON.stringify(stream) : typeof stream}`,
    );
  }
  return stream;
}

/**
 * The shared half of every store: framing, checksums, codecs, the newest-valid scan and
 * pruning. A backend supplies five primitives over raw frames.
 */
export abstract class FramedCheckpointStore implements CheckpointStore {
  protected readonly codec: Codec;
  protected readonly maxBytes: number;
  protected readonly clock: Clock;
  private readonly codecs = new Map<number, Codec>();
  private readonly events = new Emitter<CheckpointStoreEvents>();
  protected closed = false;

  constructor(
    protected readonly scope: string,
    options: BaseStoreOptions,
  ) {
    this.codec = options.codec ?? jsonCodec;
    for (const c of [...BUILTIN_CODECS, ...(options.codecs ?? []), this.codec]) {
      if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function' || !Number.isInteger(c.id) || c.id < 1 || c.id > 255) {
        throw new InvalidOptionError(`${scope}: codec must have encode(), decode() and an integer id from 1 to 255`);
      }
      this.codecs.set(c.id, c);
    }
    this.maxBytes = checkInteger(scope, 'maxBytes', options.maxBytes ?? CHECKPOINT_STORE_DEFAULTS.maxBytes, { min: 64, max: 2 ** 32 - 1 });
    this.clock = options.clock ?? systemClock;
  }

  /** Writes a frame under a new id, atomically; returns the id. */
  protected abstract writeFrame(stream: string, frame: Buffer): Promise<number>;
  /** The raw frame, or undefined when there is none. */
  protected abstract readFrame(stream: string, id: number): Promise<Buffer | undefined>;
  /** Ids present, ascending. */
  protected abstract ids(stream: string): Promise<number[]>;
  protected abstract remove(stream: string, ids: number[]): Promise<void>;
  protected abstract closeBackend(): Promise<void>;

  on<K extends keyof CheckpointStoreEvents>(name: K, listener: Listener<CheckpointStoreEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  async save(stream: string, data: unknown, meta?: Record<string, unknown>): Promise<CheckpointInfo> {
    this.checkOpen();
    checkStream(`${this.scope}.save`, stream);
    if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) {
      throw new InvalidOptionError(`${this.scope}.save: meta must be a plain object, got ${Array.isArray(meta) ? 'an array' : typeof meta}`);
    }
    const payload = this.codec.encode(data);
    const createdAt = this.clock.now();
    const { frame, checksum } = encodeFrame(this.codec, createdAt, meta, payload);
    if (frame.length > this.maxBytes) throw new CheckpointTooLargeError(frame.length, this.maxBytes);
    const id = await this.writeFrame(stream, frame);
    const info: CheckpointInfo = { id, stream, createdAt, size: frame.length, checksum };
    if (meta !== undefined) info.meta = meta;
    return info;
  }

  async latest<T = unknown>(stream: string): Promise<Checkpoint<T> | undefined> {
    this.checkOpen();
    checkStream(`${this.scope}.latest`, stream);
    const ids = await this.ids(stream);
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i]!;
      const frame = await this.readFrame(stream, id);
      if (frame === undefined) continue; // pruned meanwhile
      const result = this.decode<T>(stream, id, frame);
      if ('corrupt' in result) {
        this.events.emit('corrupt', { stream, id, reason: result.corrupt });
        continue;
      }
      return result;
    }
    return undefined;
  }

  async get<T = unknown>(stream: string, id: number): Promise<Checkpoint<T> | undefined> {
    this.checkOpen();
    checkStream(`${this.scope}.get`, stream);
    checkInteger(`${this.scope}.get`, 'id', id, { min: 1 });
    const frame = await this.readFrame(stream, id);
    if (frame === undefined) return undefined;
    const result = this.decode<T>(stream, id, frame);
    if ('corrupt' in result) {
      this.events.emit('corrupt', { stream, id, reason: result.corrupt });
      throw new CheckpointCorruptError(stream, id, result.corrupt);
    }
    return result;
  }

  async list(stream: string): Promise<ListedCheckpoint[]> {
    this.checkOpen();
    checkStream(`${this.scope}.list`, stream);
    const out: ListedCheckpoint[] = [];
    for (const id of await this.ids(stream)) {
      const frame = await this.readFrame(stream, id);
      if (frame === undefined) continue;
      const result = this.decode(stream, id, frame);
      if ('corrupt' in result) out.push({ id, stream, size: frame.length, valid: false, corrupt: result.corrupt });
      else {
        const { data: _data, ...info } = result;
        out.push({ ...info, valid: true });
      }
    }
    return out;
  }

  async prune(stream: string, options: { keep: number }): Promise<number> {
    this.checkOpen();
    checkStream(`${this.scope}.prune`, stream);
    const keep = checkInteger(`${this.scope}.prune`, 'keep', options?.keep, { min: 1 });
    const ids = await this.ids(stream);
    if (ids.length === 0) return 0;
    // Walk from the newest until `keep` valid checkpoints are found; older valid ones go.
    // Valid means what latest() would restore: checksum right, codec known, data decodable —
    // a checkpoint this store cannot read must not stand in for one it can.
    const restorable = async (id: number): Promise<boolean> => {
      const frame = await this.readFrame(stream, id);
      return frame !== undefined && !('corrupt' in this.decode(stream, id, frame));
    };
    let valid = 0;
    let cut = -1;
    for (let i = ids.length - 1; i >= 0; i--) {
      if ((await restorable(ids[i]!)) && ++valid === keep) {
        cut = i;
        break;
      }
    }
    if (cut <= 0) return 0;
    // Never remove the highest id, so ids stay monotonic even if every other one is pruned;
    // never remove a corrupt one (it is evidence).
    const doomed: number[] = [];
    for (const id of ids.slice(0, cut)) {
      if (id === ids[ids.length - 1]) continue;
      if (await restorable(id)) doomed.push(id);
    }
    if (doomed.length > 0) await this.remove(stream, doomed);
    return doomed.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeBackend();
  }

  /** Reports something in the store that is not one of its checkpoints. */
  protected reportIgnored(stream: string, name: string, reason: string): void {
    this.events.emit('ignored', { stream, name, reason });
  }

  protected checkOpen(): void {
    if (this.closed) throw new CheckpointStoreClosedError(this.scope);
  }

  /** Verifies and decodes one frame (for backends with their own fast paths). */
  protected decodeCheckpoint<T>(stream: string, id: number, frame: Buffer): Checkpoint<T> | { corrupt: string } {
    return this.decode<T>(stream, id, frame);
  }

  private decode<T>(stream: string, id: number, frame: Buffer): Checkpoint<T> | { corrupt: string } {
    const fields = decodeFrame(frame);
    if ('corrupt' in fields) return fields;
    const codec = this.codecs.get(fields.codecId);
    if (codec === undefined) return { corrupt: `written with codec id ${fields.codecId}, which this store does not know (pass that codec in options.codecs)` };
    let data: T;
    try {
      data = codec.decode(fields.payload) as T;
    } catch (err) {
      return { corrupt: `checksum is right but the ${codec.name} codec cannot decode the data: ${(err as Error).message}` };
    }
    const cp: Checkpoint<T> = { id, stream, createdAt: fields.createdAt, size: frame.length, checksum: fields.checksum, data };
    if (fields.meta !== undefined) cp.meta = fields.meta;
    return cp;
  }
}
