import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { Checkpointer, MemoryCheckpointStore, RecoveryBlockFailedError, recoveryBlock } from '../../src/recovery/index.js';

const isSorted = (xs: number[]): boolean => xs.every((x, i) => i === 0 || xs[i - 1]! <= x);

describe('recoveryBlock', () => {
  it('returns the primary result when it passes the acceptance test', async () => {
    const sort = recoveryBlock({ ensure: isSorted, by: [(xs: number[]) => [...xs].sort((a, b) => a - b)] });
    await expect(sort([3, 1, 2])).resolves.toEqual([1, 2, 3]);
  });

  it('runs the next alternate when the primary throws, fails the test, or misses the deadline', async () => {
    const clock = new ManualClock();
    const calls: string[] = [];
    const block = recoveryBlock({
      ensure: (r: number) => r > 0,
      by: [
        function throws(): number {
          calls.push('throws');
          throw new Error('bug');
        },
        function wrong(): number {
          calls.push('wrong');
          return -1;
        },
        function slow(): Promise<number> {
          calls.push('slow');
          return new Promise(() => {});
        },
        async function good(): Promise<number> {
          calls.push('good');
          return 42;
        },
      ],
      deadlineMs: 50,
      clock,
    });
    const p = block();
    await clock.advanceAsync(50);
    await expect(p).resolves.toBe(42);
    expect(calls).toEqual(['throws', 'wrong', 'slow', 'good']);
  });

  it('rolls the state back to the recovery point before each alternate and after all fail', async () => {
    const account = { balance: 100, log: [] as string[] };
    const state = {
      capture: () => structuredClone(account),
      restore: (p: typeof account) => Object.assign(account, structuredClone(p)),
    };
    const seen: number[] = [];
    const transfer = recoveryBlock({
      ensure: () => account.balance >= 0,
      by: [
        (amount: number) => {
          seen.push(account.balance);
          account.balance -= amount * 2; // a bug: debits twice
          account.log.push('primary');
        },
        (amount: number) => {
          seen.push(account.balance);
          account.balance -= amount;
          account.log.push('alternate');
        },
      ],
      state,
    });
    await transfer(60);
    expect(seen).toEqual([100, 100]);
    expect(account).toEqual({ balance: 40, log: ['alternate'] });

    const err = await transfer(500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecoveryBlockFailedError);
    expect(account).toEqual({ balance: 40, log: ['alternate'] }); // rolled back: the block left no trace
  });

  it('lists every attempt and why it failed', async () => {
    const clock = new ManualClock();
    const block = recoveryBlock({
      name: 'pricing',
      ensure: (r: number) => r < 100,
      by: [
        function cached(): number {
          throw new TypeError('cache miss');
        },
        function computed(): number {
          return 500;
        },
        function remote(): Promise<number> {
          return new Promise(() => {});
        },
      ],
      deadlineMs: 10,
      clock,
    });
    const p = block().catch((e: unknown) => e);
    await clock.advanceAsync(10);
    const err = (await p) as RecoveryBlockFailedError;
    expect(err.code).toBe('ERR_RECOVERY_BLOCK_FAILED');
    expect(err.attempts.map((a) => [a.name, a.outcome])).toEqual([
      ['cached', 'threw'],
      ['computed', 'rejected'],
      ['remote', 'deadline'],
    ]);
    expect(err.message).toBe('pricing failed: cached threw TypeError: cache miss; computed failed the acceptance test; remote missed its deadline');
  });

  it('treats an acceptance test that throws as a failed test', async () => {
    const block = recoveryBlock({
      ensure: (r: { ok: boolean }) => {
        if (!r.ok) throw new Error('cannot check');
        return true;
      },
      by: [() => ({ ok: false }), () => ({ ok: true })],
    });
    await expect(block()).resolves.toEqual({ ok: true });
  });

  it('nests: an inner block that fails hands over to the outer block’s next alternate, state intact', async () => {
    const doc = { text: 'v1' };
    const state = { capture: () => doc.text, restore: (t: string) => void (doc.text = t) };
    const inner = recoveryBlock({
      name: 'inner',
      ensure: () => doc.text.length < 5,
      by: [() => void (doc.text += '-inner-a'), () => void (doc.text += '-inner-b')],
      state,
    });
    const outer = recoveryBlock({
      name: 'outer',
      ensure: () => doc.text.startsWith('v'),
      by: [inner, () => void (doc.text = 'v2')],
      state,
    });
    await outer();
    expect(doc.text).toBe('v2');
  });

  it('uses a Checkpointer as its recovery point', async () => {
    const store = new MemoryCheckpointStore();
    let cache = new Map<string, number>([['a', 1]]);
    const cp = new Checkpointer<[string, number][]>({
      store,
      stream: 'cache',
      snapshot: () => [...cache],
      apply: (entries) => void (cache = new Map(entries)),
      intervalMs: 0,
    });
    const update = recoveryBlock({
      ensure: () => [...cache.values()].every((v) => v >= 0),
      by: [
        () => void cache.set('a', -5).set('b', 2),
        () => void cache.set('b', 2),
      ],
      state: cp,
    });
    await update();
    expect([...cache]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => recoveryBlock({ ensure: () => true, by: [] as never })).toThrow('recoveryBlock: by must be a non-empty array [primary, ...alternates]');
    expect(() => recoveryBlock({ ensure: () => true, by: [() => 1, 2 as never] })).toThrow('recoveryBlock: by[1] must be a function, got 2');
    expect(() => recoveryBlock({ ensure: () => true, by: [() => 1], deadlineMs: 0 })).toThrow(/deadlineMs must be a number > 0/);
    expect(() => recoveryBlock({ ensure: () => true, by: [() => 1], state: {} as never })).toThrow(/state must have capture\(\) and restore\(point\)/);
  });
});
