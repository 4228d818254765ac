import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileJournal, JournalCorruptError } from '../../src/recovery/index.js';
import { readAll } from './journal-conformance.js';

/**
 * Each row damages a journal of 3 segments × ~10 records (seq 1–30) the way a crash, a disk or
 * an operator can, then opens it: the documented result, never a crash, never silently wrong data.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'steadfast-journal-corrupt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function build(name: string): Promise<{ dir: string; segments: string[] }> {
  const dir = path.join(root, name);
  const j = await FileJournal.open({ dir, segmentBytes: 4096 });
  for (let i = 1; i <= 30; i++) await j.append({ i, pad: 'p'.repeat(380) }); // ~420 bytes a record: ~10 per segment
  await j.close();
  const segments = (await fs.readdir(dir)).sort();
  expect(segments.length).toBe(3);
  return { dir, segments };
}

const flip = async (file: string, at: (size: number) => number): Promise<void> => {
  const buf = await fs.readFile(file);
  const k = at(buf.length);
  buf[k] = buf[k]! ^ 0xff;
  await fs.writeFile(file, buf);
};

type Row = {
  name: string;
  damage: (dir: string, segments: string[]) => Promise<void>;
  /** Without repair: the seqs read back and what opened reports — or the error. */
  result: { seqs: [number, number]; tail?: RegExp; readError?: RegExp } | { error: RegExp };
  /** open()'s verify option for this row (default 'tail'). */
  verify?: 'full';
  /** With repair: true (only for rows that refuse without it). */
  repaired?: { seqs: [number, number]; lostFromSeq: number };
};

