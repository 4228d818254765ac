import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CheckpointOutcomeUnknownError, RedisCheckpointStore, redisOptionsFromUrl } from '../../src/recovery/index.js';
import { describeWithRedis, startRedis } from '../support/servers.js';

describe('redisOptionsFromUrl', () => {
  it('reads host, port, password and db from redis://', () => {
    expect(redisOptionsFromUrl('redis://:s3cret@10.0.0.5:6380/2')).toMatchObject({ sentinel: false, host: '10.0.0.5', port: 6380, password: 's3cret', db: 2 });
    expect(redisOptionsFromUrl('rediss://cache.local')).toMatchObject({ port: 6379, tls: {} });
  });

  it('reads every sentinel and the master name from redis+sentinel://, with failoverDetector on', () => {
    expect(redisOptionsFromUrl('redis+sentinel://:pw@s1:26379,s2:26380,s3/mymaster/1')).toEqual({
      sentinel: true,
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: 's3', port: 26379 },
      ],
      name: 'mymaster',
      failoverDetector: true,
      password: 'pw',
      sentinelPassword: 'pw',
      db: 1,
    });
  });

  it('says what a url must look like', () => {
    expect(() => redisOptionsFromUrl('http://x')).toThrow(/must start with redis:\/\/, rediss:\/\/ or redis\+sentinel:\/\//);
    expect(() => redisOptionsFromUrl('redis+sentinel://s1:26379')).toThrow(/needs host:port pairs and a master name/);
    expect(() => redisOptionsFromUrl('not a url')).toThrow(TypeError);
  });
});

describeWithRedis('RedisCheckpointStore specifics on a real redis-server', (server) => {
  it('applies retention inside the save itself (keep)', async () => {
    const store = new RedisCheckpointStore({ url: server().url, prefix: 'keep:', keep: 3 });
    try {
      for (let i = 1; i <= 10; i++) await store.save('s', i);
      const list = await store.list('s');
      expect(list.map((c) => c.id)).toEqual([8, 9, 10]);
      const raw = new Redis(server().url);
      expect(await raw.hlen('keep:{s}:data')).toBe(3);
      raw.disconnect();
    } finally {
      await store.close();
    }
  });

  it('works on a client you pass in, and leaves it open on close()', async () => {
    const client = new Redis(server().url);
    const store = new RedisCheckpointStore({ redis: client, prefix: 'own:' });
    await store.save('s', 'x');
    await store.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('reports a save as outcome-unknown, not success, when too few replicas confirm it', async () => {
    const store = new RedisCheckpointStore({ url: server().url, prefix: 'wait:', waitReplicas: 1, waitTimeoutMs: 100 });
    try {
      const err = await store.save('s', { important: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointOutcomeUnknownError);
      expect((err as Error).message).toMatch(/only 0 of 1 replicas confirmed it within 100 ms/);
    } finally {
      await store.close();
    }
  });

  it('acknowledges once a real replica has the checkpoint (waitReplicas: 1)', async () => {
    const replica = await startRedis(['--replicaof', '127.0.0.1', String(server().port)]);
    const store = new RedisCheckpointStore({ url: server().url, prefix: 'repl:', waitReplicas: 1, waitTimeoutMs: 5000 });
    try {
      const raw = new Redis(replica.url);
      for (let i = 0; i < 100 && !/master_link_status:up/.test(await raw.info('replication')); i++) await new Promise((r) => setTimeout(r, 50));
      const info = await store.save('s', { on: 'two machines' });
      const onReplica = await raw.hgetBuffer('repl:{s}:data', String(info.id));
      expect(onReplica).not.toBeNull();
      raw.disconnect();
    } finally {
      await store.close();
      await replica.stop();
    }
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new RedisCheckpointStore({ url: server().url, waitReplicas: -1 })).toThrow('RedisCheckpointStore: waitReplicas must be an integer ≥ 0 and ≤ 100, got -1');
    expect(() => new RedisCheckpointStore({} as never)).toThrow(/give exactly one of url or redis/);
    expect(() => new RedisCheckpointStore({ redis: {} as never })).toThrow(/redis must be an ioredis client/);
  });
});

describe('RedisCheckpointStore when Redis is gone', () => {
  it('rejects with outcome-unknown rather than pretending', async () => {
    const { freePort } = await import('../support/servers.js');
    const port = await freePort();
    const store = new RedisCheckpointStore({ url: `redis://127.0.0.1:${port}`, prefix: 'gone:' });
    store.client.on('error', () => {});
    try {
      await expect(store.save('s', 1)).rejects.toBeInstanceOf(CheckpointOutcomeUnknownError);
    } finally {
      store.client.disconnect();
    }
  });
});
