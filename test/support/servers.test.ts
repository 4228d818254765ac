import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { describeWithEtcd, describeWithRedis } from './servers.js';

describeWithRedis('test harness: a real redis-server', (server) => {
  it('answers a write and a read through ioredis on its loopback port', async () => {
    const s = server();
    expect(s.host).toBe('127.0.0.1');
    const redis = new Redis(s.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await redis.set('steadfast:harness', 'round trip');
      expect(await redis.get('steadfast:harness')).toBe('round trip');
      const info = await redis.info('server');
      expect(info).toMatch(new RegExp(`tcp_port:${s.port}`));
    } finally {
      redis.disconnect();
    }
  });
});

describeWithEtcd('test harness: a real etcd', (server) => {
  it('answers a put and a get through the etcd3 client', async () => {
    const s = server();
    const etcd = new Etcd3({ hosts: s.url });
    try {
      await etcd.put('steadfast/harness').value('round trip');
      expect(await etcd.get('steadfast/harness').string()).toBe('round trip');
      const status = await etcd.maintenance.status();
      expect(Number(status.header.revision)).toBeGreaterThan(0);
    } finally {
      etcd.close();
    }
  });
});
