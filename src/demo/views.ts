import type { DemoProcessRole } from './config.js';
import type { FaultRecord } from '../chaos/process-chaos.js';
import type { NetworkFaultRecord } from '../chaos/network-chaos.js';
import type { AvailabilityReport } from '../metrics/availability.js';
import type { HistoryResult } from '../metrics/history.js';
import type { FencingResult } from '../metrics/fencing-check.js';
import type { MaintenanceCheck } from './fencing-log.js';
import type { RingView } from './dashboard.js';
import type { IncidentEvent, LeaderChange } from './incidents.js';

export interface ProcessView {
  name: string;
  role: DemoProcessRole;
  pid: number | null;
  /** passing / critical in the registry; down = not running; paused = SIGSTOPped by the chaos. */
  status: 'passing' | 'critical' | 'down' | 'paused';
  restarts: number;
  port: number;
  /** The node's own /status (items, checkpoint, leader, …), polled every second. */
  detail: Record<string, unknown> | null;
}

/** What `/_steadfast/state` answers and the dashboard draws (tests read the same). */
export interface DemoState {
  now: number;
  startedAt: number | null;
  durationMs: number;
  config: { dbNodes: number; webNodes: number; gateways: number; replicas: number; writeQuorum: number; ratePerSec: number; registry: string; store: string; seed: number; chaos: boolean };
  totals: { requests: number; failed: number; writes: number; acknowledged: number; degradedReads: number; availability: number };
  leader: LeaderChange | null;
  processes: ProcessView[];
  /** The load's client process (not faulted: it is the users), once the run has started it. */
  client: { pid: number | null } | null;
  ring: RingView;
  /** The last 120 seconds, one point per second; p99 by nearest rank. */
  series: { t: number; requests: number; failed: number; p99: number }[];
  /** Faults so far; `t` is seconds since the start. */
  incidents: { id: number; target: string; kind: string; at: number; detectedMs: number | null; restoredMs: number | null; t: number }[];
  failovers: { faultId: number; from: string; to: string; ms: number }[];
  /**
   * Per tier (db, web, gateway): its processes, the faults injected into them and their restarts
   * so far, and the requests it shed at its own door since the start (a gateway: its route
   * limit; a node: its limit, its health and past-deadline drops) as of the last poll.
   */
  tiers: { role: DemoProcessRole; processes: number; faults: number; restarts: number; shed: number }[];
}

export type { LeaderChange } from './incidents.js';

