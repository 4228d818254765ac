import { describe, expect, it } from 'vitest';
import { ManualClock, TimeoutError } from '../../src/core/index.js';
import { adaptiveLimit, AimdLimit, Gradient2Limit, LimitExceededError, WindowedLimit, type LimitAlgorithm, type LimitSample } from '../../src/policy/index.js';

describe('AimdLimit', () => {
  // Each row: samples (rtt ms, in flight, dropped) and the limit after each.
  const rows: { name: string; options?: ConstructorParameters<typeof AimdLimit>[0]; samples: [number, number, boolean][]; limits: number[] }[] = [
    { name: 'grows by one on a success while at least half the limit is in use', options: { initialLimit: 10 }, samples: [[5, 5, false], [5, 6, false], [5, 11, false]], limits: [11, 12, 13] },
    { name: 'does not grow while the caller uses less than half of it', options: { initialLimit: 10 }, samples: [[5, 4, false], [5, 1, false]], limits: [10, 10] },
    { name: 'a drop multiplies it by backoffRatio (floored)', options: { initialLimit: 10 }, samples: [[5, 10, true], [5, 9, true], [5, 8, true]], limits: [9, 8, 7] },
    { name: 'a call slower than timeoutMs counts as a drop', options: { initialLimit: 10, timeoutMs: 100 }, samples: [[150, 10, false], [99, 9, false]], limits: [9, 10] },
    { name: 'never below minLimit nor above maxLimit', options: { initialLimit: 2, minLimit: 2, maxLimit: 3 }, samples: [[5, 2, true], [5, 2, false], [5, 3, false], [5, 3, false]], limits: [2, 3, 3, 3] },
    { name: 'backoffRatio 0.5 halves it', options: { initialLimit: 16, backoffRatio: 0.5 }, samples: [[5, 16, true], [5, 8, true]], limits: [8, 4] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const a = new AimdLimit(row.options);
      expect(row.samples.map(([rttMs, inflight, dropped]) => (a.update({ rttMs, inflight, dropped }), a.limit))).toEqual(row.limits);
    });
  }
});

