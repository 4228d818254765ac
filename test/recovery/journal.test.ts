import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { FileJournal, MemoryJournal, RedisJournal, type MemoryJournalBacking } from '../../src/recovery/index.js';
import { describeWithRedis } from '../support/servers.js';
import { journalConformance, readAll } from './journal-conformance.js';

describe('MemoryJournal', () => {
  const backings = new Map<string, MemoryJournalBacking>();
  journalConformance(async (name) => {
    const j = new MemoryJournal(backings.has(name) ? { backing: backings.get(name)! } : {});
    backings.set(name, j.backing);
    return j;
  });
});

describe('FileJournal', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'steadfast-journal-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // Small segments, so truncation and reopen cross segment boundaries.
  journalConformance((name) => FileJournal.open({ dir: path.join(root, name), segmentBytes: 4096 }));

  it('shares one write and one fdatasync among appends that arrive while a sync is in flight', async () => {
    const j = await FileJournal.open({ dir: path.join(root, 'group') });
    await Promise.all(Array.from({ length: 256 }, (_, i) => j.append({ i })));
    const s = j.stats;
    expect(s.appends).toBe(256);
    expect(s.syncs).toBe(s.flushes);
    expect(s.flushes).toBeLessThanOrEqual(3); // the first alone, then the rest together (bounded by maxBatchBytes)
    await j.close();
  });

  it('bounds a batch by maxBatchBytes', async () => {
    const j = await FileJournal.open({ dir: path.join(root, 'batch'), maxBatchBytes: 1000 });
    await Promise.all(Array.from({ length: 100 }, () => j.append('x'.repeat(80)))); // ~103 bytes a frame
    expect(j.stats.flushes).toBeGreaterThanOrEqual(10);
    await j.close();
  });

  it('rolls segments at segmentBytes and reads across them', async () => {
    const dir = path.join(root, 'roll');
    const j = await FileJournal.open({ dir, segmentBytes: 4096 });
    for (let i = 0; i < 200; i++) await j.append({ i, pad: 'y'.repeat(60) });
    expect(j.stats.segments).toBeGreaterThan(3);
    expect((await readAll(j)).length).toBe(200);
    await j.close();
    const again = await FileJournal.open({ dir });
    expect(again.opened).toMatchObject({ records: 200, lastSeq: 200, truncatedTail: undefined, repaired: undefined });
    await again.close();
  });

  it('sync { everyMs } and none acknowledge after the write; a reopen still reads them (no process crash loses them)', async () => {
    for (const sync of [{ everyMs: 5 }, 'none'] as const) {
      const dir = path.join(root, `sync-${typeof sync === 'string' ? sync : 'every'}`);
      const j = await FileJournal.open({ dir, sync });
      await Promise.all(Array.from({ length: 20 }, (_, i) => j.append(i)));
      if (sync === 'none') expect(j.stats.syncs).toBe(0);
      await j.close();
      const again = await FileJournal.open({ dir });
      expect(again.lastSeq).toBe(20);
      await again.close();
    }
  });

  it('rejects bad options, naming the option and the accepted range', async () => {
    await expect(FileJournal.open({ dir: path.join(root, 'bad'), sync: 'sometimes' as never })).rejects.toThrow(/FileJournal: sync must be 'always', 'none' or \{ everyMs \}/);
    await expect(FileJournal.open({ dir: path.join(root, 'bad'), segmentBytes: 10 })).rejects.toThrow(/FileJournal: segmentBytes must be an integer ≥ 4096/);
    await expect(FileJournal.open({ dir: path.join(root, 'bad'), extra: 1 } as never)).rejects.toThrow(/FileJournal: unknown option 'extra'/);
    const j = await FileJournal.open({ dir: path.join(root, 'big'), maxRecordBytes: 100 });
    await expect(j.append('z'.repeat(200))).rejects.toThrow(/over maxRecordBytes \(100\)/);
    expect(j.lastSeq).toBe(0);
    await j.close();
  });
});

describeWithRedis('RedisJournal on a real redis-server', (server) => {
  journalConformance((name) => RedisJournal.open({ url: server().url, name, prefix: 'test:journal:' }));

  it('refuses a second writer instead of interleaving ids', async () => {
    const a = await RedisJournal.open({ url: server().url, name: 'two-writers' });
    const b = await RedisJournal.open({ url: server().url, name: 'two-writers' });
    await a.append(1);
    await expect(b.append(2)).rejects.toThrow(/another writer appends to this journal/);
    await a.close();
    await b.close();
  });

  it('with waitReplicas and no replica, an append is reported as of unknown outcome, not acknowledged', async () => {
    const j = await RedisJournal.open({ url: server().url, name: 'wait', waitReplicas: 1, waitTimeoutMs: 50 });
    await expect(j.append({ x: 1 })).rejects.toMatchObject({ code: 'ERR_JOURNAL_OUTCOME_UNKNOWN' });
    await j.close();
  });

  it('a record whose bytes were changed fails its checksum on read, naming the entry', async () => {
    const raw = new Redis(server().url);
    await raw.xadd('test:journal:{tampered}', '1-0', 'r', Buffer.from([1, 2, 3, 4, 1, 0x7b, 0x7d]));
    raw.disconnect();
    const j = await RedisJournal.open({ url: server().url, name: 'tampered', prefix: 'test:journal:' });
    await expect(readAll(j)).rejects.toThrow(/RedisJournal: entry 1-0 of Redis stream test:journal:\{tampered\} fails its checksum/);
    await j.close();
  });

  it('rejects bad options, naming the option', async () => {
    await expect(RedisJournal.open({ url: server().url, name: 'has space' })).rejects.toThrow(/RedisJournal: name must be 1–200 letters/);
    await expect(RedisJournal.open({ url: 'http://x', name: 'n' })).rejects.toThrow(/RedisJournal: url must start with redis:\/\//);
  });
});
