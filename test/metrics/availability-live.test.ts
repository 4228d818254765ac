import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { AvailabilityTracker } from '../../src/metrics/availability.js';

describe('AvailabilityTracker.live(): the dashboard view, bounded', () => {
  it('gives totals, the recent buckets with nearest-rank p99, and incidents with detection and restore times', () => {
    const clock = new ManualClock(0);
    const t = new AvailabilityTracker({ clock, liveBucketMs: 1000, liveBuckets: 3 });
    for (let i = 1; i <= 100; i++) t.recordRequest(i !== 50, i, 1000 + i); // bucket 1: latencies 1..100, one failure
    t.recordRequest(true, 7, 2500); // bucket 2
    const id = t.recordFault('db-1', 'kill', 2600);
    t.recordDetection(id, 3000);
    const v = t.live(4000);
    expect(v.requests).toBe(101);
    expect(v.failed).toBe(1);
    expect(v.series).toEqual([
      { at: 1000, requests: 100, failed: 1, p99Ms: 99 },
      { at: 2000, requests: 1, failed: 0, p99Ms: 7 },
      { at: 3000, requests: 0, failed: 0, p99Ms: 0 },
    ]);
    expect(v.incidents).toEqual([{ id, target: 'db-1', kind: 'kill', at: 2600, detectedMs: 400, restoredMs: null }]);
  });

  it('keeps only the last liveBuckets buckets however long it runs', () => {
    const t = new AvailabilityTracker({ clock: new ManualClock(0), liveBucketMs: 10, liveBuckets: 5 });
    for (let at = 0; at < 100_000; at++) t.recordRequest(true, 1, at);
    expect((t as unknown as { live_: Map<number, unknown> }).live_.size).toBeLessThanOrEqual(6);
    expect(t.live(100_000).series.map((b) => b.requests)).toEqual([10, 10, 10, 10, 10]);
  });

  it('keeps at most maxRequests outcomes for the report; totals still count every request', () => {
    const t = new AvailabilityTracker({ clock: new ManualClock(0), maxRequests: 1000 });
    // 10,000 requests; the first 9,000 include every failure and the slow ones.
    for (let at = 0; at < 10_000; at++) t.recordRequest(at % 100 !== 0 || at >= 9000, at < 9000 ? 500 : 2, at);
    const r = t.report(10_000);
    expect([r.requests, r.failedRequests]).toEqual([10_000, 90]);
    expect(r.requestAvailability).toBeCloseTo(0.991, 6);
    expect(r.retained).toEqual({ requests: 1000, fromAt: 9000 });
    expect(r.latencyMs.max).toBe(2); // only the last 1000 are kept, in typed arrays that stop growing
    expect((t as unknown as { log: { at: Float64Array } }).log.at.length).toBe(1000);
    const all = new AvailabilityTracker({ clock: new ManualClock(0) });
    all.recordRequest(true, 3, 5);
    expect(all.report(10).retained).toEqual({ requests: 1, fromAt: null });
  });

  it('rejects a maxRequests that is not a positive integer, naming it', () => {
    expect(() => new AvailabilityTracker({ maxRequests: 0 })).toThrow(/AvailabilityTracker: maxRequests must be an integer ≥ 1/);
  });
});