const rows: Row[] = [
  { name: 'a byte flipped in the last record: cut off and reported', damage: (d, s) => flip(path.join(d, s[2]!), (n) => n - 5), result: { seqs: [1, 29], tail: /checksum mismatch/ } },
  { name: 'a torn tail (the last write cut short): cut off and reported', damage: async (d, s) => fs.truncate(path.join(d, s[2]!), (await fs.stat(path.join(d, s[2]!))).size - 100), result: { seqs: [1, 29], tail: /cut short/ } },
  { name: 'a half-written record header at the end: cut off', damage: async (d, s) => fs.appendFile(path.join(d, s[2]!), Buffer.from([1, 2, 3, 4, 5])), result: { seqs: [1, 30], tail: /header cut short/ } },
  {
    name: 'a byte flipped in a middle record of the last segment: refused, naming segment and offset; repair cuts there',
    damage: (d, s) => flip(path.join(d, s[2]!), () => 16 + 20 + 5),
    result: { error: /journal-0000000000000021\.log is corrupt at offset 16: a checksum mismatch; the records from seq 21 on cannot be trusted/ },
    repaired: { seqs: [1, 20], lostFromSeq: 21 },
  },
  {
    name: "a byte flipped in an older segment, opened with verify: 'full': refused; repair cuts there and drops the later segments",
    verify: 'full',
    damage: (d, s) => flip(path.join(d, s[0]!), () => 16 + 20 + 5),
    result: { error: /journal-0000000000000001\.log is corrupt at offset 16/ },
    repaired: { seqs: [0, 0], lostFromSeq: 1 },
  },
  {
    name: 'a byte flipped in an older segment, opened as by default (its structure is intact): read() refuses at that record, naming file and offset',
    damage: (d, s) => flip(path.join(d, s[0]!), () => 16 + 20 + 5),
    result: { seqs: [1, 30], readError: /journal-0000000000000001\.log is corrupt at offset 16: a checksum mismatch; records from seq 1 on cannot be read/ },
  },
  {
    name: 'a record length garbled in an older segment: refused on open (its structure is broken)',
    damage: async (d, s) => {
      const f = path.join(d, s[0]!);
      const buf = await fs.readFile(f);
      buf.writeUInt32LE(7, 16 + 4); // the first record's length
      await fs.writeFile(f, buf);
    },
    result: { error: /journal-0000000000000001\.log is corrupt at offset \d+: seq \d+ where 2 was due|journal-0000000000000001\.log is corrupt/ },
    repaired: { seqs: [0, 0], lostFromSeq: 1 },
  },
  { name: 'a zero-length last segment (created, then the crash): started again', damage: (d, s) => fs.truncate(path.join(d, s[2]!), 0), result: { seqs: [1, 20], tail: /segment header cut short \(0 of 16/ } },
  {
    name: 'a zero-length segment in the middle: refused',
    damage: (d, s) => fs.truncate(path.join(d, s[1]!), 0),
    result: { error: /journal-0000000000000011\.log is corrupt at offset 0: a segment header cut short/ },
    repaired: { seqs: [1, 10], lostFromSeq: 11 },
  },
  {
    name: 'a missing middle segment: refused, naming the missing records',
    damage: (d, s) => fs.unlink(path.join(d, s[1]!)),
    result: { error: /records 11–20 are missing: no segment holds them/ },
    repaired: { seqs: [1, 10], lostFromSeq: 11 },
  },
  {
    name: 'a segment of a future format version: refused, saying to upgrade (repair does not touch it)',
    damage: async (d, s) => {
      const f = path.join(d, s[1]!);
      const buf = await fs.readFile(f);
      buf[4] = 2;
      await fs.writeFile(f, buf);
    },
    result: { error: /format version 2, newer than this steadfast reads \(1\): upgrade steadfast/ },
  },
  { name: 'a stray file in the folder: ignored', damage: (d) => fs.writeFile(path.join(d, 'notes.txt'), 'hello'), result: { seqs: [1, 30] } },
];

const range = ([a, b]: [number, number]): number[] => (a === 0 ? [] : Array.from({ length: b - a + 1 }, (_, i) => a + i));

describe('FileJournal on damaged segments', () => {
  for (const row of rows) {
    it(row.name, async () => {
      const { dir, segments } = await build(row.name.replace(/[^a-z]+/g, '-').slice(0, 60));
      await row.damage(dir, segments);
      const verify = row.verify ?? 'tail';
      if ('error' in row.result) {
        const err = await FileJournal.open({ dir, segmentBytes: 4096, verify }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(JournalCorruptError);
        expect((err as Error).message).toMatch(row.result.error);
        // Nothing was changed by the refusal: it refuses the same way again.
        await expect(FileJournal.open({ dir, segmentBytes: 4096, verify })).rejects.toThrow(row.result.error);
        if (row.repaired) {
          const j = await FileJournal.open({ dir, segmentBytes: 4096, repair: true, verify });
          expect(j.opened.repaired).toMatchObject({ lostFromSeq: row.repaired.lostFromSeq });
          expect((await readAll(j)).map((r) => r.seq)).toEqual(range(row.repaired.seqs));
          expect((await j.append({ after: 'repair' })).seq).toBe(row.repaired.lostFromSeq);
          await j.close();
          const again = await FileJournal.open({ dir, segmentBytes: 4096 });
          expect(again.opened.repaired).toBeUndefined();
          expect(again.lastSeq).toBe(row.repaired.lostFromSeq);
          await again.close();
        } else {
          await expect(FileJournal.open({ dir, segmentBytes: 4096, repair: true, verify })).rejects.toThrow(row.result.error);
        }
        return;
      }
      const j = await FileJournal.open({ dir, segmentBytes: 4096 });
      const want = range(row.result.seqs);
      if (row.result.readError) {
        await expect(readAll(j)).rejects.toThrow(row.result.readError);
        await j.close();
        return;
      }
      if (row.result.tail) expect(j.opened.truncatedTail?.reason).toMatch(row.result.tail);
      else expect(j.opened.truncatedTail).toBeUndefined();
      const back = await readAll(j);
      expect(back.map((r) => r.seq)).toEqual(want);
      expect(back.every((r) => (r.value as { i: number }).i === r.seq)).toBe(true); // right content, not just right count
      expect((await j.append({ i: want.length + 1 })).seq).toBe(want.length + 1);
      await j.close();
      const again = await FileJournal.open({ dir, segmentBytes: 4096 });
      expect(again.opened.truncatedTail).toBeUndefined(); // the cut was made durable once
      expect(again.lastSeq).toBe(want.length + 1);
      await again.close();
    });
  }
});
