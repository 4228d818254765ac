import { nearestRank } from '../core/rank.js';
import { systemClock, type Clock } from '../core/clock.js';
import { checkClock, checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { availability, burnRate, burnRateAlert, errorBudget, failureRatePerHour, mean, mtbf, requestAvailability, SRE_BURN_RATE_RULES } from './formulas.js';
import { OptionRangeError } from '../core/errors.js';

export interface AvailabilityTrackerOptions {
  /** The objective, e.g. 0.999. Default 0.999. */
  slo?: number;
  /** Width of the timeline buckets in the report. Default 1000. */
  bucketMs?: number;
  /** Width of the buckets of the live view (`live()`, for dashboards). Default 1000. */
  liveBucketMs?: number;
  /** How many recent live buckets are kept (older ones are dropped: the view is bounded). Default 120. */
  liveBuckets?: number;
  /**
   * Request outcomes kept for the report's per-request figures (latency percentiles, incident
   * recovery, timeline, burn-rate windows): the most recent ones, 17 bytes each. Totals and
   * request availability always count every request. Default 2,000,000 (~34 MB).
   */
  maxRequests?: number;
  clock?: Clock;
}

export const AVAILABILITY_DEFAULTS = Object.freeze({ slo: 0.999, bucketMs: 1000, liveBucketMs: 1000, liveBuckets: 120, maxRequests: 2_000_000 });

/** What is happening now (`AvailabilityTracker.live()`): cheap enough to ask every second. */
export interface LiveView {
  requests: number;
  failed: number;
  /** The recent live buckets, oldest first, each with its p99 (nearest rank); empty ones included. */
  series: { at: number; requests: number; failed: number; p99Ms: number }[];
  /** Every fault so far, with when it was detected and restored (whole ms after injection), if it was. */
  incidents: { id: number; target: string; kind: string; at: number; detectedMs: number | null; restoredMs: number | null }[];
}

export interface Incident {
  id: number;
  target: string;
  kind: string;
  injectedAt: number;
  /** The registry or balancer marked it (fault → detection = time to detect). */
  detectedAt: number | null;
  /** Requests succeed again: the first success after the incident's last failed request. */
  recoveredAt: number | null;
  /** The replacement is healthy (fault → full restore). */
  restoredAt: number | null;
  failedRequests: number;
  timeToDetectMs: number | null;
  /** Fault → requests succeed again; 0 when the fault never showed to a client (masked). */
  timeToRecoverMs: number;
  timeToRestoreMs: number | null;
}

export interface AvailabilityReport {
  startedAt: number;
  endedAt: number;
  observedMs: number;
  requests: number;
  failedRequests: number;
  requestAvailability: number;
  /** Time-based: MTBF / (MTBF + MTTR) over incidents a client could see. */
  availability: number;
  incidents: Incident[];
  /** Incidents that no client noticed (failover hid them). */
  maskedIncidents: number;
  downtimeMs: number;
  mttdMs: number | null;
  mttrMs: number | null;
  mtbfMs: number | null;
  /** Mean of fault → the target healthy again (restarted, resumed, caught up), over incidents whose target came back. */
  meanTimeToRestoreMs: number | null;
  /** Mean gap between injected faults (whether or not a client saw them). */
  meanTimeBetweenFaultsMs: number | null;
  failureRatePerHour: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  slo: {
    objective: number;
    errorBudget: number;
    budgetSpent: number;
    burnRate: number;
    /** Burn rate over the last 5 min, 30 min, 1 h and 6 h of the run (each bounded by the run), and the SRE-workbook alerts that would fire now. */
    windows: { windowMs: number; burnRate: number }[];
    alerts: { severity: 'page' | 'ticket'; factor: number; longMs: number; shortMs: number }[];
  };
  timeline: { at: number; requests: number; failed: number; p99Ms: number }[];
  /**
   * The requests the per-request figures (latency, incidents' recovery, timeline, windows) were
   * computed from: every one, unless more than maxRequests were recorded — then the most recent
   * maxRequests, from `fromAt` on.
   */
  retained: { requests: number; fromAt: number | null };
}

/**
 * Takes request outcomes and fault events, and computes the seed's 6.3 figures: per incident
 * the time to detect, to recover service and to restore; over the run MTTR, MTBF, failure rate,
 * time- and request-based availability, exact latency percentiles and the SLO budget
 * spent. The arithmetic is in formulas.ts, tested from hand-computed tables.
 */
export class AvailabilityTracker {
  readonly slo: number;
  readonly bucketMs: number;
  private readonly clock: Clock;
  private readonly log: RequestLog;
  private requestCount = 0;
  private readonly faults: { id: number; target: string; kind: string; at: number; detectedAt: number | null; restoredAt: number | null }[] = [];
  private firstAt: number | undefined;
  private readonly liveBucketMs: number;
  private readonly liveBuckets: number;
  /** The recent live buckets by index (at / liveBucketMs); at most liveBuckets of them. */
  private readonly live_ = new Map<number, { requests: number; failed: number; latencies: number[] }>();
  private failedCount = 0;

  constructor(options?: AvailabilityTrackerOptions) {
    const scope = 'AvailabilityTracker';
    const o = checkOptions<AvailabilityTrackerOptions>(scope, options, ['slo', 'bucketMs', 'liveBucketMs', 'liveBuckets', 'maxRequests', 'clock']);
    this.slo = checkNumber(scope, 'slo', o.slo ?? AVAILABILITY_DEFAULTS.slo, { min: 0, minExclusive: true, max: 0.999999999 });
    this.bucketMs = checkInteger(scope, 'bucketMs', o.bucketMs ?? AVAILABILITY_DEFAULTS.bucketMs, { min: 1 });
    this.liveBucketMs = checkInteger(scope, 'liveBucketMs', o.liveBucketMs ?? AVAILABILITY_DEFAULTS.liveBucketMs, { min: 1 });
    this.liveBuckets = checkInteger(scope, 'liveBuckets', o.liveBuckets ?? AVAILABILITY_DEFAULTS.liveBuckets, { min: 1, max: 100_000 });
    this.log = new RequestLog(checkInteger(scope, 'maxRequests', o.maxRequests ?? AVAILABILITY_DEFAULTS.maxRequests, { min: 1, max: 1_000_000_000 }));
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
  }

  /** Marks the start of observation (defaults to the first event). */
  start(at = this.clock.now()): void {
    this.firstAt ??= at;
  }

  recordRequest(ok: boolean, latencyMs: number, at = this.clock.now()): void {
    this.firstAt ??= at - latencyMs;
    this.log.push(at, ok, Math.max(0, latencyMs));
    this.requestCount++;
    if (!ok) this.failedCount++;
    const k = Math.floor(at / this.liveBucketMs);
    let b = this.live_.get(k);
    if (!b) {
      this.live_.set(k, (b = { requests: 0, failed: 0, latencies: [] }));
      // Bounded: drop buckets older than the window (a Map iterates oldest-inserted first).
      for (const old of this.live_.keys()) {
        if (old > k - this.liveBuckets) break;
        this.live_.delete(old);
      }
    }
    b.requests++;
    if (!ok) b.failed++;
    b.latencies.push(Math.max(0, latencyMs));
  }

  /** What is happening now: totals, the last liveBuckets buckets before `at`, and the incidents. */
  live(at = this.clock.now()): LiveView {
    const current = Math.floor(at / this.liveBucketMs);
    const series: LiveView['series'] = [];
    for (let k = current - this.liveBuckets; k < current; k++) {
      const b = this.live_.get(k);
      series.push({ at: k * this.liveBucketMs, requests: b?.requests ?? 0, failed: b?.failed ?? 0, p99Ms: b ? nearestRank([...b.latencies].sort((x, y) => x - y), 99) : 0 });
    }
    return {
      requests: this.requestCount,
      failed: this.failedCount,
      series,
      incidents: this.faults.map((f) => ({ id: f.id, target: f.target, kind: f.kind, at: f.at, detectedMs: f.detectedAt === null ? null : Math.round(f.detectedAt - f.at), restoredMs: f.restoredAt === null ? null : Math.round(f.restoredAt - f.at) })),
    };
  }

  /** A fault was injected into `target`; returns its incident id. */
  recordFault(target: string, kind: string, at = this.clock.now()): number {
    this.firstAt ??= at;
    const id = this.faults.length + 1;
    this.faults.push({ id, target, kind, at, detectedAt: null, restoredAt: null });
    return id;
  }

  /** The system noticed incident `id` (first report wins). */
  recordDetection(id: number, at = this.clock.now()): void {
    const f = this.fault(id);
    f.detectedAt ??= at;
  }

  /** The target of incident `id` is healthy again (first report wins). */
  recordRestore(id: number, at = this.clock.now()): void {
    const f = this.fault(id);
    f.restoredAt ??= at;
  }

  report(endAt = this.clock.now()): AvailabilityReport {
    const startedAt = this.firstAt ?? endAt;
    const reqs = this.log.entries().sort((a, b) => a.at - b.at);
    const faults = [...this.faults].sort((a, b) => a.at - b.at);
    const incidents: Incident[] = faults.map((f, i) => {
      const until = i + 1 < faults.length ? faults[i + 1]!.at : Infinity;
      const window = reqs.filter((r) => r.at >= f.at && r.at < until);
      let lastFail = -1;
      let failed = 0;
      window.forEach((r, k) => {
        if (!r.ok) {
          failed++;
          lastFail = k;
        }
      });
      let recoveredAt: number | null = f.at;
      if (lastFail >= 0) {
        const next = window.slice(lastFail + 1).find((r) => r.ok);
        recoveredAt = next ? next.at : null;
      }
      const recoverEnd = recoveredAt ?? Math.min(until, endAt);
      return {
        id: f.id,
        target: f.target,
        kind: f.kind,
        injectedAt: f.at,
        detectedAt: f.detectedAt,
        recoveredAt,
        restoredAt: f.restoredAt,
        failedRequests: failed,
        timeToDetectMs: f.detectedAt === null ? null : f.detectedAt - f.at,
        timeToRecoverMs: failed === 0 ? 0 : recoverEnd - f.at,
        timeToRestoreMs: f.restoredAt === null ? null : f.restoredAt - f.at,
      };
    });
    const visible = incidents.filter((x) => x.failedRequests > 0);
    const downtimeMs = mergedLength(visible.map((x) => [x.injectedAt, x.injectedAt + x.timeToRecoverMs] as [number, number]));
    const observedMs = Math.max(0, endAt - startedAt);
    const mttrMs = mean(visible.map((x) => x.timeToRecoverMs)) ?? null;
    const mtbfMs = mtbf(observedMs, downtimeMs, visible.length) ?? null;
    const detected = incidents.filter((x) => x.timeToDetectMs !== null).map((x) => x.timeToDetectMs!);
    const meanTimeToRestoreMs = mean(incidents.filter((x) => x.timeToRestoreMs !== null).map((x) => x.timeToRestoreMs!)) ?? null;
    const meanTimeBetweenFaultsMs = incidents.length > 1 ? (incidents.at(-1)!.injectedAt - incidents[0]!.injectedAt) / (incidents.length - 1) : null;
    const failedRequests = this.failedCount;

    const latencyMs = latencySummary(reqs);

    const timeline: AvailabilityReport['timeline'] = [];
    if (reqs.length) {
      const first = Math.floor(startedAt / this.bucketMs) * this.bucketMs;
      const buckets = new Map<number, { n: number; f: number; lat: number[] }>();
      for (const r of reqs) {
        const b = Math.floor((r.at - first) / this.bucketMs);
        const e = buckets.get(b) ?? { n: 0, f: 0, lat: [] };
        e.n++;
        if (!r.ok) e.f++;
        e.lat.push(r.latencyMs);
        buckets.set(b, e);
      }
      const last = Math.floor((endAt - first) / this.bucketMs);
      for (let b = 0; b <= last; b++) {
        const e = buckets.get(b);
        const lat = e ? [...e.lat].sort((x, y) => x - y) : [];
        timeline.push({ at: first + b * this.bucketMs, requests: e?.n ?? 0, failed: e?.f ?? 0, p99Ms: nearestRank(lat, 99) });
      }
    }
    const budget = errorBudget(this.slo);
    const errorRate = this.requestCount ? failedRequests / this.requestCount : 0;
    return {
      startedAt,
      endedAt: endAt,
      observedMs,
      requests: this.requestCount,
      failedRequests,
      requestAvailability: requestAvailability(this.requestCount - failedRequests, this.requestCount),
      availability: availability(mtbfMs ?? undefined, mttrMs ?? undefined),
      incidents,
      maskedIncidents: incidents.length - visible.length,
      downtimeMs,
      mttdMs: mean(detected) ?? null,
      mttrMs,
      mtbfMs,
      meanTimeToRestoreMs,
      meanTimeBetweenFaultsMs,
      failureRatePerHour: failureRatePerHour(observedMs, downtimeMs, visible.length),
      latencyMs,
      slo: {
        objective: this.slo,
        errorBudget: budget,
        budgetSpent: errorRate / budget,
        burnRate: burnRate(failedRequests, this.requestCount, this.slo),
        windows: [300_000, 1_800_000, 3_600_000, 21_600_000].map((windowMs) => ({ windowMs, burnRate: this.windowBurn(reqs, endAt, windowMs) })),
        alerts: SRE_BURN_RATE_RULES.filter((rule) => burnRateAlert(rule, this.windowBurn(reqs, endAt, rule.longMs), this.windowBurn(reqs, endAt, rule.shortMs))).map(({ severity, factor, longMs, shortMs }) => ({ severity, factor, longMs, shortMs })),
      },
      timeline,
      retained: { requests: reqs.length, fromAt: reqs.length === this.requestCount ? null : (reqs[0]?.at ?? null) },
    };
  }

  private windowBurn(reqs: { at: number; ok: boolean }[], endAt: number, windowMs: number): number {
    let n = 0;
    let bad = 0;
    for (let i = reqs.length - 1; i >= 0 && reqs[i]!.at > endAt - windowMs; i--) {
      n++;
      if (!reqs[i]!.ok) bad++;
    }
    return burnRate(bad, n, this.slo);
  }

  private fault(id: number): { detectedAt: number | null; restoredAt: number | null } {
    const f = this.faults[id - 1];
    if (!f) throw new OptionRangeError(`AvailabilityTracker: no incident ${id} (ids come from recordFault)`);
    return f;
  }
}

/** The most recent `cap` request outcomes, in typed arrays that grow to the cap and then wrap. */
class RequestLog {
  private at: Float64Array;
  private latency: Float64Array;
  private ok: Uint8Array;
  private next = 0;
  private size = 0;

  constructor(private readonly cap: number) {
    const n = Math.min(cap, 1024);
    this.at = new Float64Array(n);
    this.latency = new Float64Array(n);
    this.ok = new Uint8Array(n);
  }

  push(at: number, ok: boolean, latencyMs: number): void {
    if (this.next === this.at.length && this.at.length < this.cap) this.grow();
    if (this.next === this.cap) this.next = 0;
    this.at[this.next] = at;
    this.latency[this.next] = latencyMs;
    this.ok[this.next] = ok ? 1 : 0;
    this.next++;
    if (this.size < this.cap) this.size++;
  }

  /** The kept outcomes, oldest first. */
  entries(): { at: number; ok: boolean; latencyMs: number }[] {
    const out: { at: number; ok: boolean; latencyMs: number }[] = new Array(this.size);
    const start = this.size < this.cap ? 0 : this.next;
    for (let i = 0; i < this.size; i++) {
      const k = (start + i) % this.cap;
      out[i] = { at: this.at[k]!, ok: this.ok[k] === 1, latencyMs: this.latency[k]! };
    }
    return out;
  }

  private grow(): void {
    const n = Math.min(this.cap, this.at.length * 2);
    const at = new Float64Array(n);
    const latency = new Float64Array(n);
    const ok = new Uint8Array(n);
    at.set(this.at);
    latency.set(this.latency);
    ok.set(this.ok);
    this.at = at;
    this.latency = latency;
    this.ok = ok;
  }
}

/** Total length covered by possibly overlapping [start, end) intervals. */
export function mergedLength(intervals: [number, number][]): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [a, b] of sorted) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else curEnd = Math.max(curEnd, b);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/**
 * Exact latency percentiles of every recorded request: the tracker keeps each outcome anyway,
 * so one sort at report time (a Float64Array: ~80 ms for a million requests) beats a histogram's
 * approximation, and needs no package. Percentile p is the smallest latency that at least p % of
 * requests did not exceed (nearest rank, as HdrHistogram reports it).
 */
export function latencySummary(reqs: readonly { latencyMs: number }[]): AvailabilityReport['latencyMs'] {
  const n = reqs.length;
  if (n === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const xs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += xs[i] = reqs[i]!.latencyMs;
  xs.sort();
  const at = (p: number): number => nearestRank(xs, p);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: xs[n - 1]!, mean: sum / n };
}
