import type { AvailabilityReport } from '../availability.js';

const pct = (x: number): string => `${(x * 100).toFixed(3)} %`;
const ms = (x: number | null): string => (x === null ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`);

/** Detection times of the systems users pick instead (ANCHORS.md), for the comparison line. */
export const DETECTION_ANCHORS_MS = Object.freeze({ haproxy: 6000, consul: 10_000, kubernetes: 30_000 });

/** A terminal summary of an availability report. */
export function formatReport(r: AvailabilityReport, history?: { lost: number; unknown: number; acknowledged: number }): string {
  const lines = [
    `observed ${ms(r.observedMs)} · ${r.requests} requests, ${r.failedRequests} failed · ${r.incidents.length} faults (${r.maskedIncidents} masked by failover)`,
    '',
    `availability (requests)   ${pct(r.requestAvailability)}`,
    `availability (time)       ${pct(r.availability)}   MTBF / (MTBF + MTTR)`,
    `MTTD                      ${ms(r.mttdMs)}`,
    `MTTR                      ${r.mttrMs === null && r.incidents.length > 0 ? '— (no client saw a failure: every fault was masked)' : ms(r.mttrMs)}`,
    `MTBF                      ${r.mtbfMs === null && r.incidents.length > 0 ? '— (no client-visible failure to measure between)' : ms(r.mtbfMs)}`,
    ...(r.meanTimeToRestoreMs !== null ? [`time to restore (mean)    ${ms(r.meanTimeToRestoreMs)}   fault → the process healthy again`] : []),
    ...(r.meanTimeBetweenFaultsMs !== null ? [`time between faults       ${ms(r.meanTimeBetweenFaultsMs)}   (injected)`] : []),
    `failure rate              ${r.failureRatePerHour.toFixed(2)} per hour`,
    `downtime                  ${ms(r.downtimeMs)}`,
    `latency p50/p99/p99.9/max ${r.latencyMs.p50.toFixed(1)} / ${r.latencyMs.p99.toFixed(1)} / ${r.latencyMs.p999.toFixed(1)} / ${r.latencyMs.max.toFixed(1)} ms`,
    `SLO ${pct(r.slo.objective)}          burn rate ${r.slo.burnRate.toFixed(2)}× (budget spent ${(r.slo.budgetSpent * 100).toFixed(1)} %)${r.slo.alerts.length ? ` · would page: ${r.slo.alerts.map((a) => `${a.factor}× over ${a.longMs / 3_600_000} h`).join(', ')}` : ''}`,
  ];
  if (history) lines.push(`writes                    ${history.acknowledged} acknowledged, ${history.lost} lost, ${history.unknown} unknown`);
  if (r.mttdMs !== null) {
    const a = DETECTION_ANCHORS_MS;
    lines.push(`detection vs defaults     ${ms(r.mttdMs)} here · HAProxy ~${a.haproxy / 1000} s · Consul ~${a.consul / 1000} s · Kubernetes ~${a.kubernetes / 1000} s`);
  }
  if (r.incidents.length) {
    lines.push('', ' #  fault         target        detect    recover   restore   failed');
    for (const i of r.incidents) {
      lines.push(` ${String(i.id).padStart(2)} ${i.kind.padEnd(13)} ${i.target.padEnd(13)} ${ms(i.timeToDetectMs).padStart(8)}  ${ms(i.timeToRecoverMs).padStart(8)}  ${ms(i.timeToRestoreMs).padStart(8)}   ${i.failedRequests}`);
    }
  }
  return lines.join('\n');
}
