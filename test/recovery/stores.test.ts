import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe } from 'vitest';
import { FileCheckpointStore, MemoryCheckpointStore, RedisCheckpointStore } from '../../src/recovery/index.js';
import { describeWithRedis } from '../support/servers.js';
import { checkpointStoreConformance } from './store-conformance.js';

describe('MemoryCheckpointStore', () => {
  checkpointStoreConformance(async (options) => {
    const store = new MemoryCheckpointStore(options);
    return { store, tamper: async (s, id, fn) => store.tamper(s, id, fn), cleanup: () => store.close() };
  });
});

describe('FileCheckpointStore', () => {
  checkpointStoreConformance(async (options) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-ckpt-'));
    const store = new FileCheckpointStore({ dir, ...options });
    return {
      store,
      tamper: async (stream, id, fn) => {
        const file = path.join(dir, stream, `${String(id).padStart(16, '0')}.ckpt`);
        await fs.writeFile(file, fn(await fs.readFile(file)));
      },
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describeWithRedis('RedisCheckpointStore on a real redis-server', (server) => {
  let n = 0;
  checkpointStoreConformance(async (options) => {
    const prefix = `test:${process.pid}:${++n}:`;
    const store = new RedisCheckpointStore({ url: server().url, prefix, ...options });
    const raw = new Redis(server().url);
    return {
      store,
      tamper: async (stream, id, fn) => {
        const key = `${prefix}{${stream}}:data`;
        const frame = await raw.hgetBuffer(key, String(id));
        await raw.hset(key, String(id), fn(frame!));
      },
      cleanup: async () => {
        await store.close();
        raw.disconnect();
      },
    };
  });
});
