import type { Redis } from 'ioredis';
import type { Etcd3 } from 'etcd3';
import { loadPackage } from '../core/packages.js';
import type { Clock } from '../core/clock.js';
import { checkInteger, checkOneOf, checkOptions, checkString } from '../core/options.js';
import type { Election } from './election.js';
import { defaultEmbeddedLeases, EmbeddedElection, type EmbeddedLeases } from './embedded.js';
import { ConsulElection } from './consul.js';
import { EtcdElection } from './etcd.js';
import { RedisElection } from './redis.js';
import { redisClientFromUrl } from '../recovery/stores/redis.js';
import { InvalidOptionError, OptionRangeError } from '../core/errors.js';

export * from './election.js';
export * from './embedded.js';
export * from './redis.js';
export * from './etcd.js';
export * from './consul.js';
export * from './fencing.js';

export interface ElectOptions {
  backend: 'embedded' | 'redis' | 'etcd' | 'consul';
  /** The election: candidates with the same name compete. */
  name: string;
  /** This candidate, unique among them (host:pid is a good choice). */
  candidateId: string;
  /** Lease length: a leader that dies is replaced within about this long. Default 10 000. */
  ttlMs?: number;
  /** embedded: the lease table to share (default: one per process). */
  leases?: EmbeddedLeases;
  /** redis: a URL (redis:// or redis+sentinel://) or an ioredis client. consul: the agent's (or steadfast registry's) http:// URL. */
  url?: string;
  /** consul: ACL token, sent as X-Consul-Token. */
  token?: string;
  redis?: Redis;
  /** redis: key prefix. Default 'steadfast:election:' (consul: 'steadfast/election/'). */
  prefix?: string;
  /** etcd: client URLs, or an etcd3 client. */
  endpoints?: string[];
  etcd?: Etcd3;
  clock?: Clock;
}

export const ELECT_DEFAULTS = Object.freeze({ ttlMs: 10_000, prefix: 'steadfast:election:', consulPrefix: 'steadfast/election/' });

/**
 * Joins a leader election and starts campaigning. The returned Election tells whether this
 * candidate leads (`isLeader`), its `fencingToken`, and emits `elected` / `revoked`.
 */
export function elect(options: ElectOptions): Election {
  const scope = 'elect';
  if (options === undefined) throw new InvalidOptionError(`${scope}: options { backend, name, candidateId } are required`);
  const o = checkOptions<ElectOptions>(scope, options, ['backend', 'name', 'candidateId', 'ttlMs', 'leases', 'url', 'token', 'redis', 'prefix', 'endpoints', 'etcd', 'clock']);
  const backend = checkOneOf(scope, 'backend', o.backend, ['embedded', 'redis', 'etcd', 'consul']);
  const name = checkString(scope, 'name', o.name);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw new InvalidOptionError(`${scope}: name must be 1–128 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  const candidateId = checkString(scope, 'candidateId', o.candidateId);
  if (candidateId.includes('|')) throw new InvalidOptionError(`${scope}: candidateId must not contain '|'`);
  const ttlMs = checkInteger(scope, 'ttlMs', o.ttlMs ?? ELECT_DEFAULTS.ttlMs, { min: 30, max: 86_400_000 });
  switch (backend) {
    case 'embedded':
      return new EmbeddedElection(name, candidateId, ttlMs, o.leases ?? defaultEmbeddedLeases, o.clock);
    case 'redis': {
      if ((o.url === undefined) === (o.redis === undefined)) throw new InvalidOptionError(`${scope}: the redis backend needs exactly one of url or redis`);
      let client = o.redis;
      if (!client) {
        client = redisClientFromUrl(loadPackage<typeof import('ioredis')>('ioredis', "elect({ backend: 'redis' })"), o.url!, `${scope}: url`, { maxRetriesPerRequest: 1 });
        client.on('error', () => {});
      }
      return new RedisElection(name, candidateId, ttlMs, client, o.prefix ?? ELECT_DEFAULTS.prefix, o.clock);
    }
    case 'consul': {
      if (typeof o.url !== 'string' || !/^https?:\/\//.test(o.url)) throw new InvalidOptionError(`${scope}: the consul backend needs url, the agent's http:// address, got ${JSON.stringify(o.url)}`);
      return new ConsulElection(name, candidateId, ttlMs, o.url.replace(/\/+$/, ''), o.token, o.prefix ?? ELECT_DEFAULTS.consulPrefix, o.clock);
    }
    case 'etcd': {
      if ((o.endpoints === undefined) === (o.etcd === undefined)) throw new InvalidOptionError(`${scope}: the etcd backend needs exactly one of endpoints or etcd`);
      if (o.ttlMs !== undefined && o.ttlMs < 1000) throw new OptionRangeError(`${scope}: ttlMs must be at least 1000 for etcd (leases are whole seconds), got ${o.ttlMs}`);
      const client = o.etcd ?? new (loadPackage<typeof import('etcd3')>('etcd3', "elect({ backend: 'etcd' })").Etcd3)({ hosts: o.endpoints! });
      return new EtcdElection(name, candidateId, ttlMs, client, o.etcd === undefined, o.clock);
    }
  }
}