describe('Gradient2Limit', () => {
  const run = (g: Gradient2Limit, rttMs: number, n: number, dropped = false): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      g.update({ rttMs, inflight: Math.ceil(g.limit), dropped });
      out.push(g.limit);
    }
    return out;
  };

  it('grows while latency holds steady, by queueSize × smoothing per update (queueSize log10: 1 up to a limit of 10, then log10 of it)', () => {
    const g = new Gradient2Limit({ initialLimit: 20 });
    const limits = run(g, 10, 10);
    expect(limits[0]).toBeCloseTo(20 + Math.log10(20) * 0.2, 9);
    let expected = 20;
    for (let i = 0; i < 10; i++) expected += Math.log10(expected) * 0.2;
    expect(limits[9]).toBeCloseTo(expected, 9);
    const small = new Gradient2Limit({ initialLimit: 5 });
    expect(run(small, 10, 2)).toEqual([5.2, 5.4].map((v) => expect.closeTo(v, 9)));
    const fixed = new Gradient2Limit({ initialLimit: 20, queueSize: 4 });
    expect(run(fixed, 10, 1)[0]).toBeCloseTo(20.8, 9);
  });

  it('follows a latency step down at once, at most halving per update, and learns the new latency as its baseline', () => {
    const g = new Gradient2Limit({ initialLimit: 50, longWindow: 100, queueSize: 4 });
    run(g, 10, 100);
    const before = g.limit;
    const during = run(g, 40, 20);
    // 1.5 × 10 / 40 < 0.5, so the gradient is 0.5 and the lower estimate applies unsmoothed: 0.5 × limit + 4.
    expect(during[0]).toBeCloseTo(0.5 * before + 4, 6);
    expect(during[1]).toBeCloseTo(0.5 * during[0]! + 4, 6);
    for (let i = 1; i < 4; i++) expect(during[i]!).toBeLessThan(during[i - 1]!);
    expect(g.baselineRttMs).toBeGreaterThan(10);
    // Held at the new latency, the baseline catches up and the limit grows again.
    const later = run(g, 40, 400);
    expect(later.at(-1)!).toBeGreaterThan(during.at(-1)!);
  });

  it('a mild rise shrinks it by the ratio: 1.5 × baseline / latency', () => {
    const g = new Gradient2Limit({ initialLimit: 20, queueSize: 2 });
    run(g, 10, 10); // baseline 10 ms; grows 0.4 per update
    const at = g.limit;
    g.update({ rttMs: 20, inflight: Math.ceil(at), dropped: false });
    expect(g.limit).toBeCloseTo((at * 1.5 * g.baselineRttMs) / 20 + 2, 9); // the baseline has taken in the new sample too
    expect(g.limit).toBeCloseTo(at * 0.75 + 2, 2);
  });

  it('a drop shrinks it like a doubled latency; an idle caller changes nothing', () => {
    const g = new Gradient2Limit({ initialLimit: 20 });
    g.update({ rttMs: 10, inflight: 20, dropped: true });
    expect(g.limit).toBeCloseTo(20 * 0.5 + Math.log10(20), 9);
    const after = g.limit;
    g.update({ rttMs: 1000, inflight: 2, dropped: false }); // slow, but the caller is the bottleneck
    expect(g.limit).toBe(after);
  });

  it('stays within minLimit and maxLimit; under constant drops it settles where queueSize holds it (2 × queueSize)', () => {
    const g = new Gradient2Limit({ initialLimit: 5, minLimit: 3, maxLimit: 8 });
    expect(Math.max(...run(g, 10, 200))).toBe(8);
    const noQueue = new Gradient2Limit({ initialLimit: 20, minLimit: 3, queueSize: 0 });
    expect(Math.min(...run(noQueue, 10_000, 100, true))).toBe(3);
    const queued = new Gradient2Limit({ initialLimit: 20, minLimit: 3, queueSize: 4 });
    expect(run(queued, 10_000, 200, true).at(-1)).toBeCloseTo(8, 3); // 0.5 × L + 4 = L
    const logQueued = new Gradient2Limit({ initialLimit: 20, minLimit: 1 });
    expect(run(logQueued, 10_000, 200, true).at(-1)).toBeCloseTo(2, 3); // 0.5 × L + 1 = L
  });

  it("rejects a queueSize that is neither a count nor 'log10'", () => {
    expect(() => new Gradient2Limit({ queueSize: -1 })).toThrow(/queueSize/);
    expect(() => new Gradient2Limit({ queueSize: 'sqrt' as never })).toThrow(/queueSize must be a number of calls \(0 to 10000\) or 'log10', got "sqrt"/);
  });
});

describe('WindowedLimit', () => {
  const recorder = (): LimitAlgorithm & { seen: LimitSample[] } => ({ name: 'rec', limit: 10, seen: [], update(s) { this.seen.push(s); } });

  it('feeds one sample per window: mean latency, most in flight, any drop — once windowMs passed and windowSize calls came', () => {
    const clock = new ManualClock();
    const inner = recorder();
    const w = new WindowedLimit(inner, { windowMs: 100, windowSize: 3, clock });
    w.update({ rttMs: 10, inflight: 2, dropped: false });
    w.update({ rttMs: 20, inflight: 5, dropped: false });
    clock.advance(150);
    w.update({ rttMs: 30, inflight: 1, dropped: true }); // 3 calls and 150 ms: the window closes
    expect(inner.seen).toEqual([{ rttMs: 20, inflight: 5, dropped: true }]);
    // The next window opens with its first call: three calls within 100 ms do not close it…
    for (let i = 0; i < 3; i++) w.update({ rttMs: 40, inflight: 3, dropped: false });
    expect(inner.seen).toHaveLength(1);
    clock.advance(100);
    w.update({ rttMs: 80, inflight: 4, dropped: false }); // …the fourth, 100 ms after the first, does
    expect(inner.seen[1]).toEqual({ rttMs: 50, inflight: 4, dropped: false });
    expect(w.limit).toBe(10);
  });

  it('rejects bad window options by name', () => {
    expect(() => new WindowedLimit(recorder(), { windowMs: -1 })).toThrow(/windowMs/);
    expect(() => new WindowedLimit(recorder(), { windowSize: 0 })).toThrow(/windowSize/);
  });

  it("adaptiveLimit's Gradient2 learns per window: a latency step moves the limit once per window (20 ms and 10 calls), not per call", async () => {
    const clock = new ManualClock();
    const p = adaptiveLimit({ initialLimit: 20, clock });
    const call = (ms: number) => p.execute(() => new Promise<void>((r) => clock.setTimeout(r, ms)));
    const batch = async () => {
      const calls = Array.from({ length: 20 }, () => call(10));
      await clock.advanceAsync(10);
      await Promise.all(calls);
    };
    // 40 calls of 10 ms, 20 at a time (fully using the limit): the window opened at 10 ms, no window closed yet.
    for (let k = 0; k < 2; k++) await batch();
    expect(p.stats.limit).toBe(20);
    // The first call done at 30 ms closes the window (20 ms, ≥ 10 calls): one update, latency steady, so it grows.
    await batch();
    const once = 20 + Math.log10(20) * 0.2;
    expect(p.stats.limit).toBeCloseTo(once, 9);
    // The next window opened at 30 ms and closes at 50 ms.
    await batch();
    expect(p.stats.limit).toBeCloseTo(once, 9);
    await batch();
    expect(p.stats.limit).toBeCloseTo(once + Math.log10(once) * 0.2, 9);
  });
});

