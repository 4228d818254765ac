import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { LeaseCandidate } from './election.js';

/* KEYS: leader key, token counter. ARGV: candidate id, ttl ms. The lease value is "<id>|<token>". */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
`;
/* KEYS: leader key. ARGV: expected value, ttl ms. Renews only our own lease. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Scripted = Redis & {
  steadfastElectAcquire(leader: string, counter: string, id: string, ttl: number): Promise<number>;
  steadfastElectRenew(leader: string, value: string, ttl: number): Promise<number>;
  steadfastElectRelease(leader: string, value: string): Promise<number>;
};

/**
 * Leader election on Redis: the lease is a key set with NX and PX, renewed by a script that
 * checks it is still ours, and the fencing token comes from INCR — so every new leader has a
 * larger token than all before it. Use a Redis with `appendfsync always` (or WAIT) if the token
 * counter must survive a Redis crash.
 */
export class RedisElection extends LeaseCandidate {
  private readonly redis: Scripted;
  private readonly leaderKey: string;
  private readonly counterKey: string;

  constructor(name: string, candidateId: string, ttlMs: number, redis: Redis, prefix: string, clock?: Clock) {
    super(name, candidateId, ttlMs, clock);
    if (typeof (redis as Scripted).steadfastElectAcquire !== 'function') {
      redis.defineCommand('steadfastElectAcquire', { numberOfKeys: 2, lua: ACQUIRE });
      redis.defineCommand('steadfastElectRenew', { numberOfKeys: 1, lua: RENEW });
      redis.defineCommand('steadfastElectRelease', { numberOfKeys: 1, lua: RELEASE });
    }
    this.redis = redis as Scripted;
    this.leaderKey = `${prefix}{${name}}:leader`;
    this.counterKey = `${prefix}{${name}}:token`;
    this.start();
  }

  protected async tryAcquire(): Promise<number | undefined> {
    const token = Number(await this.redis.steadfastElectAcquire(this.leaderKey, this.counterKey, this.candidateId, this.ttlMs));
    return token > 0 ? token : undefined;
  }
  protected async tryRenew(token: number): Promise<boolean> {
    return Number(await this.redis.steadfastElectRenew(this.leaderKey, `${this.candidateId}|${token}`, this.ttlMs)) === 1;
  }
  protected async release(token: number): Promise<void> {
    await this.redis.steadfastElectRelease(this.leaderKey, `${this.candidateId}|${token}`);
  }
}
