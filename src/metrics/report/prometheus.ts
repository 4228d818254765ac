import type { Registry } from 'prom-client';
import { promClient } from '../../core/packages.js';
import type { AvailabilityReport } from '../availability.js';

/** Publishes a report's figures as Prometheus gauges on `registry` (prom-client). */
export function exportReport(r: AvailabilityReport, registry: Registry, prefix = 'steadfast_'): void {
  const g = (name: string, help: string, value: number | null): void => {
    const gauge = new (promClient().Gauge)({ name: `${prefix}${name}`, help, registers: [registry] });
    if (value !== null && Number.isFinite(value)) gauge.set(value);
  };
  g('availability_ratio', 'Time-based availability, MTBF / (MTBF + MTTR)', r.availability);
  g('request_availability_ratio', 'Share of requests that succeeded', r.requestAvailability);
  g('mttd_seconds', 'Mean time to detect a fault', r.mttdMs === null ? null : r.mttdMs / 1000);
  g('mttr_seconds', 'Mean time to recover service after a fault', r.mttrMs === null ? null : r.mttrMs / 1000);
  g('mtbf_seconds', 'Mean time between failures', r.mtbfMs === null ? null : r.mtbfMs / 1000);
  g('failure_rate_per_hour', 'Failures per hour of operating time', r.failureRatePerHour);
  g('incidents', 'Faults injected', r.incidents.length);
  g('slo_burn_rate', 'Error rate divided by the error budget', r.slo.burnRate);
  g('latency_p99_seconds', 'p99 request latency', r.latencyMs.p99 / 1000);
}
