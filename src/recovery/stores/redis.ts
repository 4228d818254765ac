import type { Redis, RedisOptions } from 'ioredis';
import { loadPackage } from '../../core/packages.js';
import { checkInteger, checkOptions, checkString } from '../../core/options.js';
import { CheckpointOutcomeUnknownError } from '../errors.js';
import { checkStream, FramedCheckpointStore, type BaseStoreOptions, type Checkpoint } from '../store.js';
import { InvalidOptionError } from '../../core/errors.js';

export interface RedisCheckpointStoreOptions extends BaseStoreOptions {
  /**
   * `redis://[:password@]host:port[/db]`, `rediss://…` (TLS), or
   * `redis+sentinel://[:password@]host:port[,host:port…]/masterName[/db]` — through Sentinel,
   * with ioredis's `failoverDetector` on so a failover is noticed in about a second (with it
   * off, ioredis kept writing to a demoted master for 11 s in our tests and the writes were lost).
   */
  url?: string;
  /** An ioredis client you own (not closed by close()). Give `url` or `redis`. */
  redis?: Redis;
  /** Key prefix. Default 'steadfast:checkpoint:'. */
  prefix?: string;
  /**
   * Replicas that must confirm each save (Redis WAIT) before it counts as acknowledged.
   * Default 0: acknowledged = on the primary (durable there as its appendfsync setting says).
   */
  waitReplicas?: number;
  /** How long WAIT may take. Default 1000. */
  waitTimeoutMs?: number;
  /** Keep only the newest `keep` checkpoints per stream, removed inside the save itself. Default 0 (keep all). */
  keep?: number;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({
  prefix: 'steadfast:checkpoint:',
  waitReplicas: 0,
  waitTimeoutMs: 1000,
  keep: 0,
});

/*
 * One script allocates the id, stores the frame, indexes it and applies retention: a reader
 * never sees an id without its data or data without its index entry. Keys carry the stream in
 * a {hash tag}, so all three land in one cluster slot.
 *   KEYS: seq (string counter), idx (sorted set of ids), data (hash id -> frame)
 *   ARGV: frame, keep
 */
const SAVE_SCRIPT = `
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[3], id, ARGV[1])
redis.call('ZADD', KEYS[2], id, id)
local keep = tonumber(ARGV[2])
if keep > 0 then
  local n = redis.call('ZCARD', KEYS[2])
  if n > keep then
    local old = redis.call('ZRANGE', KEYS[2], 0, n - keep - 1)
    for _, oldId in ipairs(old) do redis.call('HDEL', KEYS[3], oldId) end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1)
  end
end
return id
`;

const REMOVE_SCRIPT = `
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return #ARGV
`;

/** The newest id and its frame in one round trip. KEYS: idx, data. */
const LATEST_SCRIPT = `
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0)
if #newest == 0 then return nil end
return { newest[1], redis.call('HGET', KEYS[2], newest[1]) }
`;

type ScriptedRedis = Redis & {
  steadfastCheckpointLatestBuffer(idx: string, data: string): Promise<[Buffer, Buffer | null] | null>;
  steadfastCheckpointSave(seq: string, idx: string, data: string, frame: Buffer, keep: number): Promise<number>;
  steadfastCheckpointRemove(idx: string, data: string, ...ids: string[]): Promise<number>;
};

/** Parses a redis:// or redis+sentinel:// URL into ioredis options; errors name `scope`, the caller. */
export function redisOptionsFromUrl(url: string, scope = 'RedisCheckpointStore'): RedisOptions & { sentinel: boolean } {
  const bad = (why: string): TypeError => new InvalidOptionError(`${scope}: ${why}, got ${JSON.stringify(url)}`);
  if (typeof url !== 'string') throw bad('url must be a string');
  if (url.startsWith('redis+sentinel://')) {
    // redis+sentinel://[user:password@]h1:p1,h2:p2/masterName[/db] — parsed by hand: URL
    // cannot hold a list of hosts.
    const m = /^redis\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)\/([^/?#]+)(?:\/(\d+))?\/?$/.exec(url);
    if (!m) throw bad('a sentinel url needs host:port pairs and a master name, as redis+sentinel://h1:26379,h2:26379/mymaster');
    const sentinels = m[3]!.split(',').map((hp) => {
      const [host, port] = hp.split(':');
      return { host: host!, port: port ? Number(port) : 26379 };
    });
    if (sentinels.some((s) => !s.host || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535)) {
      throw bad('a sentinel url needs host:port pairs and a master name, as redis+sentinel://h1:26379,h2:26379/mymaster');
    }
    const password = m[2] ? decodeURIComponent(m[2]) : undefined;
    return {
      sentinel: true,
      sentinels,
      name: decodeURIComponent(m[4]!),
      failoverDetector: true,
      ...(password ? { password, sentinelPassword: password } : {}),
      ...(m[5] !== undefined ? { db: Number(m[5]) } : {}),
    };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('url must be redis://host:port, rediss://… or redis+sentinel://host:port,…/masterName');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad('url must start with redis://, rediss:// or redis+sentinel://');
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const db = u.pathname.split('/').filter(Boolean)[0];
  return {
    sentinel: false,
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(password ? { password } : {}),
    ...(username ? { username } : {}),
    ...(db !== undefined ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A client for a redis:// or redis+sentinel:// URL, with `extra` options on top. Through
 * Sentinel, ioredis 5 ends a client for good when its failover detector announces a failover
 * while the client is asking a Sentinel for the master (after losing the old one): the connect
 * rejects with "Connection is closed.", the status becomes "end" and every later command fails.
 * A failover announced during a connect means "ask again", so the client's connects here do that
 * — unless the client itself is being closed.
 */
export function redisClientFromUrl(ioredis: { Redis: new (options: RedisOptions) => Redis }, url: string, scope: string, extra: RedisOptions): Redis {
  const { sentinel, ...options } = redisOptionsFromUrl(url, scope);
  const client = new ioredis.Redis({ ...options, ...extra });
  if (sentinel) askAgainOnFailover(client);
  return client;
}

const CONNECTION_CLOSED = 'Connection is closed.';

function askAgainOnFailover(client: Redis): void {
  const inner = client as unknown as { connector?: { connect?: (emit: unknown) => Promise<unknown> }; manuallyClosing?: boolean };
  const connector = inner.connector;
  if (typeof connector?.connect !== 'function') return;
  const connect = connector.connect.bind(connector);
  connector.connect = async (emit: unknown): Promise<unknown> => {
    for (;;) {
      try {
        return await connect(emit);
      } catch (err) {
        if (inner.manuallyClosing || (err as Error | undefined)?.message !== CONNECTION_CLOSED) throw err;
        await new Promise((r) => setTimeout(r, 50));
        if (inner.manuallyClosing) throw err;
      }
    }
  };
}

/**
 * Checkpoints in Redis (the seed's 4.2.1/4.2.2), one atomic script per save. With Redis
 * run as `appendonly yes, appendfsync always`, a save that resolved survives a crash of
 * Redis itself; with `waitReplicas: N` it is also on N replicas. A save whose outcome is
 * unknown (connection lost after sending, too few replicas) rejects with
 * CheckpointOutcomeUnknownError — never reported as success.
 */
export class RedisCheckpointStore extends FramedCheckpointStore {
  readonly prefix: string;
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  readonly keep: number;
  private readonly redis: ScriptedRedis;
  private readonly ioredis: typeof import('ioredis');
  private readonly owned: boolean;

  constructor(options: RedisCheckpointStoreOptions) {
    const scope = 'RedisCheckpointStore';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { url } or { redis } are required`);
    const o = checkOptions<RedisCheckpointStoreOptions>(scope, options, ['url', 'redis', 'prefix', 'waitReplicas', 'waitTimeoutMs', 'keep', 'codec', 'codecs', 'maxBytes', 'clock']);
    super(scope, o);
    const d = REDIS_STORE_DEFAULTS;
    this.prefix = checkString(scope, 'prefix', o.prefix ?? d.prefix, { nonEmpty: false });
    this.waitReplicas = checkInteger(scope, 'waitReplicas', o.waitReplicas ?? d.waitReplicas, { min: 0, max: 100 });
    this.waitTimeoutMs = checkInteger(scope, 'waitTimeoutMs', o.waitTimeoutMs ?? d.waitTimeoutMs, { min: 1, max: 600_000 });
    this.keep = checkInteger(scope, 'keep', o.keep ?? d.keep, { min: 0 });
    if ((o.url === undefined) === (o.redis === undefined)) throw new InvalidOptionError(`${scope}: give exactly one of url or redis`);
    this.ioredis = loadPackage<typeof import('ioredis')>('ioredis', 'RedisCheckpointStore');
    let client: Redis;
    if (o.redis !== undefined) {
      if (typeof (o.redis as Redis).defineCommand !== 'function') throw new InvalidOptionError(`${scope}: redis must be an ioredis client`);
      client = o.redis;
      this.owned = false;
    } else {
      client = redisClientFromUrl(this.ioredis, checkString(scope, 'url', o.url), scope, { lazyConnect: false, maxRetriesPerRequest: 2 });
      this.owned = true;
    }
    client.defineCommand('steadfastCheckpointSave', { numberOfKeys: 3, lua: SAVE_SCRIPT });
    client.defineCommand('steadfastCheckpointRemove', { numberOfKeys: 2, lua: REMOVE_SCRIPT });
    client.defineCommand('steadfastCheckpointLatest', { numberOfKeys: 2, lua: LATEST_SCRIPT });
    this.redis = client as ScriptedRedis;
  }

  /** The ioredis client (for health checks and tests). */
  get client(): Redis {
    return this.redis;
  }

  private keys(stream: string): { seq: string; idx: string; data: string } {
    const base = `${this.prefix}{${stream}}`;
    return { seq: `${base}:seq`, idx: `${base}:idx`, data: `${base}:data` };
  }

  where(stream: string, id: number): string {
    return `field ${id} of Redis hash ${this.keys(stream).data}`;
  }

  protected async writeFrame(stream: string, frame: Buffer): Promise<number> {
    const k = this.keys(stream);
    let id: number;
    try {
      id = Number(await this.redis.steadfastCheckpointSave(k.seq, k.idx, k.data, frame, this.keep));
    } catch (err) {
      // Redis answered with an error: the script did not run. Anything else (a dropped
      // connection, a timeout) may have happened after Redis applied it.
      if (err instanceof this.ioredis.ReplyError) throw err;
      throw new CheckpointOutcomeUnknownError(`checkpoint save to stream '${stream}' has an unknown outcome: ${(err as Error).message}`, err);
    }
    if (this.waitReplicas > 0) {
      let acked: number;
      try {
        acked = Number(await this.redis.wait(this.waitReplicas, this.waitTimeoutMs));
      } catch (err) {
        throw new CheckpointOutcomeUnknownError(`checkpoint ${stream}#${id} reached the primary, but WAIT failed: ${(err as Error).message}`, err);
      }
      if (acked < this.waitReplicas) {
        throw new CheckpointOutcomeUnknownError(
          `checkpoint ${stream}#${id} reached the primary but only ${acked} of ${this.waitReplicas} replicas confirmed it within ${this.waitTimeoutMs} ms (waitReplicas, waitTimeoutMs); it may be lost on failover`,
        );
      }
    }
    return id;
  }

  /** One round trip when the newest checkpoint is valid; the full newest-first scan otherwise. */
  override async latest<T = unknown>(stream: string): Promise<Checkpoint<T> | undefined> {
    this.checkOpen();
    checkStream(`${this.scope}.latest`, stream);
    const k = this.keys(stream);
    const newest = await this.redis.steadfastCheckpointLatestBuffer(k.idx, k.data);
    if (newest === null) return undefined;
    const [idBytes, frame] = newest;
    if (frame !== null) {
      const result = this.decodeCheckpoint<T>(stream, Number(idBytes.toString()), frame);
      if (!('corrupt' in result)) return result;
    }
    return super.latest<T>(stream);
  }

  protected async readFrame(stream: string, id: number): Promise<Buffer | undefined> {
    const frame = await this.redis.hgetBuffer(this.keys(stream).data, String(id));
    return frame ?? undefined;
  }

  protected async ids(stream: string): Promise<number[]> {
    const ids = await this.redis.zrange(this.keys(stream).idx, 0, -1);
    return ids.map(Number);
  }

  protected async remove(stream: string, ids: number[]): Promise<void> {
    const k = this.keys(stream);
    for (let i = 0; i < ids.length; i += 1000) {
      await this.redis.steadfastCheckpointRemove(k.idx, k.data, ...ids.slice(i, i + 1000).map(String));
    }
  }

  protected async closeBackend(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
