import type { AvailabilityReport } from '../availability.js';

const pct = (x: number): string => `${(x * 100).toFixed(3)} %`;
const ms = (x: number | null): string => (x === null ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`);

/**
 * How long other systems take, by their own documented defaults, to act on a dead instance —
 * quoted for context, never divided into a measured figure (they are not measured here):
 * - HAProxy: health checks every `inter` 2000 ms, DOWN after `fall` 3 failures ≈ 6 s
 *   (HAProxy configuration manual, "5.2 Server and default-server options": inter, fall).
 * - Kubernetes: a readiness probe every `periodSeconds` 10, failing after `failureThreshold` 3
 *   ≈ 30 s (kubernetes.io, "Configure Liveness, Readiness and Startup Probes").
 * - Consul: HTTP/TCP checks have no default interval; its documentation's examples use 10 s
 *   (developer.hashicorp.com, "Health checks" / check definition).
 */
export const DOCUMENTED_DETECTION_TIMES = Object.freeze([
  { system: 'HAProxy', ms: 6000, how: 'inter 2 s × fall 3' },
  { system: 'Kubernetes readiness', ms: 30_000, how: 'periodSeconds 10 × failureThreshold 3' },
  { system: 'Consul', ms: 10_000, how: 'the 10 s interval of its examples' },
] as const);

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
  // Reports saved before the log was bounded have no `retained`.
  if (r.retained && r.retained.fromAt !== null) lines.push(`(latency, incidents and timeline from the last ${r.retained.requests} requests, the tracker's maxRequests)`);
  if (history) lines.push(`writes                    ${history.acknowledged} acknowledged, ${history.lost} lost, ${history.unknown} unknown`);
  if (r.mttdMs !== null) {
    lines.push(`documented defaults       (not measured here) ${DOCUMENTED_DETECTION_TIMES.map((d) => `${d.system} ~${d.ms / 1000} s`).join(' · ')}`);
  }
  if (r.incidents.length) {
    lines.push('', ' #  fault         target        detect    recover   restore   failed');
    for (const i of r.incidents) {
      lines.push(` ${String(i.id).padStart(2)} ${i.kind.padEnd(13)} ${i.target.padEnd(13)} ${ms(i.timeToDetectMs).padStart(8)}  ${ms(i.timeToRecoverMs).padStart(8)}  ${ms(i.timeToRestoreMs).padStart(8)}   ${i.failedRequests}`);
    }
  }
  return lines.join('\n');
}
