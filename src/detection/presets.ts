import type { PhiAccrualOptions } from './phi-accrual.js';
import { timeToPhi } from './phi.js';

export interface DetectorPreset extends Required<Omit<PhiAccrualOptions, 'clock'>> {
  /** How often the monitored node should send a heartbeat. */
  heartbeatIntervalMs: number;
}

const lan: DetectorPreset = Object.freeze({
  heartbeatIntervalMs: 1000,
  threshold: 8,
  maxSampleSize: 1000,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3000,
  firstHeartbeatEstimateMs: 1000,
});

/**
 * Detector settings built from one base, in the manner of memberlist's DefaultLANConfig →
 * DefaultWANConfig. `expectedDetectionMs(preset)` gives the time from a crash to suspicion
 * for a steady sender; docs/detection.md tabulates it.
 *
 * - `lan`: Akka's cluster defaults — tolerant of multi-second GC pauses; detects in ≈ 4.5 s.
 * - `wan`: slower links, longer pauses; detects in ≈ 17.9 s.
 * - `fast`: heartbeat every 100 ms for services that must fail over in under a second;
 *   tolerates 400 ms of silence (jitter, GC pauses) and detects in ≈ 0.6 s
 *   (bench/detection.mjs: zero false positives over a 10-minute trace with jitter and pauses).
 */
export const detectorPresets: Readonly<{ lan: DetectorPreset; wan: DetectorPreset; fast: DetectorPreset }> = Object.freeze({
  lan,
  wan: Object.freeze({ ...lan, heartbeatIntervalMs: 5000, threshold: 10, minStdDeviationMs: 500, acceptableHeartbeatPauseMs: 10_000, firstHeartbeatEstimateMs: 5000 }),
  fast: Object.freeze({ ...lan, heartbeatIntervalMs: 100, threshold: 8, minStdDeviationMs: 20, acceptableHeartbeatPauseMs: 400, firstHeartbeatEstimateMs: 100, maxSampleSize: 200 }),
});

/**
 * Time from the last heartbeat of a crashed node to its suspicion, for a sender that kept to
 * `heartbeatIntervalMs` with standard deviation `jitterMs` (default: none, so σ is the floor).
 */
export function expectedDetectionMs(preset: DetectorPreset, jitterMs = 0): number {
  const sd = Math.max(preset.minStdDeviationMs, jitterMs);
  return timeToPhi(preset.threshold, preset.heartbeatIntervalMs + preset.acceptableHeartbeatPauseMs, sd);
}
