import { systemClock, type Clock } from '../core/clock.js';
import { checkClock, checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { phi, timeToPhi } from './phi.js';

export interface PhiAccrualOptions {
  /** Suspect the node when φ reaches this. 8 ⇒ a 10⁻⁸ chance of a false alarm per check under the model. Default 8. */
  threshold?: number;
  /** Inter-arrival times remembered (a ring buffer). Default 1000. */
  maxSampleSize?: number;
  /**
   * Floor of the standard deviation. Without it a perfectly regular sender makes σ → 0 and
   * the slightest delay a failure. Default 100.
   */
  minStdDeviationMs?: number;
  /**
   * Added to the mean interval: φ stays low for this long past the expected heartbeat, so a GC
   * pause or a network blip this long is not a failure. Detection time ≈ interval + this +
   * a few σ. Default 3000 (Akka's).
   */
  acceptableHeartbeatPauseMs?: number;
  /** The interval assumed before any has been measured (σ starts at a quarter of it). Default: heartbeatIntervalMs, else 1000. */
  firstHeartbeatEstimateMs?: number;
  /** The sender's heartbeat interval (informational; the default first estimate). Presets carry it. */
  heartbeatIntervalMs?: number;
  clock?: Clock;
}

export const PHI_ACCRUAL_DEFAULTS = Object.freeze({
  threshold: 8,
  maxSampleSize: 1000,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3000,
  firstHeartbeatEstimateMs: 1000,
});

const KNOWN = ['threshold', 'maxSampleSize', 'minStdDeviationMs', 'acceptableHeartbeatPauseMs', 'firstHeartbeatEstimateMs', 'heartbeatIntervalMs', 'clock'];

export function checkPhiOptions(scope: string, options: PhiAccrualOptions | undefined): Required<Omit<PhiAccrualOptions, 'clock' | 'heartbeatIntervalMs'>> & { clock: Clock } {
  const o = checkOptions<PhiAccrualOptions>(scope, options, KNOWN);
  const d = PHI_ACCRUAL_DEFAULTS;
  if (o.clock !== undefined) checkClock(scope, o.clock);
  const interval = o.heartbeatIntervalMs === undefined ? undefined : checkNumber(scope, 'heartbeatIntervalMs', o.heartbeatIntervalMs, { min: 0, minExclusive: true });
  return {
    threshold: checkNumber(scope, 'threshold', o.threshold ?? d.threshold, { min: 0, minExclusive: true, max: 100 }),
    maxSampleSize: checkInteger(scope, 'maxSampleSize', o.maxSampleSize ?? d.maxSampleSize, { min: 2, max: 100_000 }),
    minStdDeviationMs: checkNumber(scope, 'minStdDeviationMs', o.minStdDeviationMs ?? d.minStdDeviationMs, { min: 0, minExclusive: true }),
    acceptableHeartbeatPauseMs: checkNumber(scope, 'acceptableHeartbeatPauseMs', o.acceptableHeartbeatPauseMs ?? d.acceptableHeartbeatPauseMs, { min: 0 }),
    firstHeartbeatEstimateMs: checkNumber(scope, 'firstHeartbeatEstimateMs', o.firstHeartbeatEstimateMs ?? interval ?? d.firstHeartbeatEstimateMs, { min: 0, minExclusive: true }),
    clock: o.clock ?? systemClock,
  };
}

/**
 * An accrual failure detector for one peer, with Akka's parameters. It outputs a suspicion
 * level φ that grows the longer a heartbeat is overdue relative to the intervals seen so far,
 * instead of a fixed timeout that is either too eager on a jittery network or too slow on a
 * calm one.
 */
export class PhiAccrualDetector {
  readonly threshold: number;
  readonly minStdDeviationMs: number;
  readonly acceptableHeartbeatPauseMs: number;
  private readonly clock: Clock;
  private readonly intervals: Float64Array;
  private count = 0;
  private next = 0;
  private sum = 0;
  private squares = 0;
  private last: number | undefined;
  private readonly firstEstimate: number;

  constructor(options?: PhiAccrualOptions) {
    const o = checkPhiOptions('PhiAccrualDetector', options);
    this.threshold = o.threshold;
    this.minStdDeviationMs = o.minStdDeviationMs;
    this.acceptableHeartbeatPauseMs = o.acceptableHeartbeatPauseMs;
    this.clock = o.clock;
    this.intervals = new Float64Array(o.maxSampleSize);
    this.firstEstimate = o.firstHeartbeatEstimateMs;
  }

  /** Records a heartbeat now. */
  heartbeat(): void {
    const now = this.clock.now();
    if (this.last === undefined) {
      // Akka: start from two samples around the estimate, σ = estimate / 4.
      const sd = this.firstEstimate / 4;
      this.record(this.firstEstimate - sd);
      this.record(this.firstEstimate + sd);
    } else if (this.isAvailable(now)) {
      // An interval measured across an outage would teach the detector that outages are normal.
      this.record(now - this.last);
    }
    this.last = now;
  }

  /** φ now (0 before the first heartbeat). */
  phi(now = this.clock.now()): number {
    if (this.last === undefined) return 0;
    return phi(now - this.last, this.mean + this.acceptableHeartbeatPauseMs, this.stdDev);
  }

  isAvailable(now = this.clock.now()): boolean {
    return this.phi(now) < this.threshold;
  }

  /** Clock time at which φ will reach the threshold if no heartbeat comes (undefined before the first). */
  suspectAt(): number | undefined {
    if (this.last === undefined) return undefined;
    return this.last + timeToPhi(this.threshold, this.mean + this.acceptableHeartbeatPauseMs, this.stdDev);
  }

  get lastHeartbeatAt(): number | undefined {
    return this.last;
  }

  /** Mean measured interval. */
  get mean(): number {
    return this.count === 0 ? this.firstEstimate : this.sum / this.count;
  }

  /** Measured standard deviation, floored at minStdDeviationMs. */
  get stdDev(): number {
    if (this.count === 0) return Math.max(this.minStdDeviationMs, this.firstEstimate / 4);
    const m = this.sum / this.count;
    const variance = Math.max(0, this.squares / this.count - m * m);
    return Math.max(this.minStdDeviationMs, Math.sqrt(variance));
  }

  private record(interval: number): void {
    if (this.count === this.intervals.length) {
      const old = this.intervals[this.next]!;
      this.sum -= old;
      this.squares -= old * old;
    } else {
      this.count++;
    }
    this.intervals[this.next] = interval;
    this.sum += interval;
    this.squares += interval * interval;
    this.next = (this.next + 1) % this.intervals.length;
  }
}
