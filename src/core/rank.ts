/**
 * The one percentile formula of the project (reports, dashboards, the load generator): the
 * p-th percentile (0–100) of ascending `sorted` values by nearest rank — the smallest value that
 * at least p % of the values do not exceed, as HdrHistogram reports it. 0 for no values.
 */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  // (the 1e-9 keeps 99.9 % of 1000 at rank 999: 0.999 × 1000 is 999.0000000000001 in binary)
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n - 1e-9) - 1))]!;
}
