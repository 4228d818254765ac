import { describe, expect, it } from 'vitest';
import {
  allowedDowntimeMs,
  availability,
  burnRate,
  burnRateAlert,
  errorBudget,
  failureRatePerHour,
  mtbf,
  mttr,
  percentile,
  requestAvailability,
  SRE_BURN_RATE_RULES,
} from '../../src/metrics/formulas.js';

describe('recovery-time formulas (hand-computed)', () => {
  it.each([
    [[1000, 3000], 2000],
    [[250], 250],
    [[100, 200, 600], 300],
  ])('MTTR of %j is %d ms', (xs, expected) => {
    expect(mttr(xs)).toBe(expected);
  });

  it('has no MTTR without incidents', () => {
    expect(mttr([])).toBeUndefined();
  });

  it.each([
    // observed, downtime, failures → MTBF
    [3_600_000, 0, 4, 900_000],
    [10_000, 2_000, 2, 4_000],
    [60_000, 60_000, 3, 0],
  ])('MTBF over %d ms with %d ms down and %d failures is %d ms', (observed, down, failures, expected) => {
    expect(mtbf(observed, down, failures)).toBe(expected);
  });

  it('has no MTBF without failures', () => {
    expect(mtbf(1000, 0, 0)).toBeUndefined();
  });

  it.each([
    [3_600_000, 0, 4, 4],
    [7_200_000, 0, 1, 0.5],
    [3_700_000, 100_000, 2, 2],
  ])('failure rate over %d ms (%d ms down) with %d failures is %d per hour', (observed, down, failures, expected) => {
    expect(failureRatePerHour(observed, down, failures)).toBeCloseTo(expected, 10);
  });

  it.each([
    [9000, 1000, 0.9],
    [999_900, 100, 0.9999],
    [undefined, undefined, 1],
  ])('availability with MTBF %s and MTTR %s is %d', (b, r, expected) => {
    expect(availability(b, r)).toBeCloseTo(expected, 10);
  });

  it('computes request availability as good / total', () => {
    expect(requestAvailability(995, 1000)).toBe(0.995);
    expect(requestAvailability(0, 0)).toBe(1);
  });
});

describe('SLO formulas (hand-computed)', () => {
  it('gives the error budget and the downtime it allows', () => {
    expect(errorBudget(0.999)).toBeCloseTo(0.001, 12);
    // 99.99 % over 30 days allows 4.32 minutes: 30 × 24 × 60 × 0.0001
    expect(allowedDowntimeMs(0.9999, 30 * 86_400_000)).toBeCloseTo(259_200, 3);
    expect(() => errorBudget(1)).toThrow(/slo must be a number > 0 and < 1/);
  });

  it.each([
    // errors, total, slo → burn rate
    [1, 1000, 0.999, 1],
    [144, 10_000, 0.999, 14.4],
    [6, 1000, 0.999, 6],
    [0, 1000, 0.999, 0],
  ])('burn rate of %d errors in %d requests at SLO %d is %d', (errors, total, slo, expected) => {
    expect(burnRate(errors, total, slo)).toBeCloseTo(expected, 9);
  });

  it('pages at 14.4× over 1 h only when the 5 min window agrees (SRE workbook, Sloth defaults)', () => {
    const [fast, slow, ticket, slowTicket] = SRE_BURN_RATE_RULES;
    expect(fast).toMatchObject({ longMs: 3_600_000, shortMs: 300_000, factor: 14.4, severity: 'page' });
    expect(slow).toMatchObject({ longMs: 21_600_000, shortMs: 1_800_000, factor: 6, severity: 'page' });
    expect(ticket).toMatchObject({ longMs: 86_400_000, shortMs: 7_200_000, factor: 3, severity: 'ticket' });
    expect(slowTicket).toMatchObject({ longMs: 259_200_000, shortMs: 21_600_000, factor: 1, severity: 'ticket' });
    expect(burnRateAlert(fast!, 15, 20)).toBe(true);
    expect(burnRateAlert(fast!, 15, 2)).toBe(false); // the problem is over: no page
    expect(burnRateAlert(slow!, 6, 6)).toBe(true);
  });

  it('takes percentiles by nearest rank', () => {
    const xs = [15, 20, 35, 40, 50];
    expect(percentile(xs, 30)).toBe(20);
    expect(percentile(xs, 40)).toBe(20);
    expect(percentile(xs, 50)).toBe(35);
    expect(percentile(xs, 100)).toBe(50);
    expect(percentile([], 50)).toBeUndefined();
  });
});
