#!/usr/bin/env node
// Failure detection at heartbeat 100 ms: detection time vs false positives, for φ thresholds
// and fixed timeouts, on seeded synthetic 10-minute traces with jitter and GC-like pauses.
// A detector raises a false positive when a live node's silence (a gap between heartbeats)
// outlasts its current detection time; it detects a crash after its detection time.
// Then the false-positive rate as a curve over the length of the pauses, up to and beyond the
// fast preset's 400 ms tolerance, for φ and for a fixed timeout set to φ's own detection time on
// the same trace (equal detection time: the only fair comparison of the two).
// Usage: npm run bench:detection [-- --traces 5 --minutes 10]
import os from 'node:os';
import { ManualClock, PhiAccrualDetector, detectorPresets, expectedDetectionMs, seededRandom } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const TRACES = Number(flag('traces', 5));
const MINUTES = Number(flag('minutes', 10));

/**
 * Gaps between heartbeats: 100 ms ± 10 ms (normal), plus a 100–350 ms GC pause every ~30 s (or,
 * with `pauseMs`, pauses of about that length, ± 10 %). With `degrade`, the second half of the
 * trace runs on a congested network: 180 ms ± 30 ms.
 */
function trace(seed, degrade = false, pauseMs = undefined) {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const gaps = [];
  let pauses = 0;
  for (let t = 0; t < MINUTES * 60_000; ) {
    const congested = degrade && t > MINUTES * 30_000;
    let gap = Math.max(1, congested ? 180 + 30 * gauss() : 100 + 10 * gauss());
    if (random() < 1 / 300) {
      gap += pauseMs === undefined ? 100 + random() * 250 : pauseMs * (0.9 + 0.2 * random());
      pauses++;
    }
    gaps.push(gap);
    t += gap;
  }
  return { gaps, pauses, maxGap: Math.max(...gaps) };
}

/** φ's false positives, its detection time when each pause began, and a fixed timeout at that same time. */
function curvePoint(pauseMs) {
  let phiFp = 0;
  let fixedFp = 0;
  let pauses = 0;
  const detections = [];
  for (let i = 0; i < TRACES; i++) {
    const { gaps, pauses: n } = trace(3000 + i, false, pauseMs);
    pauses += n;
    const clock = new ManualClock();
    const d = new PhiAccrualDetector({ ...fast, clock });
    d.heartbeat();
    const phiTimes = [];
    for (const gap of gaps) {
      const detectAfter = d.suspectAt() - clock.now();
      phiTimes.push(detectAfter);
      if (gap >= detectAfter) phiFp++;
      clock.advance(gap);
      d.heartbeat();
    }
    // Equal detection time: the fixed timeout is φ's median detection time on this trace.
    const sorted = [...phiTimes].sort((a, b) => a - b);
    const equal = sorted[sorted.length >> 1];
    detections.push(equal);
    fixedFp += gaps.filter((g) => g >= equal).length;
  }
  const det = [...detections].sort((a, b) => a - b)[detections.length >> 1];
  return { pauseMs, pauses, det, phiFp, fixedFp };
}

function runPhi(options, gaps) {
  const clock = new ManualClock();
  const d = new PhiAccrualDetector({ ...options, clock });
  d.heartbeat();
  let falsePositives = 0;
  for (const gap of gaps) {
    const detectAfter = d.suspectAt() - clock.now();
    if (gap >= detectAfter) falsePositives++;
    clock.advance(gap);
    d.heartbeat();
  }
  return { falsePositives, detectionMs: d.suspectAt() - clock.now() };
}

function runFixed(timeoutMs, gaps) {
  return { falsePositives: gaps.filter((g) => g >= timeoutMs).length, detectionMs: timeoutMs };
}

const { heartbeatIntervalMs: _hb, ...fast } = detectorPresets.fast;

