import { describe, expect, it } from 'vitest';
import { countsBetween, TierCounters, zeroCounts } from '../../src/demo/tier-counters.js';

const status = (admitted: number, shedByLimit: number, cpuMicros: number): Record<string, unknown> => ({ admission: { admitted, shedByLimit, shedByHealth: 0, expired: 0, limit: 20, inflight: 1 }, cpuMicros });

describe('TierCounters', () => {
  it('adds up each tier, and keeps what a process counted before it was restarted', () => {
    const c = new TierCounters();
    c.record('web-1', 'web', 100, status(10, 1, 5_000));
    c.record('web-2', 'web', 101, status(20, 0, 7_000));
    c.record('db-1', 'db', 102, status(40, 0, 9_000));
    c.record('gateway-1', 'gateway', 103, { route: { requests: 100, attempts: 110, retries: 10, shed: 3 }, cpuMicros: 4_000 });
    const start = c.snapshot(10_000);
    c.record('web-1', 'web', 100, status(50, 2, 25_000));
    // web-1 restarted: its new process counts from 0, even when it has already passed the old count.
    c.record('web-1', 'web', 200, status(60, 0, 30_000));
    c.record('db-1', 'db', 102, status(90, 4, 19_000));
    // gateway-1 was killed and restarted: what the old process counted is kept.
    c.record('gateway-1', 'gateway', 300, { route: { requests: 40, attempts: 41, retries: 1, shed: 5 }, cpuMicros: 2_000 });
    const end = c.snapshot(12_000);
    expect(end.web).toEqual({ ...zeroCounts(), admitted: 50 + 60 + 20, shedByLimit: 2, cpuMicros: 25_000 + 30_000 + 7_000 });
    expect(end.gateway).toEqual({ ...zeroCounts(), requests: 140, attempts: 151, retries: 11, shed: 8, cpuMicros: 6_000 });
    const { shedding, cpu } = countsBetween(start, end, 100);
    expect(shedding).toEqual({ gateway: 5, web: { admitted: 100, shedByLimit: 1, shedByHealth: 0, expired: 0 }, db: { admitted: 50, shedByLimit: 4, shedByHealth: 0, expired: 0 } });
    expect(cpu.web).toEqual({ cpuMs: 50, perRequestMs: 0.5, cores: 0.025 });
    expect(cpu.db).toEqual({ cpuMs: 10, perRequestMs: 0.1, cores: 0.005 });
    expect(cpu.gateway).toEqual({ cpuMs: 2, perRequestMs: 0.02, cores: 0.001 });
    expect(cpu.supervisor.cpuMs).toBeGreaterThanOrEqual(0);
  });

  it('counts a status without admission figures as zeros, and reports no per-request figure without requests', () => {
    const c = new TierCounters();
    c.record('db-1', 'db', 1, { admission: 'n/a', cpuMicros: 'x' });
    const s = c.snapshot(5);
    expect(s.db).toEqual(zeroCounts());
    expect(Object.values(s.db).every((v) => v === 0)).toBe(true);
    expect(countsBetween(s, s, 0).cpu.db).toEqual({ cpuMs: 0, perRequestMs: null, cores: 0 });
  });
});
