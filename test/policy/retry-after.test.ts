import { describe, expect, it } from 'vitest';
import { ManualClock, parseRetryAfter, retryAfterOf } from '../../src/core/index.js';
import { constantBackoff, LimitExceededError, retry } from '../../src/policy/index.js';

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('2026-12-02T10:00:00Z');
  const rows: [unknown, number | undefined][] = [
    ['120', 120_000],
    ['0', 0],
    [' 3 ', 3000],
    [['7', '9'], 7000],
    ['Wed, 02 Dec 2026 10:00:30 GMT', 30_000],
    ['Wed, 02 Dec 2026 09:00:00 GMT', 0], // a date in the past: now
    ['-5', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    [undefined, undefined],
  ];
  for (const [value, ms] of rows) it(`${JSON.stringify(value)} → ${ms}`, () => expect(parseRetryAfter(value, now)).toBe(ms));

  it('retryAfterOf reads an error’s retryAfterMs or an answer’s Retry-After header', () => {
    expect(retryAfterOf(new LimitExceededError(5, 5, 250), now)).toBe(250);
    expect(retryAfterOf({ statusCode: 503, headers: { 'retry-after': '2' } }, now)).toBe(2000);
    expect(retryAfterOf(new Error('plain'), now)).toBeUndefined();
    expect(retryAfterOf('text', now)).toBeUndefined();
  });
});

describe('retry honours Retry-After', () => {
  /** Runs `fn` under retry on a ManualClock; returns the clock times at which each attempt started. */
  async function attemptsAt(policy: ReturnType<typeof retry>, clock: ManualClock, fn: (n: number) => unknown, until = 60_000): Promise<{ at: number[]; result: unknown }> {
    const at: number[] = [];
    let n = 0;
    let settled: { v: unknown } | undefined;
    void policy.execute(async () => {
      at.push(clock.now());
      return fn(++n);
    }).then((v) => (settled = { v }), (e: unknown) => (settled = { v: e }));
    for (let t = 0; t < until && settled === undefined; t += 50) await clock.advanceAsync(50);
    return { at, result: settled?.v };
  }

  it('waits at least the retryAfterMs an error carries (longer than the backoff)', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(100), clock });
    const { at, result } = await attemptsAt(r, clock, (n) => {
      if (n < 3) throw new LimitExceededError(10, 10, 2000);
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(at).toEqual([0, 2000, 4000]);
  });

  it('waits for the Retry-After header of a 503 answer retried through retryOnResult (seconds and HTTP-date)', async () => {
    const clock = new ManualClock(Date.parse('2026-12-02T10:00:00Z'));
    const start = clock.now();
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(10), retryOnResult: (v) => (v as { statusCode: number }).statusCode === 503, clock });
    const answers = [
      { statusCode: 503, headers: { 'retry-after': '1' } },
      { statusCode: 503, headers: { 'retry-after': new Date(start + 1000 + 3000).toUTCString() } },
      { statusCode: 200, headers: {} },
    ];
    const { at, result } = await attemptsAt(r, clock, (n) => answers[n - 1]);
    expect((result as { statusCode: number }).statusCode).toBe(200);
    expect(at.map((t) => t - start)).toEqual([0, 1000, 4000]);
  });

  it('gives up at once when asked to wait longer than maxRetryAfterMs (no early knock on an overloaded door)', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 5, backoff: constantBackoff(10), maxRetryAfterMs: 5000, clock });
    const { at, result } = await attemptsAt(r, clock, () => {
      throw new LimitExceededError(1, 1, 60_000);
    });
    expect(at).toEqual([0]);
    expect(result).toBeInstanceOf(LimitExceededError);
    expect(r.stats.retries).toBe(0);
  });

  it('maxRetryAfterMs 0 ignores Retry-After: the backoff alone decides', async () => {
    const clock = new ManualClock();
    const r = retry({ maxAttempts: 2, backoff: constantBackoff(100), maxRetryAfterMs: 0, clock });
    const { at } = await attemptsAt(r, clock, (n) => {
      if (n === 1) throw new LimitExceededError(1, 1, 60_000);
      return 'ok';
    });
    expect(at).toEqual([0, 100]);
  });
});
