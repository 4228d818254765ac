import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../../core/errors.js';
import { loadPackage } from '../../core/packages.js';
import { checkInteger, checkOptions, checkString } from '../../core/options.js';
import type { Codec } from '../codec.js';
import { crc32Range } from '../internal.js';
import { checkAfter, codecTable, GroupCommit, JournalCorruptError, JournalFailedError, JournalOutcomeUnknownError, type Journal, type JournalRecord } from '../journal.js';
import { redisClientFromUrl } from '../stores/redis.js';

export interface RedisJournalOptions {
  /** redis://, rediss:// or redis+sentinel://…/masterName (as RedisCheckpointStore takes). */
  url?: string;
  /** An ioredis client you own (not closed by close()). Give `url` or `redis`. */
  redis?: Redis;
  /** The journal's name: its records are the Redis stream `<prefix>{<name>}`. */
  name: string;
  /** Default 'steadfast:journal:'. */
  prefix?: string;
  /** Replicas that must confirm each append (Redis WAIT, one per group of appends) before it counts as acknowledged. Default 0. */
  waitReplicas?: number;
  /** How long WAIT may take. Default 1000. */
  waitTimeoutMs?: number;
  codec?: Codec;
  codecs?: Codec[];
}

export const REDIS_JOURNAL_DEFAULTS = Object.freeze({ prefix: 'steadfast:journal:', waitReplicas: 0, waitTimeoutMs: 1000 });

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const PAGE = 1000;
/** CRC-32 (4), seq (8), codec id (1). */
const HEADER = 13;

/**
 * A journal in a Redis stream: entry id `<seq>-0`, one field `r`: CRC-32 of the rest (u32 LE),
 * the seq again (u64 LE, so the checksum covers it), the codec id (u8), then the payload. Durable as Redis's own setting says — run Redis with
 * `appendonly yes` and `appendfsync always` for an append that resolved to survive a crash of Redis;
 * `waitReplicas` adds replicas. The seq is this client's, so ids stay monotonic across a Sentinel
 * failover: a new primary that missed the newest records still takes the next ids (Redis refuses
 * an id that is not above its newest, which would reveal a second writer). An append whose
 * outcome is unknown (connection lost after sending, too few replicas) rejects with
 * JournalOutcomeUnknownError — never reported as success.
 */
export class RedisJournal<T = unknown> implements Journal<T> {
  readonly key: string;
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  private readonly redis: Redis;
  private readonly ioredis: typeof import('ioredis');
  private readonly owned: boolean;
  private readonly codec: Codec;
  private readonly byId: Map<number, Codec>;
  private readonly waits: GroupCommit<number>;
  private seq = 0;
  private closed = false;

