import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { Checkpointer, MemoryCheckpointStore, MemoryJournal, type CheckpointStore, type Journal, type MemoryJournalBacking } from '../../src/recovery/index.js';

type Entry = { k: string; add: number };
type State = Record<string, number>;

/** Counts every durable step (journal append, checkpoint save, prune, journal truncate); from `killAt` on each one fails: the process is dead. */
class Kill {
  ops = 0;
  constructor(readonly killAt = Infinity) {}
  step(): void {
    if (this.ops >= this.killAt) throw new Error('killed');
    this.ops++;
  }
}

function killable(base: MemoryCheckpointStore, backing: MemoryJournalBacking, kill: Kill, durable: Entry[]): { store: CheckpointStore; journal: Journal<Entry> } {
  const store = new Proxy(base, {
    get(target, p) {
      const v = Reflect.get(target, p) as unknown;
      if (p === 'save' || p === 'prune') return async (...args: unknown[]) => (kill.step(), (v as (...a: unknown[]) => unknown).apply(target, args));
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const inner = new MemoryJournal<Entry>({ backing });
  const journal: Journal<Entry> = {
    get lastSeq() {
      return inner.lastSeq;
    },
    append: (e) => {
      try {
        kill.step();
      } catch (err) {
        return Promise.reject(err);
      }
      durable.push(e);
      return inner.append(e);
    },
    read: (o) => inner.read(o),
    truncateBefore: async (seq) => (kill.step(), inner.truncateBefore(seq)),
    close: () => inner.close(),
  };
  return { store, journal };
}

const fold = (entries: Entry[]): State => {
  const s: State = {};
  for (const e of entries) s[e.k] = (s[e.k] ?? 0) + e.add;
  return s;
};

/** The workload: 24 additive entries (replaying one twice or skipping one changes the sum), the clock moving 500 ms every third. */
async function runUntilKilled(kill: Kill, base: MemoryCheckpointStore, backing: MemoryJournalBacking, clock: ManualClock): Promise<{ durable: Entry[]; acked: Entry[] }> {
  const durable: Entry[] = [];
  const acked: Entry[] = [];
  const { store, journal } = killable(base, backing, kill, durable);
  let state: State = {};
  const cp = new Checkpointer<State, Entry>({
    store,
    stream: 's',
    journal,
    snapshot: () => ({ ...state }),
    apply: (s) => void (state = { ...s }),
    replay: (e) => void (state[e.k] = (state[e.k] ?? 0) + e.add),
    intervalMs: 1000,
    everyRecords: 4,
    keep: 2,
    clock,
  });
  cp.on('failed', () => {}); // a killed checkpoint is expected here
  cp.start();
  try {
    for (let i = 1; i <= 24; i++) {
      const e = { k: `k${i % 5}`, add: i };
      await cp.record(e);
      acked.push(e);
      if (i % 3 === 0) await clock.advanceAsync(500);
    }
    await cp.checkpointNow();
  } catch (err) {
    if ((err as Error).message !== 'killed') throw err;
  }
  await cp.stop();
  return { durable, acked };
}

describe('Checkpointer with a journal', () => {
  it('restore = newest checkpoint + replay of what came after; the journal is truncated behind the oldest checkpoint kept', async () => {
    const clock = new ManualClock();
    const base = new MemoryCheckpointStore({ clock });
    const backing: MemoryJournalBacking = { records: [], lastSeq: 0 };
    const { durable } = await runUntilKilled(new Kill(), base, backing, clock);
    expect(durable).toHaveLength(24);
    const kept = await base.list('s');
    expect(kept.length).toBe(2);
    const positions = kept.map((c) => (c.valid ? (c.meta?.journalSeq as number) : -1));
    expect(positions.at(-1)).toBe(24);
    // Records the oldest kept checkpoint needs are still there; older ones are gone.
    const firstKept = backing.records[0]?.seq ?? backing.lastSeq + 1;
    expect(firstKept).toBeLessThanOrEqual(positions[0]! + 1);
    expect(firstKept).toBeGreaterThan(1);
    let state: State = {};
    const cp = new Checkpointer<State, Entry>({ store: base, stream: 's', journal: new MemoryJournal({ backing }), snapshot: () => state, apply: (s) => void (state = { ...s }), replay: (e) => void (state[e.k] = (state[e.k] ?? 0) + e.add), intervalMs: 0 });
    await cp.restore();
    expect(state).toEqual(fold(durable));
  });

  it('a kill between any two durable steps (append, checkpoint, prune, truncate) restores exactly the durable entries — none lost, none twice', async () => {
    const count = new Kill();
    await runUntilKilled(count, new MemoryCheckpointStore({ clock: new ManualClock() }), { records: [], lastSeq: 0 }, new ManualClock());
    const total = count.ops;
    expect(total).toBeGreaterThan(24 + 6 * 3); // 24 appends and at least six checkpoints with their prune and truncate
    for (let killAt = 0; killAt <= total; killAt++) {
      const clock = new ManualClock();
      const base = new MemoryCheckpointStore({ clock });
      const backing: MemoryJournalBacking = { records: [], lastSeq: 0 };
      const { durable, acked } = await runUntilKilled(new Kill(killAt), base, backing, clock);
      expect(durable.slice(0, acked.length)).toEqual(acked); // every acknowledged entry is durable
      // The restart: a new process, the same store and journal.
      let state: State = {};
      const cp = new Checkpointer<State, Entry>({ store: base, stream: 's', journal: new MemoryJournal({ backing }), snapshot: () => state, apply: (s) => void (state = { ...s }), replay: (e) => void (state[e.k] = (state[e.k] ?? 0) + e.add), intervalMs: 0 });
      await cp.restore();
      expect({ killAt, state }).toEqual({ killAt, state: fold(durable) });
      // The newest checkpoint lost too (a bad disk): the older kept one plus the journal still give the same state.
      const valid = (await base.list('s')).filter((c) => c.valid);
      if (valid.length >= 2) {
        base.tamper('s', valid.at(-1)!.id, (f) => (f[f.length - 1] = f[f.length - 1]! ^ 1, f));
        state = {};
        const older = new Checkpointer<State, Entry>({ store: base, stream: 's', journal: new MemoryJournal({ backing }), snapshot: () => state, apply: (s) => void (state = { ...s }), replay: (e) => void (state[e.k] = (state[e.k] ?? 0) + e.add), intervalMs: 0 });
        base.on('corrupt', () => {});
        await older.restore();
        expect({ killAt, older: true, state }).toEqual({ killAt, older: true, state: fold(durable) });
      }
    }
  });

  it('refuses to restore when the journal lost records a checkpoint does not cover, instead of silently dropping them', async () => {
    const backing: MemoryJournalBacking = { records: [], lastSeq: 0 };
    const j = new MemoryJournal<Entry>({ backing });
    for (let i = 1; i <= 5; i++) await j.append({ k: 'a', add: i });
    await j.truncateBefore(3);
    const cp = new Checkpointer<State, Entry>({ store: new MemoryCheckpointStore(), stream: 's', journal: j, snapshot: () => ({}), replay: () => {}, intervalMs: 0 });
    await expect(cp.restore()).rejects.toThrow(/there is no checkpoint, but the journal's next record is 3: records 1–2 are gone/);
  });

  it('rejects a journal without replay, and everyRecords without a journal, naming them', () => {
    const store = new MemoryCheckpointStore();
    expect(() => new Checkpointer({ store, stream: 's', snapshot: () => 1, journal: new MemoryJournal() })).toThrow(/Checkpointer: a journal needs replay\(entry\)/);
    expect(() => new Checkpointer({ store, stream: 's', snapshot: () => 1, everyRecords: 5 })).toThrow(/Checkpointer: everyRecords counts journal records: give a journal too/);
    expect(() => new Checkpointer({ store, stream: 's', snapshot: () => 1, journal: {} as never, replay: () => {} })).toThrow(/journal must be a Journal/);
  });
});
