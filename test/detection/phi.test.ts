import { describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../src/core/index.js';
import { detectorPresets, expectedDetectionMs, PhiAccrualDetector, phi, timeToPhi } from '../../src/detection/index.js';

/** Normal tail P(Z > y) by numerical integration, to check the logistic approximation. */
function normalTail(y: number): number {
  let sum = 0;
  const step = 0.0005;
  for (let x = y; x < y + 12; x += step) sum += Math.exp(-((x + step / 2) ** 2) / 2) * step;
  return sum / Math.sqrt(2 * Math.PI);
}

describe('phi (pure)', () => {
  it.each([
    // elapsed, mean, sd, φ — from the formula by hand
    [100, 100, 10, 0.30103],
    [90, 100, 10, 0.07503],
    [110, 100, 10, 0.79955],
    [120, 100, 10, 1.6429],
    [130, 100, 10, 2.9098],
    [1000, 1000, 250, 0.30103],
    [1250, 1000, 250, 0.79955],
  ])('phi(%d ms, mean %d, sd %d) = %f', (elapsed, mean, sd, expected) => {
    expect(phi(elapsed, mean, sd)).toBeCloseTo(expected, 3);
  });

  it('stays within 0.1 of −log10 of the exact normal tail up to 3 σ (the logistic approximation Akka uses)', () => {
    for (let y = 0; y <= 3; y += 0.25) expect(Math.abs(phi(100 + 10 * y, 100, 10) - -Math.log10(normalTail(y)))).toBeLessThan(0.1);
  });

  it('grows without bound as the silence grows', () => {
    let prev = -1;
    for (let t = 0; t <= 400; t += 10) {
      const p = phi(t, 100, 10);
      expect(p).toBeGreaterThanOrEqual(prev);
      prev = p;
    }
    expect(phi(10_000, 100, 10)).toBe(Infinity);
  });

  it('timeToPhi inverts phi', () => {
    for (const threshold of [1, 3, 8, 12]) {
      const t = timeToPhi(threshold, 500, 50);
      expect(phi(t, 500, 50)).toBeGreaterThanOrEqual(threshold - 1e-6);
      expect(phi(t - 0.01, 500, 50)).toBeLessThan(threshold);
    }
  });
});

describe('PhiAccrualDetector', () => {
  function steady(d: PhiAccrualDetector, clock: ManualClock, beats: number, everyMs: number): void {
    for (let i = 0; i < beats; i++) {
      clock.advance(everyMs);
      d.heartbeat();
    }
  }

  it('says nothing before the first heartbeat', () => {
    const d = new PhiAccrualDetector({ clock: new ManualClock() });
    expect(d.phi()).toBe(0);
    expect(d.isAvailable()).toBe(true);
    expect(d.suspectAt()).toBeUndefined();
  });

  it('learns the interval and suspects a silent node when φ reaches the threshold', () => {
    const clock = new ManualClock();
    const d = new PhiAccrualDetector({ ...detectorPresets.fast, clock });
    steady(d, clock, 50, 100);
    expect(d.mean).toBeCloseTo(100, 0);
    expect(d.isAvailable()).toBe(true);
    const at = d.suspectAt()!;
    clock.advance(at - clock.now() - 1);
    expect(d.isAvailable()).toBe(true);
    clock.advance(1);
    expect(d.isAvailable()).toBe(false);
    expect(d.phi()).toBeGreaterThanOrEqual(8);
  });

  it('rides out a pause shorter than acceptableHeartbeatPauseMs', () => {
    const clock = new ManualClock();
    const d = new PhiAccrualDetector({ ...detectorPresets.fast, clock });
    steady(d, clock, 50, 100);
    clock.advance(100 + 350); // a 350 ms GC pause
    expect(d.isAvailable()).toBe(true);
  });

  it('does not learn from the interval that spanned an outage', () => {
    const clock = new ManualClock();
    const d = new PhiAccrualDetector({ ...detectorPresets.fast, clock });
    steady(d, clock, 50, 100);
    clock.advance(30_000);
    expect(d.isAvailable()).toBe(false);
    d.heartbeat();
    expect(d.mean).toBeCloseTo(100, 0);
  });

  it('remembers only maxSampleSize intervals', () => {
    const clock = new ManualClock();
    const d = new PhiAccrualDetector({ maxSampleSize: 10, acceptableHeartbeatPauseMs: 1000, minStdDeviationMs: 100, clock });
    steady(d, clock, 20, 100);
    steady(d, clock, 10, 300);
    expect(d.mean).toBeCloseTo(300, 5);
  });

  it('has zero false positives on a 10-minute trace with jitter and GC pauses, and detects a crash in under 1 s (fast preset)', () => {
    const clock = new ManualClock();
    const random = seededRandom(42);
    const gauss = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const d = new PhiAccrualDetector({ ...detectorPresets.fast, clock });
    d.heartbeat();
    let falsePositives = 0;
    let pauses = 0;
    for (let t = 0; t < 600_000; ) {
      let gap = 100 + 10 * gauss();
      if (random() < 1 / 300) {
        gap += 100 + random() * 250; // a GC-like pause of 100–350 ms, about every 30 s
        pauses++;
      }
      gap = Math.max(1, gap);
      // check φ along the way, as a monitor would
      for (let s = 10; s < gap; s += 10) {
        clock.advance(10);
        if (!d.isAvailable()) falsePositives++;
      }
      clock.advance(gap - Math.floor((gap - 1) / 10) * 10);
      if (!d.isAvailable()) falsePositives++;
      d.heartbeat();
      t += gap;
    }
    expect(pauses).toBeGreaterThan(5);
    expect(falsePositives).toBe(0);
    const crashedAt = clock.now();
    const detectedIn = d.suspectAt()! - crashedAt;
    expect(detectedIn).toBeLessThan(1000);
  });

  it('documents the expected detection time of each preset', () => {
    expect(expectedDetectionMs(detectorPresets.fast)).toBeLessThan(1000);
    expect(expectedDetectionMs(detectorPresets.lan)).toBeGreaterThan(4000);
    expect(expectedDetectionMs(detectorPresets.wan)).toBeGreaterThan(expectedDetectionMs(detectorPresets.lan));
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new PhiAccrualDetector({ threshold: 0 })).toThrow('PhiAccrualDetector: threshold must be a number > 0 and ≤ 100, got 0');
    expect(() => new PhiAccrualDetector({ maxSampleSize: 1 })).toThrow(/maxSampleSize must be an integer ≥ 2/);
    expect(() => new PhiAccrualDetector({ minStdDeviationMs: 0 })).toThrow(/minStdDeviationMs must be a number > 0/);
  });
});
