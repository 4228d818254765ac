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
});
