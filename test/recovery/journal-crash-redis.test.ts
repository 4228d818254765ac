import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { RedisJournal } from '../../src/recovery/index.js';
import { describeNeeding, REDIS, startRedis, type RunningServer } from '../support/servers.js';
import { expectEveryAckRead, killAndWait, sleep, startWriter, useWriterFixture, type Value } from './journal-crash-support.js';

useWriterFixture();

/** Runs `check`, again while a restarted Redis still answers LOADING (it is reading its AOF). */
async function whenLoaded<T>(check: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await check();
    } catch (err) {
      if (!/LOADING/.test((err as Error).message) || i > 500) throw err;
      await sleep(10);
    }
  }
}

describeNeeding(REDIS, 'RedisJournal with redis-server (appendfsync always) SIGKILLed and restarted', () => {
  let redis: RunningServer;
  beforeAll(async () => {
    redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('loses no acknowledged record across 50 kills of redis-server', async () => {
    const random = seededRandom(77);
    const w = startWriter('redis', redis.url, 'crashy', 2); // each writer pauses 2 ms between appends: a bounded volume
    const client = new Redis(redis.url, { retryStrategy: () => 20, enableReadyCheck: false }).on('error', () => {});
    const reader = await RedisJournal.open<Value>({ redis: client, name: 'crashy' });
    try {
      let checked = 0;
      for (let round = 0; round < 50; round++) {
        await w.waitForAcks(w.acked.size + 1);
        await sleep(random() * 20);
        redis = await redis.restart('SIGKILL');
        // What was acknowledged since the last check (the final check reads everything).
        const fresh = new Map([...w.acked].filter(([seq]) => seq > checked));
        await whenLoaded(() => expectEveryAckRead(reader, fresh, Math.min(...fresh.keys()) - 1));
        checked = Math.max(checked, ...fresh.keys());
      }
      await w.waitForAcks(w.acked.size + 32);
      await whenLoaded(() => expectEveryAckRead(reader, new Map(w.acked)));
    } finally {
      await killAndWait(w.child);
      await reader.close();
      client.disconnect();
    }
    expect(w.acked.size).toBeGreaterThan(50);
  }, 180_000);
});