export interface DemoResult {
  config: Record<string, unknown>;
  report: AvailabilityReport;
  history: HistoryResult;
  /** Acknowledged writes that could not be read back at the end: must be 0. */
  lostWrites: number;
  /**
   * The fencing check over every maintenance write the db nodes reported (each node a resource,
   * across its restarts): no write accepted with a token below one the node had accepted, none
   * from two leaders under one token. Absent in older reports.
   */
  fencing?: FencingResult;
  /**
   * Each db node's maintenance record checked as a linearizable register (checkLinearizable)
   * across its restarts: the accepted writes in the nodes' logs and the supervisor's reads of it
   * on every poll. Absent in older reports.
   */
  linearizable?: MaintenanceCheck;
  /** `gaveUp`: why the supervisor left the process down (a crash loop), if it did. */
  processes: { name: string; restarts: number; healthyAtEnd: boolean; gaveUp?: string }[];
  /**
   * Who led the maintenance task, in token order; `staleClaims`: a replica's word that it won,
   * arriving with a token no higher than the leader's then (it was paused before it said so, and
   * lost its lease meanwhile): the db nodes refuse its writes. Absent in older reports.
   */
  leadership: { changes: LeaderChange[]; staleClaims?: LeaderChange[]; failovers: { faultId: number; from: string; to: string; ms: number }[] };
  faults: FaultRecord[];
  /**
   * Where the processes ran ('loopback', or 'namespaces': each its own host on a bridge) and the
   * network faults made (partitions, loss, flaps, skews: what was done to which hosts, and when
   * it was healed). Absent in older reports.
   */
  network?: { hosts: 'loopback' | 'namespaces'; subnet?: string; faults: NetworkFaultRecord[] };
  /** Per fault kind: incidents, how many were detected and how fast, restored, what clients saw. Absent in older reports. */
  byKind?: FaultKindRow[];
  /** With the front option: when the front's health checks marked each web replica down or up. */
  front?: { events: { at: number; server: string; state: 'DOWN' | 'UP' }[] };
  /** The first 100 failed requests: when, what, and how they failed. */
  failures: { at: number; method: string; path: string; status: number | null; error: string | null; body: string | undefined }[];
  /**
   * Reads answered 200 but from fewer than R replicas (`complete: false`): counted as available,
   * and reported here as their own figure, so a degraded answer is not hidden among full ones.
   */
  degradedReads: number;
  /**
   * Retry amplification, hop by hop: the gateways' attempts per request (retries included; all
   * gateways together, kept across their restarts, as of each one's last poll), and
   * the web tier's db requests per db call (R per call by design, plus failovers and hedges) —
   * the latter from the web nodes' own counters, since each one's last start.
   */
  amplification: {
    gateway: { requests: number; attempts: number; retries: number; hedges: number; markedRetries: number; budgetExhausted: number };
    db: { calls: number; requests: number; hedges: number; failovers: number };
  };
  /**
   * What each tier refused at its own door during the measured run (the client sees a shed only
   * when no retry got through): the gateways' route limits (all gateways together), and per tier of nodes what their
   * admission let in, shed past its concurrency limit, shed on the process's own health (event
   * loop, heap) and dropped as already past the caller's deadline. Node figures come from their
   * /status, polled every second and kept across restarts; what a node counted after its last
   * poll before a kill is not in them.
   */
  shedding: SheddingTotals;
  /**
   * CPU time (user + system) over the measured run, per tier (db, web, gateway), for the
   * registry's process or the demo's etcd members (null with an etcd the demo did not start),
   * the supervisor and the load's client process: in all, per request answered or failed
   * (report.requests) and as cores kept busy. Nodes report theirs in /status; the registry's,
   * the etcd members' and the client's are read from /proc. Read when the run starts and when
   * its load ends (waiting up to 3 s for a busy node) and every second between, and kept across
   * restarts.
   */
  cpu: {
    requests: number;
    /** Between the two readings: what `cores` is over. */
    measuredMs: number;
    db: CpuUse;
    web: CpuUse;
    gateway: CpuUse;
    registry: CpuUse | null;
    /** The supervisor: the chaos, the probes, the availability tracker and the dashboard. */
    supervisor: CpuUse;
    /** The load's client process: the load generator, its failover, the write history (absent in a report saved before it was its own process). */
    client?: CpuUse;
  };
  /** The load generator's own lag: how late requests left compared with their schedule. */
  load: {
    sent: number;
    sendLagMs: { p50: number; p99: number; max: number };
    /** What was asked of the system and what it did with it, per second of the run. */
    offeredPerSec: number;
    goodputPerSec: number;
    /** Answered 503/429 (shed by a limit or an overloaded process) — failures, counted in the availability too. */
    shed: number;
    /** Answered 504 (a deadline passed). */
    deadline: number;
    /** Latency of the 2xx answers only. */
    servedMs: { p50: number; p99: number };
    /** The client knows every gateway: tries it sent again to another one, and requests each one answered. */
    failover?: { retries: number; hedges?: number; answeredBy: Record<string, number> };
  };
}

/** One row of the report per fault kind. */
export interface FaultKindRow {
  kind: string;
  incidents: number;
  /** Incidents whose target the registry took out of the healthy set, and the median time that took. */
  detected: number;
  detectMedianMs: number | null;
  /** Incidents whose target was whole again by the end, and the median fault → whole. */
  restored: number;
  restoreMedianMs: number | null;
  /** Requests that failed during these incidents, and incidents a client saw at all. */
  failedRequests: number;
  visible: number;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return Math.round(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
}

/** The report's incidents, grouped by fault kind (in the order the kinds first occurred). */
export function faultsByKind(report: AvailabilityReport): FaultKindRow[] {
  const kinds = [...new Set(report.incidents.map((i) => i.kind))];
  return kinds.map((kind) => {
    const list = report.incidents.filter((i) => i.kind === kind);
    const detected = list.filter((i) => i.timeToDetectMs !== null).map((i) => i.timeToDetectMs!);
    const restored = list.filter((i) => i.timeToRestoreMs !== null).map((i) => i.timeToRestoreMs!);
    return { kind, incidents: list.length, detected: detected.length, detectMedianMs: median(detected), restored: restored.length, restoreMedianMs: median(restored), failedRequests: list.reduce((s, i) => s + i.failedRequests, 0), visible: list.filter((i) => i.failedRequests > 0).length };
  });
}

export interface CpuUse {
  cpuMs: number;
  /** null when no request was measured. */
  perRequestMs: number | null;
  /** cpuMs over the measured run's wall time: 1 is one core kept busy. */
  cores: number;
}

export interface SheddingTotals {
  gateway: number;
  web: { admitted: number; shedByLimit: number; shedByHealth: number; expired: number };
  db: { admitted: number; shedByLimit: number; shedByHealth: number; expired: number };
}

export type DemoEvent =
  | { type: 'started'; gateways: string[]; dashboard: string; registry: string; dataDir: string | undefined }
  | IncidentEvent
  | { type: 'progress'; elapsedMs: number; requests: number; failed: number; availability: number; faults: number; leader: string | undefined }
  | { type: 'phase'; text: string };
