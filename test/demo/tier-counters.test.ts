import { describe, expect, it } from 'vitest';
import { countsBetween, TierCounters } from '../../src/demo/tier-counters.js';

const status = (admitted: number, shedByLimit: number, cpuMicros: number): Record<string, unknown> => ({ admission: { admitted, shedByLimit, shedByHealth: 0, expired: 0, limit: 20, inflight: 1 }, cpuMicros });

describe('TierCounters', () => {
  it('adds up each tier, and keeps what a process counted before it was restarted', () => {
    const c = new TierCounters();
    c.record('web-1', 'web', 100, status(10, 1, 5_000));
    c.record('web-2', 'web', 101, status(20, 0, 7_000));
    c.record('db-1', 'db', 102, status(40, 0, 9_000));
    const start = c.snapshot(3, 10_000);
    c.record('web-1', 'web', 100, status(50, 2, 25_000));
    // web-1 restarted: its new process counts from 0, even when it has already passed the old count.
    c.record('web-1', 'web', 200, status(60, 0, 30_000));
    c.record('db-1', 'db', 102, status(90, 4, 19_000));
    const end = c.snapshot(8, 12_000);
    expect(end.web).toEqual({ admitted: 50 + 60 + 20, shedByLimit: 2, shedByHealth: 0, expired: 0, cpuMicros: 25_000 + 30_000 + 7_000 });
    const { shedding, cpu } = countsBetween(start, end, 100);
    expect(shedding).toEqual({ gateway: 5, web: { admitted: 100, shedByLimit: 1, shedByHealth: 0, expired: 0 }, db: { admitted: 50, shedByLimit: 4, shedByHealth: 0, expired: 0 } });
    expect(cpu.web).toEqual({ cpuMs: 50, perRequestMs: 0.5, cores: 0.025 });
    expect(cpu.db).toEqual({ cpuMs: 10, perRequestMs: 0.1, cores: 0.005 });
    expect(cpu.supervisor.cpuMs).toBeGreaterThanOrEqual(0);
  });

  it('counts a status without admission figures as zeros, and reports no per-request figure without requests', () => {
    const c = new TierCounters();
    c.record('db-1', 'db', 1, { admission: 'n/a', cpuMicros: 'x' });
    const s = c.snapshot(0, 5);
    expect(s.db).toEqual({ admitted: 0, shedByLimit: 0, shedByHealth: 0, expired: 0, cpuMicros: 0 });
    expect(countsBetween(s, s, 0).cpu.db).toEqual({ cpuMs: 0, perRequestMs: null, cores: 0 });
  });
});
