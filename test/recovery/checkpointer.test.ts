import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { Checkpointer, MemoryCheckpointStore, type CheckpointInfo, type CheckpointStore } from '../../src/recovery/index.js';

/** A store whose saves can be held open, or made to fail. */
class ControlledStore extends MemoryCheckpointStore {
  hold: Promise<void> | undefined;
  failures = 0;
  saving = 0;
  maxSaving = 0;
  override async save(stream: string, data: unknown, meta?: Record<string, unknown>): Promise<CheckpointInfo> {
    this.saving++;
    this.maxSaving = Math.max(this.maxSaving, this.saving);
    try {
      if (this.hold) await this.hold;
      if (this.failures > 0) {
        this.failures--;
        throw new Error('disk full');
      }
      return await super.save(stream, data, meta);
    } finally {
      this.saving--;
    }
  }
}

describe('Checkpointer', () => {
  it('saves periodically on its clock and restores the newest into the application', async () => {
    const clock = new ManualClock();
    const store = new MemoryCheckpointStore({ clock });
    let counter = 0;
    const cp = new Checkpointer({ store, stream: 'counter', snapshot: () => ({ counter }), intervalMs: 1000, clock }).start();
    counter = 5;
    await clock.advanceAsync(1000);
    counter = 9;
    await clock.advanceAsync(1000);
    expect(cp.stats).toMatchObject({ saves: 2, failures: 0, lastId: 2 });
    await cp.stop();

    let restored: { counter: number } | undefined;
    const after = new Checkpointer<{ counter: number }>({ store, stream: 'counter', snapshot: () => ({ counter: 0 }), apply: (s) => void (restored = s) });
    const cpRestored = await after.restore();
    expect(cpRestored?.id).toBe(2);
    expect(restored).toEqual({ counter: 9 });
    expect(after.stats.restoredId).toBe(2);
  });

  it('never runs two saves of its stream at once; requests during a save share the next one', async () => {
    const store = new ControlledStore();
    let release!: () => void;
    store.hold = new Promise((r) => (release = r));
    let version = 0;
    const cp = new Checkpointer({ store, stream: 's', snapshot: () => ++version, intervalMs: 0 });
    const first = cp.checkpointNow();
    const second = cp.checkpointNow();
    const third = cp.checkpointNow();
    expect(second).toBe(third);
    release();
    store.hold = undefined;
    const [a, b, c] = await Promise.all([first, second, third]);
    expect(store.maxSaving).toBe(1);
    expect(a.id).toBe(1);
    expect(b.id).toBe(2);
    expect(c.id).toBe(2);
    expect((await store.latest('s'))?.data).toBe(2); // the later save saw the later state
  });

  it('retries a failed periodic save with backoff, without anyone waiting for it', async () => {
    const clock = new ManualClock();
    const store = new ControlledStore({ clock });
    store.failures = 2;
    const failed: (number | undefined)[] = [];
    const cp = new Checkpointer({ store, stream: 's', snapshot: () => 'state', intervalMs: 10_000, retryDelayMs: 100, clock });
    cp.on('failed', (e) => failed.push(e.retryInMs));
    cp.start();
    await clock.advanceAsync(10_000);
    expect(failed).toEqual([100]);
    await clock.advanceAsync(100);
    expect(failed).toEqual([100, 200]);
    expect(cp.stats).toMatchObject({ failures: 2, consecutiveFailures: 2, lastError: 'disk full' });
    await clock.advanceAsync(200);
    expect(cp.stats).toMatchObject({ saves: 1, consecutiveFailures: 0 });
    await cp.stop();
  });

  it('rejects checkpointNow() when its own save fails, and counts it', async () => {
    const store = new ControlledStore();
    store.failures = 1;
    const cp = new Checkpointer({ store, stream: 's', snapshot: () => 1, intervalMs: 0 });
    await expect(cp.checkpointNow()).rejects.toThrow('disk full');
    await expect(cp.checkpointNow()).resolves.toMatchObject({ id: 1 });
  });

  it('counts a snapshot that throws as a failure', async () => {
    const cp = new Checkpointer({ store: new MemoryCheckpointStore(), stream: 's', snapshot: () => {
      throw new Error('inconsistent state');
    }, intervalMs: 0 });
    await expect(cp.checkpointNow()).rejects.toThrow('inconsistent state');
    expect(cp.stats.failures).toBe(1);
  });

  it('prunes to `keep` after each save and reports figures', async () => {
    const store = new MemoryCheckpointStore();
    const cp = new Checkpointer({ store, stream: 's', snapshot: () => 'x'.repeat(100), keep: 2, intervalMs: 0 });
    for (let i = 0; i < 5; i++) await cp.checkpointNow();
    expect((await store.list('s')).map((c) => c.id)).toEqual([4, 5]);
    expect(cp.stats.lastSize).toBeGreaterThan(100);
    expect(cp.stats.lastDurationMs).toBeGreaterThanOrEqual(0);
  });

  it('restores a given recovery point by id', async () => {
    const store = new MemoryCheckpointStore();
    let value = 'a';
    const cp = new Checkpointer({ store, stream: 's', snapshot: () => value, apply: (v) => void (value = v), intervalMs: 0 });
    const point = await cp.checkpointNow();
    value = 'b';
    await cp.checkpointNow();
    await cp.restoreFrom(point.id);
    expect(value).toBe('a');
    await expect(cp.restoreFrom(99)).rejects.toThrow(/does not exist/);
  });

  it('rejects bad options, naming the option', () => {
    const store: CheckpointStore = new MemoryCheckpointStore();
    expect(() => new Checkpointer({ store, stream: 's', snapshot: () => 1, intervalMs: -1 })).toThrow('Checkpointer: intervalMs must be an integer ≥ 0 and ≤ 2147483647, got -1');
    expect(() => new Checkpointer({ store: {} as never, stream: 's', snapshot: () => 1 })).toThrow(/store must be a CheckpointStore/);
    expect(() => new Checkpointer({ store, stream: 'a b', snapshot: () => 1 })).toThrow(/stream must be 1–200 characters/);
    expect(() => new Checkpointer({ store, stream: 's', snapshot: 1 as never })).toThrow('Checkpointer: snapshot must be a function, got 1');
  });
});
