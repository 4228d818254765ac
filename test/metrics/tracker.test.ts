import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { AvailabilityTracker, HistoryChecker, latencySummary, mergedLength } from '../../src/metrics/index.js';

describe('AvailabilityTracker', () => {
  /** 10 s of one request every 100 ms; failures where `failing(t)` says so. */
  function run(tracker: AvailabilityTracker, clock: ManualClock, failing: (t: number) => boolean, untilMs = 10_000): void {
    tracker.start(0);
    for (let t = 100; t <= untilMs; t += 100) {
      clock.advance(100);
      tracker.recordRequest(!failing(t), failing(t) ? 50 : 2);
    }
  }

  it('computes per-incident detect / recover / restore times and the run figures by hand-checkable numbers', () => {
    // Two faults: at 2000 (clients fail 2100–2500) and at 6000 (fail 6100–6300).
    const c2 = new ManualClock(0);
    const t2 = new AvailabilityTracker({ clock: c2 });
    t2.start(0);
    const ia = t2.recordFault('db-1', 'kill', 2000);
    t2.recordDetection(ia, 2300);
    t2.recordRestore(ia, 4000);
    const ib = t2.recordFault('web-2', 'pause', 6000);
    t2.recordDetection(ib, 6150);
    run(t2, c2, (t) => (t >= 2100 && t <= 2500) || (t >= 6100 && t <= 6300));
    const r = t2.report(10_000);
    expect(r.requests).toBe(100);
    expect(r.failedRequests).toBe(8);
    expect(r.requestAvailability).toBeCloseTo(0.92, 10);
    expect(r.incidents.map((i) => [i.timeToDetectMs, i.timeToRecoverMs, i.timeToRestoreMs, i.failedRequests])).toEqual([
      [300, 600, 2000, 5], // recovered at 2600, the first success after the last failure at 2500
      [150, 400, null, 3], // recovered at 6400
    ]);
    expect(r.mttdMs).toBe(225);
    expect(r.mttrMs).toBe(500);
    expect(r.downtimeMs).toBe(1000);
    expect(r.mtbfMs).toBe(4500); // (10 000 − 1000) / 2
    expect(r.availability).toBeCloseTo(4500 / 5000, 10);
    expect(r.failureRatePerHour).toBeCloseTo(2 / (9000 / 3_600_000), 6);
    expect(r.maskedIncidents).toBe(0);
    expect(r.latencyMs.p50).toBeCloseTo(2, 1);
    expect(r.latencyMs.max).toBeCloseTo(50, 1);
    expect(r.slo.burnRate).toBeCloseTo(0.08 / 0.001, 6);
    // The last 5 minutes hold the whole 10 s run: same burn; every rule fires.
    expect(r.slo.windows[0]).toEqual({ windowMs: 300_000, burnRate: r.slo.burnRate });
    expect(r.slo.alerts.map((a) => a.factor)).toEqual([14.4, 6, 3, 1]);
    expect(r.timeline).toHaveLength(11);
    expect(r.timeline[2]).toMatchObject({ at: 2000, requests: 10, failed: 5 }); // 2100, 2200, …, 2500 fail within [2000, 3000)
  });

  it('counts a fault that no client noticed as masked, with zero recovery time', () => {
    const clock = new ManualClock(0);
    const t = new AvailabilityTracker({ clock });
    t.start(0);
    t.recordFault('web-1', 'kill', 1000);
    run(t, clock, () => false, 3000);
    const r = t.report(3000);
    expect(r.maskedIncidents).toBe(1);
    expect(r.incidents[0]!.timeToRecoverMs).toBe(0);
    expect(r.mttrMs).toBeNull();
    expect(r.availability).toBe(1);
    expect(r.requestAvailability).toBe(1);
  });

  it('rejects bad options and unknown incidents', () => {
    expect(() => new AvailabilityTracker({ slo: 1 })).toThrow(/slo must be a number > 0 and ≤ 0.999999999/);
    expect(() => new AvailabilityTracker().recordDetection(7)).toThrow(/no incident 7/);
  });

  it('merges overlapping outage windows', () => {
    expect(mergedLength([[0, 10], [5, 15], [20, 25]])).toBe(20);
    expect(mergedLength([])).toBe(0);
  });
});

describe('HistoryChecker (Jepsen-style set checker)', () => {
  it('finds lost, unexpected, failed-but-present and recovered writes', () => {
    const h = new HistoryChecker();
    h.invoke('a').ok();
    h.invoke('b').ok();
    h.invoke('c').fail();
    h.invoke('d').info();
    h.invoke('e').info();
    h.invoke('f'); // never completed: unknown
    const r = h.check(['a', 'c', 'd', 'zzz']);
    expect(r).toMatchObject({ attempted: 6, acknowledged: 2, failed: 1, unknown: 3, confirmed: 1, lost: ['b'], unexpected: ['zzz'], failedButPresent: ['c'], recovered: ['d'], valid: false });
  });

  it('is valid when every acknowledged write is read back', () => {
    const h = new HistoryChecker();
    for (let i = 0; i < 100; i++) (i % 10 === 0 ? h.invoke(`w${i}`).info : h.invoke(`w${i}`).ok)();
    const r = h.check(Array.from({ length: 100 }, (_, i) => `w${i}`).filter((_, i) => i % 20 !== 0));
    expect(r.valid).toBe(true);
    expect(r.lost).toEqual([]);
    expect(r.recovered).toHaveLength(5);
  });

  it('refuses a duplicate id or a second completion', () => {
    const h = new HistoryChecker();
    const op = h.invoke('x');
    op.ok();
    expect(() => op.fail()).toThrow(/completed twice/);
    expect(() => h.invoke('x')).toThrow(/invoked twice/);
  });
});

describe('Prometheus export of a report', () => {
  it('publishes the figures as gauges', async () => {
    const { Registry } = await import('prom-client');
    const { exportReport } = await import('../../src/metrics/index.js');
    const clock = new ManualClock(0);
    const t = new AvailabilityTracker({ clock });
    t.start(0);
    t.recordFault('x', 'kill', 100);
    t.recordRequest(false, 5, 150);
    t.recordRequest(true, 5, 400);
    const registry = new Registry();
    exportReport(t.report(1000), registry);
    const text = await registry.metrics();
    expect(text).toMatch(/steadfast_mttr_seconds 0\.3/);
    expect(text).toMatch(/steadfast_request_availability_ratio 0\.5/);
    expect(text).toMatch(/steadfast_incidents 1/);
  });
});

describe('latencySummary (exact, nearest rank)', () => {
  const of = (xs: number[]) => latencySummary(xs.map((latencyMs) => ({ latencyMs })));
  it.each([
    ['1 to 100 ms, shuffled', Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1), { p50: 50, p90: 90, p99: 99, p999: 100, max: 100, mean: 50.5 }],
    ['1 to 1000 ms', Array.from({ length: 1000 }, (_, i) => i + 1), { p50: 500, p90: 900, p99: 990, p999: 999, max: 1000, mean: 500.5 }],
    ['one request', [7.25], { p50: 7.25, p90: 7.25, p99: 7.25, p999: 7.25, max: 7.25, mean: 7.25 }],
    ['none', [], { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }],
    ['a slow tail', [...Array(99).fill(1), 500], { p50: 1, p90: 1, p99: 1, p999: 500, max: 500, mean: 5.99 }],
  ])('%s', (_name, xs, want) => {
    const got = of(xs as number[]);
    for (const [k, v] of Object.entries(want)) expect(got[k as keyof typeof got], k).toBeCloseTo(v, 9);
  });
});
