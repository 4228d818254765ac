import { describe, expect, it } from 'vitest';
import { NetworkChaos } from '../../src/chaos/network-chaos.js';
import { ManualClock } from '../../src/core/clock.js';
import type { ClockSkew } from '../../src/core/skewed-clock.js';

/** The schedule, the gate and the healing, driven by a ManualClock (the skew fault needs no namespaces; the cuts are tested with real ones in netns.test.ts and the demo's end-to-end test). */
describe('NetworkChaos', () => {
  function skewOnly(o: { ready?: () => boolean } = {}) {
    const clock = new ManualClock(1_000_000);
    const set: { target: string; skew: Required<ClockSkew>; at: number }[] = [];
    const chaos = new NetworkChaos({ faults: ['skew'], targets: ['web-1', 'web-2'], schedule: { kind: 'fixed', intervalMs: 1000 }, durationMs: 300, skewMs: 5000, skewDriftPerSec: 200, onSkew: (target, skew) => void set.push({ target, skew, at: clock.now() }), seed: 4, clock, ...(o.ready ? { gate: { ready: o.ready, pollMs: 100 } } : {}) });
    return { clock, set, chaos };
  }

  it('skews a target on the schedule and sets its clock back after durationMs, recording both', async () => {
    const { clock, set, chaos } = skewOnly();
    chaos.start();
    await clock.advanceAsync(999);
    expect(set).toHaveLength(0);
    await clock.advanceAsync(1);
    expect(set).toHaveLength(1);
    expect(Math.abs(set[0]!.skew.offsetMs)).toBe(5000);
    expect(Math.abs(set[0]!.skew.driftPerSec)).toBe(200);
    expect(chaos.active?.kind).toBe('skew');
    await clock.advanceAsync(300);
    expect(set[1]).toEqual({ target: set[0]!.target, skew: { offsetMs: 0, driftPerSec: 0 }, at: 1_001_300 });
    expect(chaos.active).toBeUndefined();
    const rec = chaos.records[0]!;
    expect(rec).toMatchObject({ id: 1, at: 1_001_000, kind: 'skew', targets: [set[0]!.target], healedAt: 1_001_300 });
    expect(rec.label).toMatch(/^skew [+-]5000 ms, [+-]200 ms\/s on web-[12]$/);
    await chaos.stop();
  });

  it('is seeded: the same seed makes the same faults', async () => {
    const runs = await Promise.all([0, 1].map(async () => {
      const { clock, chaos } = skewOnly();
      chaos.start();
      for (let i = 0; i < 5; i++) await clock.advanceAsync(1000);
      await chaos.stop();
      return chaos.records.map((r) => r.label);
    }));
    expect(runs[0]).toHaveLength(5);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('waits at the gate until the system is ready, and never has two faults on at once', async () => {
    let ready = false;
    const { clock, set, chaos } = skewOnly({ ready: () => ready });
    chaos.start();
    await clock.advanceAsync(3000);
    expect(set).toHaveLength(0);
    ready = true;
    await clock.advanceAsync(100);
    expect(set).toHaveLength(1);
    // A manual inject while one is on makes nothing.
    expect(await chaos.inject('skew')).toBeUndefined();
    await chaos.stop();
    expect(set.at(-1)!.skew).toEqual({ offsetMs: 0, driftPerSec: 0 });
    expect(chaos.records[0]!.healedAt).toBeDefined();
  });

  it('records a fault that could not be applied, and heals it all the same', async () => {
    const clock = new ManualClock(0);
    const chaos = new NetworkChaos({ faults: ['skew'], targets: ['web-1'], durationMs: 100, onSkew: (_t, s) => { if (s.offsetMs !== 0) throw new Error('web-1 is paused'); }, clock });
    const rec = await chaos.inject();
    expect(rec!.error).toBe('web-1 is paused');
    await clock.advanceAsync(100);
    expect(rec!.healedAt).toBe(100);
  });

  it('says what is wrong with its options', () => {
    expect(() => new NetworkChaos({ faults: ['partition'], targets: ['a'] })).toThrow(/faults partition act on links between hosts: give hosts/);
    expect(() => new NetworkChaos({ faults: ['skew'], targets: ['a'] })).toThrow(/the skew fault needs onSkew/);
    expect(() => new NetworkChaos({ faults: ['skew'], onSkew: () => {} })).toThrow(/targets must be a non-empty list of host names \(required without hosts\)/);
    expect(() => new NetworkChaos({ faults: ['burn' as never], targets: ['a'] })).toThrow(/faults must be a non-empty list of partition, loss, flap, skew/);
    expect(() => new NetworkChaos({ faults: ['skew'], targets: ['a'], onSkew: () => {}, lossRatio: 2 })).toThrow(/lossRatio/);
    expect(() => new NetworkChaos({ faults: ['skew'], targets: ['a'], onSkew: () => {}, skewDriftPerSec: 600 })).toThrow(/skewDriftPerSec/);
  });
});