describe('adaptiveLimit (the policy)', () => {
  it('admits calls below the limit and refuses the next at once with Retry-After, on its clock', async () => {
    const clock = new ManualClock();
    const p = adaptiveLimit({ algorithm: 'aimd', initialLimit: 2, minLimit: 1, maxLimit: 2, clock });
    const gates: (() => void)[] = [];
    const hold = () => new Promise<void>((r) => gates.push(r));
    const a = p.execute(hold);
    const b = p.execute(hold);
    const refused = await p.execute(hold).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LimitExceededError);
    expect(refused).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', limit: 2, inflight: 2 });
    expect((refused as LimitExceededError).retryAfterMs).toBeGreaterThanOrEqual(1);
    expect(p.stats).toMatchObject({ inflight: 2, calls: 2, rejections: 1 });
    clock.advance(30);
    gates.forEach((g) => g());
    await Promise.all([a, b]);
    expect(p.stats.inflight).toBe(0);
    // The next refusal suggests about one call's latency.
    const c = p.execute(hold);
    const d = p.execute(hold);
    const again = (await p.execute(hold).catch((e: unknown) => e)) as LimitExceededError;
    expect(again.retryAfterMs).toBeCloseTo(30, 6);
    gates.forEach((g) => g());
    await Promise.all([c, d]);
  });

  it('counts timeouts and 503/429 answers as drops and shrinks the limit; other errors do not', async () => {
    const p = adaptiveLimit({ algorithm: 'aimd', initialLimit: 10, clock: new ManualClock() });
    await p.execute(() => Promise.reject(new TimeoutError(10))).catch(() => {});
    expect(p.stats).toMatchObject({ limit: 9, drops: 1 });
    await p.execute(() => Promise.reject(Object.assign(new Error('shed'), { status: 503 }))).catch(() => {});
    expect(p.stats.limit).toBe(8);
    await p.execute(() => Promise.reject(new Error('bug'))).catch(() => {});
    expect(p.stats).toMatchObject({ limit: 8, drops: 2 });
  });

  it('acquire() gives callers that are not a promise (a proxy) the same admission', () => {
    const p = adaptiveLimit({ algorithm: 'aimd', initialLimit: 1, maxLimit: 1, clock: new ManualClock() });
    const done = p.acquire();
    expect(() => p.acquire()).toThrow(LimitExceededError);
    done();
    done(); // twice is once
    expect(p.stats.inflight).toBe(0);
    p.acquire()();
  });

  it('rejects bad options, naming the option and the range', () => {
    expect(() => adaptiveLimit({ algorithm: 'vegas' as never })).toThrow(/adaptiveLimit: algorithm must be one of 'gradient2', 'aimd'/);
    expect(() => adaptiveLimit({ algorithm: 'aimd', backoffRatio: 2 })).toThrow(/backoffRatio must be a number .*≤ 0.99/);
    expect(() => adaptiveLimit({ minLimit: 5, maxLimit: 2 })).toThrow(/maxLimit must be an integer ≥ 5/);
    expect(() => adaptiveLimit({ smoothing: 0 })).toThrow(/smoothing must be a number > 0/);
  });
});
