import { expect, it } from 'vitest';
import type { Journal, JournalRecord } from '../../src/recovery/index.js';

/** Opens the journal `name`; opening the same name again must see what was appended before. */
export type OpenJournal = (name: string) => Promise<Journal<unknown>>;

export async function readAll<T>(j: Journal<T>, after?: number): Promise<JournalRecord<T>[]> {
  const out: JournalRecord<T>[] = [];
  for await (const r of j.read(after === undefined ? {} : { after })) out.push(r);
  return out;
}

/** What every Journal backend must do (memory, file, Redis). */
export function journalConformance(open: OpenJournal): void {
  let n = 0;
  const fresh = (): string => `j${process.pid}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

  it('numbers records 1, 2, 3… as append() is called, before it resolves', async () => {
    const j = await open(fresh());
    expect(j.lastSeq).toBe(0);
    const a = j.append({ n: 1 });
    expect(j.lastSeq).toBe(1); // taken at once: state applied before the call is covered
    const b = j.append({ n: 2 });
    expect(await Promise.all([a, b])).toEqual([{ seq: 1 }, { seq: 2 }]);
    await j.close();
  });

  it('reads records back in order with their values, after a given seq', async () => {
    const j = await open(fresh());
    const values = [{ a: 1 }, 'two', [3, 3, 3], null, { nested: { deep: true, s: 'ü ☃' } }];
    await Promise.all(values.map((v) => j.append(v)));
    expect(await readAll(j)).toEqual(values.map((value, i) => ({ seq: i + 1, value })));
    expect((await readAll(j, 3)).map((r) => r.seq)).toEqual([4, 5]);
    expect(await readAll(j, 5)).toEqual([]);
    await j.close();
  });

  it('keeps every acknowledged record and the seq across a reopen', async () => {
    const name = fresh();
    const j = await open(name);
    for (let i = 1; i <= 50; i++) await j.append({ i });
    await j.close();
    const again = await open(name);
    expect(again.lastSeq).toBe(50);
    expect((await readAll(again)).map((r) => (r.value as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await again.append({ i: 51 })).toEqual({ seq: 51 });
    await again.close();
  });

  it('truncateBefore drops old records (whole segments may stay) and never the seq', async () => {
    const name = fresh();
    const j = await open(name);
    for (let i = 1; i <= 300; i++) await j.append({ i, pad: 'x'.repeat(100) });
    await j.truncateBefore(250);
    const left = (await readAll(j)).map((r) => r.seq);
    expect(left.at(-1)).toBe(300);
    expect(left).toContain(250);
    expect(left.every((s, k) => k === 0 || s === left[k - 1]! + 1)).toBe(true); // what stays is contiguous
    await j.truncateBefore(301); // everything
    await j.close();
    const again = await open(name);
    expect(again.lastSeq).toBe(300);
    expect(await again.append({ i: 301 })).toEqual({ seq: 301 });
    expect((await readAll(again, 300)).map((r) => r.seq)).toEqual([301]);
    await again.close();
  });

  it('many concurrent appends: each resolves with its own seq, all read back once, in order', async () => {
    const j = await open(fresh());
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => j.append({ i })));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    const back = await readAll(j);
    expect(back.map((r) => (r.value as { i: number }).i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    await j.close();
  });

  it('rejects a value its codec cannot encode, and takes no seq for it', async () => {
    const j = await open(fresh());
    await expect(j.append(undefined)).rejects.toThrow(/cannot encode/);
    expect(j.lastSeq).toBe(0);
    await j.close();
  });

  it('an append after close() is refused', async () => {
    const j = await open(fresh());
    await j.close();
    await expect(j.append(1)).rejects.toThrow(/closed/);
  });

  it('rejects a bad seq for read and truncateBefore, naming it', async () => {
    const j = await open(fresh());
    await expect(readAll(j, -1)).rejects.toThrow(/seq must be an integer ≥ 0, got -1/);
    await expect(j.truncateBefore(1.5)).rejects.toThrow(/seq must be an integer ≥ 0/);
    await j.close();
  });
}
