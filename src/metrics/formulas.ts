import { nearestRank } from '../core/rank.js';
import { OptionRangeError } from '../core/errors.js';
/**
 * The evaluation formulas of the seed's 6.3 — recovery time, failure rate, availability — and of
 * SLO practice, as pure functions of numbers (tested from hand-computed tables in
 * test/metrics/formulas.test.ts).
 */

/** Mean of a list; undefined for an empty one (a mean of nothing is not zero). */
export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Mean time to recovery: the mean of the incidents' recovery times. */
export function mttr(recoveryMs: readonly number[]): number | undefined {
  return mean(recoveryMs);
}

/**
 * Mean time between failures: operating (up) time divided by the number of failures —
 * `(observedMs − total downtime) / failures`. Undefined with no failure (it is unbounded).
 */
export function mtbf(observedMs: number, downtimeMs: number, failures: number): number | undefined {
  if (failures === 0) return undefined;
  return Math.max(0, observedMs - downtimeMs) / failures;
}

/** Failure rate λ, failures per hour of operating time (the reciprocal of MTBF). */
export function failureRatePerHour(observedMs: number, downtimeMs: number, failures: number): number {
  const up = Math.max(0, observedMs - downtimeMs);
  return up === 0 ? (failures > 0 ? Infinity : 0) : failures / (up / 3_600_000);
}

/** Time-based availability: MTBF / (MTBF + MTTR); 1 with no failure. */
export function availability(mtbfMs: number | undefined, mttrMs: number | undefined): number {
  if (mtbfMs === undefined || mttrMs === undefined) return 1;
  return mtbfMs + mttrMs === 0 ? 1 : mtbfMs / (mtbfMs + mttrMs);
}

/** Request-based availability: good / total; 1 with no request. */
export function requestAvailability(good: number, total: number): number {
  return total === 0 ? 1 : good / total;
}

/** The error budget of an SLO: the share of requests (or time) allowed to fail, 1 − slo. */
export function errorBudget(slo: number): number {
  if (!(slo > 0 && slo < 1)) throw new OptionRangeError(`errorBudget: slo must be a number > 0 and < 1, got ${slo}`);
  return 1 - slo;
}

/** Allowed downtime over a period for an SLO: 99.99 % over 30 days → 259.2 s (4.32 min). */
export function allowedDowntimeMs(slo: number, periodMs: number): number {
  return errorBudget(slo) * periodMs;
}

/**
 * Burn rate: how fast errors spend the budget — the error rate divided by the budget. 1 spends
 * exactly the budget over the SLO period; 14.4 spends 2 % of a 30-day budget in one hour.
 */
export function burnRate(errors: number, total: number, slo: number): number {
  if (total === 0) return 0;
  return errors / total / errorBudget(slo);
}

export interface BurnRateRule {
  /** The long window, e.g. 1 h. */
  longMs: number;
  /** The short window that must agree (so the alert stops soon after the problem does), e.g. 5 min. */
  shortMs: number;
  /** Burn rate both windows must reach. */
  factor: number;
  severity: 'page' | 'ticket';
}

/**
 * The multiwindow, multi-burn-rate alerts of the Google SRE workbook (ch. 5), as Sloth defaults
 * them for a 30-day period: page at 14.4× over 1 h (and 5 min), page at 6× over 6 h (and
 * 30 min), ticket at 3× over 1 day (and 2 h), ticket at 1× over 3 days (and 6 h).
 */
export const SRE_BURN_RATE_RULES: readonly BurnRateRule[] = Object.freeze([
  { longMs: 3_600_000, shortMs: 300_000, factor: 14.4, severity: 'page' },
  { longMs: 21_600_000, shortMs: 1_800_000, factor: 6, severity: 'page' },
  { longMs: 86_400_000, shortMs: 7_200_000, factor: 3, severity: 'ticket' },
  { longMs: 259_200_000, shortMs: 21_600_000, factor: 1, severity: 'ticket' },
]);

/** Whether a rule fires, given the burn rates measured over its long and short windows. */
export function burnRateAlert(rule: BurnRateRule, longBurn: number, shortBurn: number): boolean {
  return longBurn >= rule.factor && shortBurn >= rule.factor;
}

/** The p-th percentile (0–100) of values by nearest rank; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  if (!(p >= 0 && p <= 100)) throw new OptionRangeError(`percentile: p must be from 0 to 100, got ${p}`);
  return nearestRank([...values].sort((a, b) => a - b), p);
}
