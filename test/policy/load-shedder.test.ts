import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { loadShedder, OverloadedError, type ProcessPressure } from '../../src/policy/index.js';
import { bundleFixture } from '../support/bundle.js';

describe('loadShedder on ManualClock (a scripted probe)', () => {
  it('measures every sampleIntervalMs and sheds by priority: low at half the thresholds, critical never', () => {
    const clock = new ManualClock();
    let now: ProcessPressure = { eventLoopDelayMs: 5, heapUsedRatio: 0.3 };
    const s = loadShedder({ clock, probe: () => now, sampleIntervalMs: 500, maxEventLoopDelayMs: 100, retryAfterMs: 2000 });
    const states: boolean[] = [];
    s.on('state', (e) => states.push(e.overloaded));
    s.start();
    const verdict = (p: 'critical' | 'normal' | 'low'): string => {
      try {
        s.check(p);
        return 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(OverloadedError);
        return 'shed';
      }
    };
    // Rows: what the probe says, then the verdict for critical, normal, low after the next sample.
    const rows: [ProcessPressure, string[]][] = [
      [{ eventLoopDelayMs: 5, heapUsedRatio: 0.3 }, ['ok', 'ok', 'ok']],
      [{ eventLoopDelayMs: 60, heapUsedRatio: 0.3 }, ['ok', 'ok', 'shed']],
      [{ eventLoopDelayMs: 150, heapUsedRatio: 0.3 }, ['ok', 'shed', 'shed']],
      [{ eventLoopDelayMs: 5, heapUsedRatio: 0.95 }, ['ok', 'shed', 'shed']],
      [{ eventLoopDelayMs: 5, heapUsedRatio: 0.5 }, ['ok', 'ok', 'shed']],
      [{ eventLoopDelayMs: 1, heapUsedRatio: 0.1 }, ['ok', 'ok', 'ok']],
    ];
    let previous = s.stats;
    for (const [pressure, want] of rows) {
      now = pressure;
      // every 500 ms; every 100 ms (overloadedSampleIntervalMs) while normal traffic is shed
      const interval = previous.overloaded ? 100 : 500;
      clock.advance(interval - 1);
      expect(s.stats.eventLoopDelayMs).toBe(previous.eventLoopDelayMs); // not measured before its interval
      clock.advance(1);
      previous = s.stats;
      expect(previous.eventLoopDelayMs).toBe(pressure.eventLoopDelayMs);
      expect({ pressure, got: (['critical', 'normal', 'low'] as const).map(verdict) }).toEqual({ pressure, got: want });
    }
    expect(states).toEqual([true, false]);
    const err = (() => {
      now = { eventLoopDelayMs: 150, heapUsedRatio: 0.3 };
      s.sample();
      try {
        s.check();
      } catch (e) {
        return e as OverloadedError;
      }
    })();
    expect(err).toMatchObject({ code: 'ERR_OVERLOADED', retryAfterMs: 2000 });
    expect(err!.message).toMatch(/event loop 150 ms late, limit 100 ms \(maxEventLoopDelayMs\)/);
    s.stop();
  });

  it('measures again after overloadedSampleIntervalMs while it sheds, so one stalled sample (a stop, a long GC) sheds for 100 ms and not 500', () => {
    const clock = new ManualClock();
    let now: ProcessPressure = { eventLoopDelayMs: 2, heapUsedRatio: 0.3 };
    const s = loadShedder({ clock, probe: () => now }).start();
    const shedAt: number[] = [];
    clock.advance(500);
    now = { eventLoopDelayMs: 1500, heapUsedRatio: 0.3 }; // the sample that covers a 1.5 s stop
    clock.advance(500);
    now = { eventLoopDelayMs: 3, heapUsedRatio: 0.3 }; // the loop is on time again
    for (let t = 0; t < 500; t += 10) {
      try {
        s.check();
      } catch {
        shedAt.push(t);
      }
      clock.advance(10);
    }
    expect(shedAt).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    // sustained pressure keeps it shedding, measured every 100 ms
    now = { eventLoopDelayMs: 300, heapUsedRatio: 0.3 };
    clock.advance(500);
    expect(s.stats.overloaded).toBe(true);
    clock.advance(1000);
    expect(s.stats.overloaded).toBe(true);
    s.stop();
    expect(loadShedder().overloadedSampleIntervalMs).toBe(100);
    expect(loadShedder({ sampleIntervalMs: 60 }).overloadedSampleIntervalMs).toBe(60);
    expect(() => loadShedder({ overloadedSampleIntervalMs: 20 })).toThrow(/overloadedSampleIntervalMs must be an integer ≥ 50/);
    expect(() => loadShedder({ overloadedSampleIntervalMs: 600 })).toThrow(/overloadedSampleIntervalMs must be an integer .*≤ 500/);
  });

  it('rejects bad options and priorities, naming them', () => {
    expect(() => loadShedder({ maxHeapUsedRatio: 2 })).toThrow(/loadShedder: maxHeapUsedRatio must be a number .*≤ 1/);
    expect(() => loadShedder({ sampleIntervalMs: 1 })).toThrow(/sampleIntervalMs must be an integer ≥ 10/);
    expect(() => loadShedder({ sampleIntervalMs: 100, resolutionMs: 200 })).toThrow(/resolutionMs must be an integer .*≤ 100/);
    expect(loadShedder().resolutionMs).toBe(50);
    expect(loadShedder({ sampleIntervalMs: 20 }).resolutionMs).toBe(20);
    expect(() => loadShedder().check('urgent' as never)).toThrow(/priority must be one of 'critical', 'normal', 'low'/);
  });
});

describe('loadShedder in a real process whose event loop is blocked', () => {
  let fixture: { file: string; cleanup: () => void };
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/busy-loop.ts'));
  });
  afterAll(() => fixture?.cleanup());

  it('sheds normal traffic (never critical) while the loop is late, and recovers once it is not', () => {
    const r = spawnSync(process.execPath, [fixture.file], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ phase: 'busy', overloaded: true }));
    expect(lines).toContainEqual({ phase: 'end-of-busy', shedNormal: true, critical: 'admitted' });
    expect(lines.at(-1)).toMatchObject({ phase: 'idle', overloaded: false });
  });
});
