import { cpuMicros } from './config.js';
import type { CpuUse, DemoResult, SheddingTotals } from './views.js';

type AdmissionCounts = SheddingTotals['db'];
/** A node's admission counters and the CPU time (user + system, µs) its process reported. */
type NodeCounts = AdmissionCounts & { cpuMicros: number };

/** The counts of every tier at one moment, and this (the supervisor's) process's CPU time. */
export interface CountsSnapshot {
  /** When it was taken (ms, Date.now()). */
  at: number;
  gatewayShed: number;
  web: NodeCounts;
  db: NodeCounts;
  supervisorMicros: number;
}

/**
 * What the demo's nodes counted — requests admitted and shed, CPU time — from their /status,
 * added up per tier and kept across restarts: a new process counts from 0, so what the old one
 * counted (as of its last poll) is carried over.
 */
export class TierCounters {
  private readonly nodes = new Map<string, { role: 'web' | 'db'; pid: number; base: NodeCounts; last: NodeCounts }>();

  /** One poll of a node's /status (fields it lacks count as 0). */
  record(name: string, role: 'web' | 'db', pid: number, status: Record<string, unknown>): void {
    const admission = typeof status.admission === 'object' && status.admission !== null ? (status.admission as Partial<NodeCounts>) : {};
    const now = pickCounts({ ...admission, cpuMicros: status.cpuMicros as number });
    const seen = this.nodes.get(name);
    if (!seen) return void this.nodes.set(name, { role, pid, base: zeroCounts(), last: now });
    if (pid !== seen.pid) {
      seen.base = addCounts(seen.base, seen.last);
      seen.pid = pid;
    }
    seen.last = now;
  }

  snapshot(gatewayShed: number, at = Date.now()): CountsSnapshot {
    const s: CountsSnapshot = { at, gatewayShed, web: zeroCounts(), db: zeroCounts(), supervisorMicros: cpuMicros() };
    for (const n of this.nodes.values()) s[n.role] = addCounts(s[n.role], addCounts(n.base, n.last));
    return s;
  }
}

/** What was shed and the CPU each tier used between two snapshots, for `requests` measured between them. */
export function countsBetween(start: CountsSnapshot, end: CountsSnapshot, requests: number): { shedding: SheddingTotals; cpu: DemoResult['cpu'] } {
  const web = addCounts(end.web, start.web, -1);
  const db = addCounts(end.db, start.db, -1);
  const ms = Math.max(1, end.at - start.at);
  const use = (micros: number): CpuUse => ({ cpuMs: micros / 1000, perRequestMs: requests > 0 ? micros / 1000 / requests : null, cores: micros / 1000 / ms });
  return {
    shedding: { gateway: end.gatewayShed - start.gatewayShed, web: admissionOnly(web), db: admissionOnly(db) },
    cpu: { requests, measuredMs: ms, db: use(db.cpuMicros), web: use(web.cpuMicros), supervisor: use(end.supervisorMicros - start.supervisorMicros) },
  };
}

function zeroCounts(): NodeCounts {
  return { admitted: 0, shedByLimit: 0, shedByHealth: 0, expired: 0, cpuMicros: 0 };
}

function pickCounts(s: Partial<NodeCounts>): NodeCounts {
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  return { admitted: n(s.admitted), shedByLimit: n(s.shedByLimit), shedByHealth: n(s.shedByHealth), expired: n(s.expired), cpuMicros: n(s.cpuMicros) };
}

function addCounts(a: NodeCounts, b: NodeCounts, sign = 1): NodeCounts {
  return { admitted: a.admitted + sign * b.admitted, shedByLimit: a.shedByLimit + sign * b.shedByLimit, shedByHealth: a.shedByHealth + sign * b.shedByHealth, expired: a.expired + sign * b.expired, cpuMicros: a.cpuMicros + sign * b.cpuMicros };
}

function admissionOnly(c: NodeCounts): AdmissionCounts {
  return { admitted: c.admitted, shedByLimit: c.shedByLimit, shedByHealth: c.shedByHealth, expired: c.expired };
}