  private constructor(o: RedisJournalOptions, scope: string) {
    const d = REDIS_JOURNAL_DEFAULTS;
    const name = checkString(scope, 'name', o.name);
    if (!NAME_RE.test(name)) throw new InvalidOptionError(`${scope}: name must be 1–200 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
    this.key = `${checkString(scope, 'prefix', o.prefix ?? d.prefix, { nonEmpty: false })}{${name}}`;
    this.waitReplicas = checkInteger(scope, 'waitReplicas', o.waitReplicas ?? d.waitReplicas, { min: 0, max: 100 });
    this.waitTimeoutMs = checkInteger(scope, 'waitTimeoutMs', o.waitTimeoutMs ?? d.waitTimeoutMs, { min: 1, max: 600_000 });
    ({ codec: this.codec, byId: this.byId } = codecTable(scope, o.codec, o.codecs));
    if ((o.url === undefined) === (o.redis === undefined)) throw new InvalidOptionError(`${scope}: give exactly one of url or redis`);
    this.ioredis = loadPackage<typeof import('ioredis')>('ioredis', 'RedisJournal');
    if (o.redis !== undefined) {
      if (typeof (o.redis as Redis).xadd !== 'function') throw new InvalidOptionError(`${scope}: redis must be an ioredis client`);
      this.redis = o.redis;
      this.owned = false;
    } else {
      this.redis = redisClientFromUrl(this.ioredis, checkString(scope, 'url', o.url), scope, { maxRetriesPerRequest: 2 });
      this.owned = true;
    }
    // One WAIT covers every append sent before it on this connection: appends share it.
    this.waits = new GroupCommit(() => this.waitOnce(), Infinity);
  }

  /** Connects and learns the newest seq (the stream's last id, kept by Redis even after truncation). */
  static async open<T = unknown>(options: RedisJournalOptions): Promise<RedisJournal<T>> {
    const scope = 'RedisJournal';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { url, name } are required`);
    const o = checkOptions<RedisJournalOptions>(scope, options, ['url', 'redis', 'name', 'prefix', 'waitReplicas', 'waitTimeoutMs', 'codec', 'codecs']);
    const j = new RedisJournal<T>(o as RedisJournalOptions, scope);
    try {
      const info = (await j.redis.xinfo('STREAM', j.key)) as unknown[];
      const at = info.indexOf('last-generated-id');
      j.seq = Number(String(info[at + 1]).split('-')[0]);
    } catch (err) {
      if (!/no such key/i.test((err as Error).message)) {
        if (j.owned) j.redis.disconnect();
        throw err;
      }
    }
    return j;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The ioredis client (for tests). */
  get client(): Redis {
    return this.redis;
  }

  async append(value: T): Promise<{ seq: number }> {
    if (this.closed) throw new JournalFailedError(`RedisJournal ${this.key} is closed`);
    const payload = this.codec.encode(value);
    const seq = ++this.seq;
    const id = `${seq}-0`;
    const rec = Buffer.allocUnsafe(HEADER + payload.length);
    rec.writeUInt32LE(seq % 2 ** 32, 4);
    rec.writeUInt32LE(Math.floor(seq / 2 ** 32), 8);
    rec[12] = this.codec.id;
    rec.set(payload, HEADER);
    rec.writeUInt32LE(crc32Range(rec, 4, rec.length), 0);
    try {
      await this.redis.xadd(this.key, id, 'r', rec);
    } catch (err) {
      // Redis answered with an error: nothing was added. Anything else may have happened after Redis applied it.
      if (err instanceof this.ioredis.ReplyError) {
        if (/equal or smaller/i.test((err as Error).message)) throw new JournalFailedError(`RedisJournal ${this.key}: Redis already holds an id ≥ ${id} — another writer appends to this journal (one writer per journal)`, err);
        throw err;
      }
      throw new JournalOutcomeUnknownError(`RedisJournal ${this.key}: append ${seq} has an unknown outcome: ${(err as Error).message}`, err);
    }
    if (this.waitReplicas > 0) await this.waits.add(seq, 1);
    return { seq };
  }

  private async waitOnce(): Promise<void> {
    let acked: number;
    try {
      acked = Number(await this.redis.wait(this.waitReplicas, this.waitTimeoutMs));
    } catch (err) {
      throw new JournalOutcomeUnknownError(`RedisJournal ${this.key}: the append reached the primary, but WAIT failed: ${(err as Error).message}`, err);
    }
    if (acked < this.waitReplicas) {
      throw new JournalOutcomeUnknownError(`RedisJournal ${this.key}: the append reached the primary but only ${acked} of ${this.waitReplicas} replicas confirmed it within ${this.waitTimeoutMs} ms (waitReplicas, waitTimeoutMs); it may be lost on failover`);
    }
  }

  async *read(options: { after?: number } = {}): AsyncIterable<JournalRecord<T>> {
    let after = checkAfter('RedisJournal.read', options.after);
    for (;;) {
      const page = (await this.redis.xrangeBuffer(this.key, `${after + 1}-0`, '+', 'COUNT', PAGE)) as [Buffer, Buffer[]][];
      for (const [idBytes, fields] of page) {
        const seq = Number(idBytes.toString().split('-')[0]);
        const rec = fields[0]?.toString() === 'r' ? fields[1] : undefined;
        const where = `entry ${idBytes.toString()} of Redis stream ${this.key}`;
        const intact = rec !== undefined && rec.length >= HEADER && rec.readUInt32LE(0) === crc32Range(rec, 4, rec.length) && rec.readUInt32LE(4) + rec.readUInt32LE(8) * 2 ** 32 === seq;
        if (!intact) throw new JournalCorruptError(`RedisJournal: ${where} fails its checksum`, where);
        const codec = this.byId.get(rec[12]!);
        if (codec === undefined) throw new JournalCorruptError(`RedisJournal: ${where} uses codec ${rec[12]}, which this journal was not given (codecs option)`, where);
        yield { seq, value: codec.decode(rec.subarray(HEADER)) as T };
        after = seq;
      }
      if (page.length < PAGE) return;
    }
  }

  async truncateBefore(seq: number): Promise<void> {
    checkAfter('RedisJournal.truncateBefore', seq);
    await this.redis.xtrim(this.key, 'MINID', `${seq}-0`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
