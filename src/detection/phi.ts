/**
 * φ of the accrual failure detector (Hayashibara et al., "The φ Accrual Failure Detector",
 * 2004): φ = −log10(P(a heartbeat arrives later than `elapsedMs`)), with inter-arrival times
 * taken as normal(mean, stdDev). φ = 1 means a 10 % chance the node is fine and merely late,
 * φ = 8 a 10⁻⁸ chance. The normal tail uses the logistic approximation Akka uses
 * (error < 0.00014), which needs no erf.
 */
export function phi(elapsedMs: number, meanMs: number, stdDevMs: number): number {
  const y = (elapsedMs - meanMs) / stdDevMs;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  if (elapsedMs > meanMs) return -Math.log10(e / (1 + e));
  return -Math.log10(1 - 1 / (1 + e));
}

/**
 * The elapsed time at which φ reaches `threshold` — i.e. when a node that stopped sending
 * heartbeats is declared down, counted from its last heartbeat. Inverse of `phi` by bisection.
 */
export function timeToPhi(threshold: number, meanMs: number, stdDevMs: number): number {
  let lo = meanMs - 10 * stdDevMs;
  let hi = meanMs + 40 * stdDevMs;
  while (phi(hi, meanMs, stdDevMs) < threshold) hi += 40 * stdDevMs;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (phi(mid, meanMs, stdDevMs) < threshold) lo = mid;
    else hi = mid;
  }
  return Math.max(0, hi);
}
