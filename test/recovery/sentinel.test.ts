import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/index.js';
import { CheckpointOutcomeUnknownError, RedisCheckpointStore } from '../../src/recovery/index.js';
import { describeNeeding, findServer, freePort, REDIS, startRedis, type RunningServer } from '../support/servers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((e: unknown) => void (last = e));
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last error: ${String(last)})`);
    await sleep(100);
  }
}

interface SentinelPair {
  master: RunningServer;
  replica: RunningServer;
  sentinelPort: number;
  stop(): Promise<void>;
}

/** A master, its replica (both fsyncing every write) and one Sentinel watching them, in sync. */
async function startSentinelPair(): Promise<SentinelPair> {
  const master = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  const replica = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--replicaof', '127.0.0.1', String(master.port)]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-sentinel-'));
  const sentinelPort = await freePort();
  writeFileSync(
    path.join(dir, 'sentinel.conf'),
    [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`, 'sentinel down-after-milliseconds mymaster 1000', 'sentinel failover-timeout mymaster 3000', ''].join('\n'),
  );
  const sentinel: ChildProcess = spawn(findServer(REDIS)!, [path.join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' });
  const pair: SentinelPair = {
    master,
    replica,
    sentinelPort,
    async stop() {
      sentinel.kill('SIGKILL');
      await replica.stop();
      await master.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const r = new Redis({ port: replica.port, host: '127.0.0.1', lazyConnect: true });
    await r.connect();
    await until('replica in sync', async () => (/master_link_status:up/.test(await r.info('replication')) ? true : undefined));
    r.disconnect();
    const s = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 100 });
    await until('sentinel up and watching the replica', async () => {
      await s.connect().catch(() => {});
      const replicas = (await s.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
      return replicas.length > 0 ? true : undefined;
    });
    s.disconnect();
  } catch (err) {
    await pair.stop();
    throw err;
  }
  return pair;
}

/** Kills the master and waits until the Sentinel names the replica as master. */
async function failOver(pair: SentinelPair): Promise<void> {
  pair.master.kill('SIGKILL');
  const s = new Redis({ port: pair.sentinelPort, host: '127.0.0.1' });
  s.on('error', () => {});
  await until('failover to the replica', async () => {
    const addr = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[];
    return Number(addr[1]) === pair.replica.port ? true : undefined;
  });
  s.disconnect();
}

describeNeeding(REDIS, 'RedisCheckpointStore through Redis Sentinel, with a real failover', () => {
  let pair: SentinelPair;
  let sentinelPort: number;
  beforeAll(async () => {
    pair = await startSentinelPair();
    sentinelPort = pair.sentinelPort;
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('keeps every checkpoint acknowledged by a replica through the failover, and finds the new master', async () => {
    const url = `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster`;
    const durable = new RedisCheckpointStore({ url, prefix: 'sent:', waitReplicas: 1, waitTimeoutMs: 2000 });
    durable.client.on('error', () => {});
    const acked: number[] = [];
    for (let i = 0; i < 20; i++) acked.push((await durable.save('orders', { i })).id);

    await failOver(pair);

    // A client on the same Sentinel URL writes to the promoted replica…
    const after = new RedisCheckpointStore({ url, prefix: 'sent:' });
    after.client.on('error', () => {});
    const next = await until('a save on the new master', async () => (await after.save('orders', { after: true })).id);
    expect(next).toBeGreaterThan(Math.max(...acked)); // ids stay monotonic across the failover
    // …and every checkpoint acknowledged before the failover is there.
    const ids = (await after.list('orders')).map((c) => c.id);
    for (const id of acked) expect(ids).toContain(id);

    // With no replica left to confirm it, a save that demands one is reported as unknown, not as success.
    const err = await until('the old client reaches the new master', async () => {
      try {
        await durable.save('orders', { late: true });
        return 'saved';
      } catch (e) {
        if (e instanceof CheckpointOutcomeUnknownError && /only 0 of 1 replicas/.test((e as Error).message)) return e;
        throw e;
      }
    }, 60_000); // under a loaded CI machine the old client's reconnect backoff (up to 2 s a try) has taken longer than 30 s
    expect(err).toBeInstanceOf(CheckpointOutcomeUnknownError);
    await durable.close().catch(() => {});
    await after.close();
  }, 120_000);
});

describeNeeding(REDIS, 'RedisCheckpointStore through a slow Sentinel, with a real failover', () => {
  let pair: SentinelPair;
  let proxy: FaultProxy;
  beforeAll(async () => {
    pair = await startSentinelPair();
    proxy = await new FaultProxy({ upstream: `127.0.0.1:${pair.sentinelPort}` }).start();
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await pair?.stop();
  });

  // ioredis ends a Sentinel client for good ("Connection is closed.") when the failover
  // message arrives while it is asking a Sentinel for the master — a window of a few ms on a
  // quiet machine, which a slow Sentinel link (here 300 ms a request) holds open on every try.
  it('a client reconnecting when the failover is announced still finds the new master', async () => {
    const store = new RedisCheckpointStore({ url: `redis+sentinel://127.0.0.1:${proxy.port}/mymaster`, prefix: 'slow:' });
    store.client.on('error', () => {});
    await store.save('orders', { before: true }); // connected, and the failover detector subscribed
    proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 300 } });

    await failOver(pair);

    // (The first save was not replicated on demand, so the new master may not have it: ids can repeat.)
    const saved = await until('a save on the new master', async () => await store.save('orders', { after: true }), 60_000);
    expect(saved.id).toBeGreaterThan(0);
    expect(store.client.status).toBe('ready');
    await store.close();
  }, 120_000);
});
