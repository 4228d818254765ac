import type { DemoResult } from './views.js';

/** What a rate must keep to be within capacity: p99 of every request, and the share answered 2xx. */
export const CAPACITY_BOUNDS = Object.freeze({ p99Ms: 50, answered: 0.9999 });

/** The rates `steadfast demo --find-capacity` tries, in order, by default. */
export const CAPACITY_RATES = Object.freeze([250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000]);

/** One rate tried: what the run measured and whether it held both bounds. */
export interface CapacityStep {
  rate: number;
  requests: number;
  answered: number;
  p99Ms: number;
  goodputPerSec: number;
  lostWrites: number;
  /** CPU per request of each part (ms), where the time went. */
  cpuPerRequestMs: Record<string, number | null>;
  sendLagP99Ms: number;
  holds: boolean;
}

export interface CapacityResult {
  /** The highest rate that held both bounds; null if the first did not. */
  capacity: number | null;
  /** Whether the last rate tried still held (the capacity is then a lower bound). */
  atHighestRate: boolean;
  bounds: { p99Ms: number; answered: number };
  steps: CapacityStep[];
}

/**
 * Finds the highest of `rates` (tried in increasing order, one fault-free run each from `run`)
 * at which the system keeps p99 ≤ bounds.p99Ms and answers ≥ bounds.answered; it stops at the
 * first rate that misses either. A lost acknowledged write fails the search: that is a bug, not
 * a capacity.
 */
export async function findCapacity(
  run: (rate: number) => Promise<DemoResult>,
  rates: readonly number[] = CAPACITY_RATES,
  { bounds = CAPACITY_BOUNDS, onStep }: { bounds?: { p99Ms: number; answered: number }; onStep?: (s: CapacityStep) => void } = {},
): Promise<CapacityResult> {
  if (rates.length === 0) throw new RangeError('findCapacity: rates must name at least one rate');
  for (const [i, r] of rates.entries()) {
    if (!Number.isFinite(r) || r <= 0) throw new RangeError(`findCapacity: rates[${i}] must be a positive number of requests a second, got ${r}`);
    if (i > 0 && r <= rates[i - 1]!) throw new RangeError(`findCapacity: rates must increase, got ${rates[i - 1]} then ${r}`);
  }
  const steps: CapacityStep[] = [];
  let capacity: number | null = null;
  for (const rate of rates) {
    const r = await run(rate);
    const step: CapacityStep = {
      rate,
      requests: r.report.requests,
      answered: r.report.requestAvailability,
      p99Ms: r.report.latencyMs.p99,
      goodputPerSec: r.load.goodputPerSec,
      lostWrites: r.lostWrites,
      cpuPerRequestMs: cpuPerRequest(r.cpu),
      sendLagP99Ms: r.load.sendLagMs.p99,
      holds: r.report.latencyMs.p99 <= bounds.p99Ms && r.report.requestAvailability >= bounds.answered,
    };
    steps.push(step);
    onStep?.(step);
    if (r.lostWrites > 0) throw new Error(`findCapacity: ${r.lostWrites} acknowledged writes were lost at ${rate} req/s (${r.history.lost.slice(0, 5).join(', ')}): a defect to report, not a capacity`);
    if (!step.holds) break;
    capacity = rate;
  }
  return { capacity, atHighestRate: steps.at(-1)!.holds, bounds: { ...bounds }, steps };
}

function cpuPerRequest(c: DemoResult['cpu']): Record<string, number | null> {
  const out: Record<string, number | null> = { db: c.db.perRequestMs, web: c.web.perRequestMs, gateway: c.gateway.perRequestMs };
  if (c.registry) out.registry = c.registry.perRequestMs;
  out.supervisor = c.supervisor.perRequestMs;
  if (c.client) out.client = c.client.perRequestMs;
  return out;
}
