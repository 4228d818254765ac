import { describe, expect, it } from 'vitest';
import { findCapacity } from '../../src/demo/capacity.js';
import type { DemoResult } from '../../src/demo/views.js';

/** A run's result with what findCapacity reads: p99, availability, goodput, lost writes, CPU. */
function result(rate: number, p99: number, availability: number, lost = 0): DemoResult {
  const use = { cpuMs: 1, perRequestMs: 0.5, cores: 0.1 };
  return {
    report: { requests: rate * 10, requestAvailability: availability, latencyMs: { p99 } },
    lostWrites: lost,
    history: { lost: Array.from({ length: lost }, (_, i) => `w${i}`) },
    load: { goodputPerSec: rate * availability, sendLagMs: { p50: 0, p99: 1, max: 2 } },
    cpu: { requests: rate * 10, measuredMs: 10_000, db: use, web: use, gateway: use, registry: null, supervisor: use, client: use },
  } as unknown as DemoResult;
}

describe('findCapacity', () => {
  it('tries rates in order and stops at the first that misses a bound: the one before is the capacity', async () => {
    const tried: number[] = [];
    const p99 = new Map([[100, 5], [200, 12], [400, 80], [800, 900]]);
    const r = await findCapacity(async (rate) => (tried.push(rate), result(rate, p99.get(rate)!, 1)), [100, 200, 400, 800]);
    expect(tried).toEqual([100, 200, 400]);
    expect(r.capacity).toBe(200);
    expect(r.atHighestRate).toBe(false);
    expect(r.steps.map((s) => s.holds)).toEqual([true, true, false]);
    expect(r.steps[0]!.cpuPerRequestMs).toEqual({ db: 0.5, web: 0.5, gateway: 0.5, supervisor: 0.5, client: 0.5 });
  });

  it('answered below 99.99 % misses too, even with a low p99; every rate held: the capacity is a lower bound', async () => {
    const low = await findCapacity(async (rate) => result(rate, 5, rate >= 200 ? 0.9998 : 1), [100, 200]);
    expect(low.capacity).toBe(100);
    const all = await findCapacity(async (rate) => result(rate, 5, 1), [100, 200]);
    expect(all).toMatchObject({ capacity: 200, atHighestRate: true });
    const none = await findCapacity(async (rate) => result(rate, 60, 1), [100, 200]);
    expect(none).toMatchObject({ capacity: null, atHighestRate: false });
  });

  it('a lost acknowledged write is a defect, not a capacity: the search fails naming the writes', async () => {
    await expect(findCapacity(async (rate) => result(rate, 5, 1, rate === 200 ? 2 : 0), [100, 200, 400])).rejects.toThrow(/2 acknowledged writes were lost at 200 req\/s \(w0, w1\)/);
  });

  it('refuses rates that are not positive or not increasing, naming them', async () => {
    const run = async (rate: number) => result(rate, 5, 1);
    await expect(findCapacity(run, [])).rejects.toThrow(/at least one rate/);
    await expect(findCapacity(run, [100, 0])).rejects.toThrow(/rates\[1\] must be a positive number/);
    await expect(findCapacity(run, [200, 100])).rejects.toThrow(/must increase, got 200 then 100/);
  });
});
