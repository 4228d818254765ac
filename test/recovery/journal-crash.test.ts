import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { FileJournal } from '../../src/recovery/index.js';
import { expectEveryAckRead, killAndWait, sleep, startWriter, useWriterFixture, type Value } from './journal-crash-support.js';

useWriterFixture();

describe('FileJournal under SIGKILL of the appending process', () => {
  it('keeps every acknowledged record, in order, once, through 50 kills at seeded moments (32 concurrent writers)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-journal-crash-'));
    const random = seededRandom(16);
    const acked = new Map<number, { w: number; n: number }>();
    let truncatedTails = 0;
    try {
      for (let round = 0; round < 50; round++) {
        const w = startWriter('file', dir, 'j');
        await w.waitForAcks(1);
        await sleep(random() * 30);
        await killAndWait(w.child);
        for (const [seq, v] of w.acked) {
          expect(acked.has(seq), `seq ${seq} acknowledged twice`).toBe(false);
          acked.set(seq, v);
        }
        const j = await FileJournal.open<Value>({ dir, segmentBytes: 64 * 1024 });
        if (j.opened.truncatedTail) truncatedTails++;
        const records = await expectEveryAckRead(j, acked);
        expect(records).toBeGreaterThanOrEqual(acked.size);
        await j.close();
      }
      expect(acked.size).toBeGreaterThan(50 * 32);
      expect(truncatedTails).toBeLessThanOrEqual(50); // reported when a kill tore the last write, never an error
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