function table(traces) {
const rows = [];
for (const threshold of [1, 2, 4, 8, 12, 16]) {
  const results = traces.map((t) => runPhi({ ...fast, threshold }, t.gaps));
  rows.push([`φ accrual, threshold ${threshold} (fast preset otherwise)${threshold === fast.threshold ? ' ← preset' : ''}`, results]);
}
for (const pause of [0, 200]) {
  const results = traces.map((t) => runPhi({ ...fast, acceptableHeartbeatPauseMs: pause }, t.gaps));
  rows.push([`φ accrual, threshold 8, acceptable pause ${pause} ms`, results]);
}
for (const timeoutMs of [200, 300, 500, 1000]) rows.push([`fixed timeout ${timeoutMs} ms`, traces.map((t) => runFixed(timeoutMs, t.gaps))]);
const beats = traces.reduce((s, t) => s + t.gaps.length, 0);
return [
  `${traces.reduce((s, t) => s + t.pauses, 0)} pauses, longest gap ${Math.max(...traces.map((t) => t.maxGap)).toFixed(0)} ms, ${beats.toLocaleString('en')} heartbeats in all.`,
  '',
  '| detector | time to detect a crash at the end (median of traces) | false positives in all traces |',
  '| --- | ---: | ---: |',
  ...rows.map(([name, rs]) => {
    const det = rs.map((r) => r.detectionMs).sort((a, b) => a - b)[rs.length >> 1];
    return `| ${name} | ${det.toFixed(0)} ms | ${rs.reduce((s, r) => s + r.falsePositives, 0)} |`;
  }),
];
}

const lines = [
  `Command: npm run bench:detection -- --traces ${TRACES} --minutes ${MINUTES}`,
  `Node ${process.version}; ${TRACES} seeded traces × ${MINUTES} min of heartbeats every 100 ms ± 10 ms (σ) with a 100–350 ms GC-like pause every ~30 s.`,
  '',
  '**Steady network.** ' + table(Array.from({ length: TRACES }, (_, i) => trace(1000 + i))).join('\n'),
  '',
  '**Network congested half-way** (heartbeats arrive every 180 ms ± 30 ms in the second half): ' + table(Array.from({ length: TRACES }, (_, i) => trace(2000 + i, true))).join('\n'),
  '',
  `**False positives over pause length** (${TRACES} traces × ${MINUTES} min each, heartbeat 100 ms ± 10 ms, a pause of about the given length every ~30 s; the \`fast\` preset tolerates 400 ms): φ against a fixed timeout set to φ's own median detection time on the same trace.`,
  '',
  '| pause | pauses | φ (fast preset): detection time, median | φ false positives | fixed timeout at that time: false positives |',
  '| ---: | ---: | ---: | ---: | ---: |',
  ...[100, 200, 300, 350, 400, 450, 500, 600, 800, 1000].map((p) => {
    const c = curvePoint(p);
    const rate = (fp) => `${fp} (${((fp / c.pauses) * 100).toFixed(0)} % of pauses)`;
    return `| ${p} ms | ${c.pauses} | ${c.det.toFixed(0)} ms | ${rate(c.phiFp)} | ${rate(c.fixedFp)} |`;
  }),
  '',
  'Defaults of the systems users pick instead, at their own heartbeat intervals (their documentation; quoted, not measured here):',
  '',
  '| system | settings | time to detect |',
  '| --- | --- | ---: |',
  `| steadfast \`lan\` preset (Akka's defaults) | heartbeat 1 s, threshold 8, pause 3 s, σ ≥ 100 ms | ${(expectedDetectionMs(detectorPresets.lan) / 1000).toFixed(1)} s |`,
  `| steadfast \`fast\` preset | heartbeat 100 ms, threshold 8, pause 400 ms, σ ≥ 20 ms | ${(expectedDetectionMs(detectorPresets.fast) / 1000).toFixed(2)} s |`,
  '| Akka cluster (its docs) | heartbeat 1 s, threshold 8, pause 3 s | ~5.5 s |',
  '| HAProxy | inter 2 s, fall 3 | ~6 s |',
  '| Kubernetes readiness | period 10 s × failureThreshold 3 | ~30 s |',
];
console.log(lines.join('\n'));
